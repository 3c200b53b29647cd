"""OData v3 `$filter` as 1C understands it: parsed once into a Python predicate.

Grammar: or / and / not, comparisons eq ne gt ge lt le, arithmetic add sub mul div, parentheses, functions
substringof / startswith / endswith / tolower / toupper / year / month / day, literals `datetime'…'`, `guid'…'`,
`'str'` ('' escapes a quote), numbers, true / false / null. Fields are checked against the entity set's schema:
an unknown field or a literal of the wrong kind (a date compared with a string, a reference with a non-guid)
is a parse error, as on a real 1C.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class FilterError(ValueError):
    pass


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<typed>(?:datetime|guid|datetimeoffset|time|X|binary)'(?:[^']|'')*')
    | (?P<str>'(?:[^']|'')*')
    | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
    | (?P<lp>\() | (?P<rp>\)) | (?P<comma>,)
    | (?P<name>[^\s(),']+)
    )""", re.VERBOSE)

CMP = {"eq", "ne", "gt", "ge", "lt", "le"}
ARITH = {"add", "sub", "mul", "div", "mod"}


def tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"unexpected character at {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


# Field kinds inferred from data: 'date', 'guid', 'bool', 'number', 'string', 'table' (tabular section), 'any'
def infer_kind(name: str, value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "table"
    if isinstance(value, str):
        if name.endswith("_Key") or name == "Ref_Key":
            return "guid"
        if DATE_RE.match(value):
            return "date"
        return "string"
    return "any"


class _Lit:
    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value) -> None:
        self.kind, self.value = kind, value


def _parse_literal(kind: str, text: str) -> _Lit:
    if kind == "str":
        return _Lit("string", text[1:-1].replace("''", "'"))
    if kind == "num":
        raw = text.rstrip("mMdDfFlL")
        return _Lit("number", float(raw) if any(c in raw for c in ".eE") else int(raw))
    prefix, _, rest = text.partition("'")
    value = rest[:-1]
    if prefix == "guid":
        if not GUID_RE.match(value):
            raise FilterError(f"malformed guid literal {text}")
        return _Lit("guid", value.lower())
    if prefix in ("datetime", "datetimeoffset"):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError as exc:
            raise FilterError(f"malformed datetime literal {text}") from exc
        return _Lit("date", dt.replace(tzinfo=None, microsecond=0).isoformat(timespec="seconds"))
    raise FilterError(f"unsupported literal {text}")


