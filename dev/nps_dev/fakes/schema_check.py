"""A compiled yes/no check for the JSON Schema subset of SendGrid's mail schema: the fake's fast path.

`compile_check(schema)` turns a draft 2020-12 schema into nested closures once; for every JSON document the
closure answers exactly what `Draft202012Validator(schema, format_checker=FormatChecker()).is_valid(doc)` answers
(tests/test_fakes_sendgrid.py compares the two on thousands of mutated bodies), about 20 times faster: `jsonschema`
re-interprets the schema and resolves `$ref`s for every one of the 1000 personalizations of a request. A keyword the
compiler does not know makes it refuse the schema (`UnsupportedSchema`) rather than accept more than the schema
does. The fake asks `jsonschema` itself only about a body that fails, to word its errors as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonschema._utils import uniq  # private, but the lock pins jsonschema: the very rule `uniqueItems` applies

Check = Callable[[Any], bool]

# Keywords that only annotate: they never make a document invalid.
ANNOTATIONS = frozenset({"title", "description", "default", "examples", "example", "deprecated", "readOnly",
                         "writeOnly", "$comment", "$schema", "$id", "components"})


class UnsupportedSchema(ValueError):
    """The schema uses a keyword (or a form of one) this compiler does not implement."""


def _integer(v: Any) -> bool:
    return not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))


# jsonschema's draft 2020-12 type checker: booleans are not numbers, 1.0 is an integer
TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": _integer,
    "number": lambda v: not isinstance(v, bool) and isinstance(v, int | float),
}


def _resolve(root: dict, ref: str) -> Any:
    if not ref.startswith("#/"):
        raise UnsupportedSchema(f"only local $refs are supported, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def compile_check(schema: dict, root: dict | None = None) -> Check:
    """The yes/no check of `schema`; `$ref`s resolve against `root` (default: the schema itself)."""
    return _compile(schema, schema if root is None else root, ())


def _compile(node: Any, root: dict, refs: tuple[str, ...]) -> Check:
    if node is True:
        return lambda value: True
    if node is False:
        return lambda value: False
    if not isinstance(node, dict):
        raise UnsupportedSchema(f"a schema must be an object or a boolean, got {node!r}")
    checks: list[Check] = []
    for key, arg in node.items():
        if key in ANNOTATIONS or key in ("properties", "additionalProperties"):
            continue  # annotations; the two object keywords are compiled together below
        if key == "$ref":
            if arg in refs:
                raise UnsupportedSchema(f"recursive $ref {arg!r}")
            checks.append(_compile(_resolve(root, arg), root, (*refs, arg)))
        elif key == "type":
            names = tuple(arg) if isinstance(arg, list) else (arg,)
            unknown = [n for n in names if n not in TYPES]
            if unknown:
                raise UnsupportedSchema(f"unknown type {unknown}")
            if len(names) == 1:
                checks.append(TYPES[names[0]])
            else:
                checks.append(lambda v, preds=tuple(TYPES[n] for n in names): any(p(v) for p in preds))
        elif key == "required":
            checks.append(lambda v, req=tuple(arg): not isinstance(v, dict) or all(k in v for k in req))
        elif key == "items":
            if "prefixItems" in node:
                raise UnsupportedSchema("prefixItems")
            item = _compile(arg, root, refs)

            def items(v, item=item) -> bool:
                if isinstance(v, list):
                    for e in v:
                        if not item(e):
                            return False
                return True

            checks.append(items)
        elif key in ("maxItems", "minItems", "maxProperties", "minProperties", "maxLength", "minLength"):
            kind = {"Items": list, "Properties": dict, "Length": str}[key[3:]]
            if key.startswith("max"):
                checks.append(lambda v, n=arg, t=kind: not isinstance(v, t) or len(v) <= n)
            else:
                checks.append(lambda v, n=arg, t=kind: not isinstance(v, t) or len(v) >= n)
        elif key == "uniqueItems":
            if arg:  # jsonschema's own helper: its equality rules (1 vs true vs 1.0) exactly
                checks.append(lambda v: not isinstance(v, list) or uniq(v))
        elif key == "format":
            if arg != "email":
                raise UnsupportedSchema(f"format {arg!r}")
            checks.append(lambda v: not isinstance(v, str) or "@" in v)  # jsonschema's own email check
        elif key == "enum":
            if not all(isinstance(e, str) for e in arg):
                raise UnsupportedSchema("enum of non-strings")
            checks.append(lambda v, allowed=frozenset(arg): isinstance(v, str) and v in allowed)
        else:
            raise UnsupportedSchema(f"keyword {key!r}")
    if "properties" in node or "additionalProperties" in node:
        if "patternProperties" in node:
            raise UnsupportedSchema("patternProperties")
        props = {k: _compile(v, root, refs) for k, v in (node.get("properties") or {}).items()}
        extra = _compile(node["additionalProperties"], root, refs) if "additionalProperties" in node else None

        def objects(v, props=props, extra=extra) -> bool:
            if not isinstance(v, dict):
                return True
            for k, item in v.items():
                check = props.get(k, extra)
                if check is not None and not check(item):
                    return False
            return True

        checks.append(objects)
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]

    def every(value, checks=tuple(checks)) -> bool:
        for check in checks:
            if not check(value):
                return False
        return True

    return every