class Parser:
    def __init__(self, text: str, schema: dict[str, str]) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.schema = schema

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise FilterError("unexpected end of expression")
        self.i += 1
        return tok

    def word(self) -> str | None:
        tok = self.peek()
        return tok[1] if tok and tok[0] == "name" else None

    def parse(self) -> Callable[[dict], bool]:
        fn, kind = self.or_expr()
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.peek()[1]!r}")
        if kind != "bool":
            raise FilterError("filter expression is not boolean")
        return lambda obj: fn(obj) is True

    def or_expr(self):
        left, kind = self.and_expr()
        while self.word() == "or":
            self.take()
            right, rkind = self.and_expr()
            _need_bool(kind, rkind)
            left = (lambda a, b: lambda o: bool(a(o)) or bool(b(o)))(left, right)
        return left, kind

    def and_expr(self):
        left, kind = self.not_expr()
        while self.word() == "and":
            self.take()
            right, rkind = self.not_expr()
            _need_bool(kind, rkind)
            left = (lambda a, b: lambda o: bool(a(o)) and bool(b(o)))(left, right)
        return left, kind

    def not_expr(self):
        if self.word() == "not":
            self.take()
            fn, kind = self.not_expr()
            _need_bool(kind, "bool")
            return (lambda o: not fn(o)), "bool"
        return self.cmp_expr()

    def cmp_expr(self):
        left, lkind = self.arith()
        w = self.word()
        if w in CMP:
            self.take()
            right, rkind = self.arith()
            return _compare(w, left, lkind, right, rkind), "bool"
        return left, lkind

    def arith(self):
        left, kind = self.primary()
        while self.word() in ARITH:
            op = self.take()[1]
            right, rkind = self.primary()
            if kind != "number" or rkind != "number":
                raise FilterError(f"operator {op} needs numbers")
            left = _arith(op, left, right)
        return left, kind

    def primary(self):
        kind, text = self.take()
        if kind == "lp":
            fn, k = self.or_expr()
            if self.take()[0] != "rp":
                raise FilterError("missing ')'")
            return fn, k
        if kind in ("str", "num", "typed"):
            lit = _parse_literal(kind, text)
            value = lit.value
            return (lambda o: value), lit.kind
        if kind != "name":
            raise FilterError(f"unexpected {text!r}")
        if text in ("true", "false"):
            value = text == "true"
            return (lambda o: value), "bool"
        if text == "null":
            return (lambda o: None), "null"
        nxt = self.peek()
        if nxt and nxt[0] == "lp":
            return self.function(text)
        return self.field(text)

    def field(self, name: str):
        if name not in self.schema:
            raise FilterError(f"Поле объекта не найдено: {name}")
        kind = self.schema[name]
        if kind == "table":
            raise FilterError(f"tabular section {name} cannot be compared")
        if kind == "guid":
            return (lambda o: (o.get(name) or "").lower()), kind
        return (lambda o: o.get(name)), kind

    def function(self, fname: str):
        self.take()  # (
        args = []
        if self.peek() and self.peek()[0] != "rp":
            args.append(self.or_expr())
            while self.peek() and self.peek()[0] == "comma":
                self.take()
                args.append(self.or_expr())
        if self.take()[0] != "rp":
            raise FilterError("missing ')'")
        fns = [a[0] for a in args]
        kinds = [a[1] for a in args]

        def need(n: int, *expected: str):
            if len(args) != n or any(e != "any" and k not in (e, "any") for k, e in zip(kinds, expected, strict=True)):
                raise FilterError(f"Метод не найден: {fname} with these arguments")

        if fname == "substringof":
            need(2, "string", "string")
            return (lambda o: (fns[0](o) or "") in (fns[1](o) or "")), "bool"
        if fname in ("startswith", "endswith"):
            need(2, "string", "string")
            if fname == "startswith":
                return (lambda o: (fns[0](o) or "").startswith(fns[1](o) or "")), "bool"
            return (lambda o: (fns[0](o) or "").endswith(fns[1](o) or "")), "bool"
        if fname in ("tolower", "toupper"):
            need(1, "string")
            return ((lambda o: (fns[0](o) or "").lower()) if fname == "tolower"
                    else (lambda o: (fns[0](o) or "").upper())), "string"
        if fname in ("year", "month", "day", "hour"):
            need(1, "date")
            sl = {"year": slice(0, 4), "month": slice(5, 7), "day": slice(8, 10), "hour": slice(11, 13)}[fname]
            return (lambda o: int((fns[0](o) or EMPTY_DATE)[sl])), "number"
        raise FilterError(f"Метод не найден: {fname}")


def _need_bool(a: str, b: str) -> None:
    if a != "bool" or b != "bool":
        raise FilterError("and/or/not need boolean operands")


def _compatible(a: str, b: str) -> bool:
    return a == b or "null" in (a, b) or "any" in (a, b)


def _compare(op: str, left, lkind: str, right, rkind: str):
    if not _compatible(lkind, rkind):
        raise FilterError(f"Несовместимые типы в выражении отбора: {lkind} {op} {rkind}")
    if op in ("eq", "ne"):
        if op == "eq":
            return lambda o: left(o) == right(o)
        return lambda o: left(o) != right(o)
    import operator

    pyop = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}[op]

    def cmp(o):
        a, b = left(o), right(o)
        if a is None or b is None:
            return False
        return pyop(a, b)

    return cmp


def _arith(op: str, left, right):
    import operator

    fn = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
          "mod": operator.mod}[op]

    def run(o):
        a, b = left(o), right(o)
        if a is None or b is None:
            return None
        try:
            return fn(a, b)
        except ZeroDivisionError:
            return None

    return run


def compile_filter(text: str, schema: dict[str, str]) -> Callable[[dict], bool]:
    return Parser(text, schema).parse()
