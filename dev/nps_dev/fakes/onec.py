"""Fake 1C:Enterprise standard OData interface (OData v3), as reference/protocols.md §1 describes it.

Serves `/<base>/odata/standard.odata/` from a directory of JSON files, one per entity set (`<Set>.json`, a JSON
array of objects exactly as 1C returns them). Supported: the service document, `$metadata`, `<Set>`,
`<Set>/$count`, `<Set>(guid'…')`, POST / PATCH / DELETE, `…/Post` and `…/Unpost`; `$format=json|application/json`
(without it: Atom XML), `$filter`, `$select` (also `Section/Field` of a tabular section and `Nav/Field` of an
expanded reference), `$orderby`, `$top`, `$skip`, `$expand` (one level: `Контрагент` by `Контрагент_Key`),
`$inlinecount=allpages` (which, as on 1C, ignores `$skip`/`$top`). No server-driven next link: clients page
with `$top`/`$skip`. Basic auth (401), 1C error bodies (`odata.error`, 404 unknown set / key, 400 bad query).

Speed: objects are parsed once at load; a query's filtered + ordered list is cached per (filter, orderby) and
set version, so paging through 200k documents costs one scan plus a slice per page.
"""

from __future__ import annotations

import base64
import logging
import re
import struct
import threading
import uuid
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from nps_dev.fakes import fastjson
from nps_dev.fakes.base import FakeServer, Request, Response, gc_paused, load_json_array
from nps_dev.fakes.odata_filter import EMPTY_DATE, EMPTY_GUID, FilterError, compile_filter, infer_kind

log = logging.getLogger("nps_dev.fakes.onec")

ROOT_SUFFIX = "odata/standard.odata"
KYIV = ZoneInfo("Europe/Kyiv")
_KEY_SEGMENT = re.compile(r"^(?P<set>[^(/]+)\((?P<key>[^)]*)\)(?:/(?P<action>[^/]+))?$")
_GUID_KEY = re.compile(r"^guid'([0-9a-fA-F-]{36})'$")
EDM = {"date": "Edm.DateTime", "guid": "Edm.Guid", "bool": "Edm.Boolean", "number": "Edm.Double",
       "string": "Edm.String", "any": "Edm.String"}


class ODataError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str) -> dict:
    return {"odata.error": {"code": code, "message": {"lang": "ru", "value": message}}}


def data_version(n: int) -> str:
    return base64.b64encode(struct.pack(">II", n, 0)).decode()


class EntitySet:
    """One entity set: rows in load order, a key index, an inferred schema and a per-query cache."""

    def __init__(self, name: str, rows: list[dict]) -> None:
        self.name = name
        # a dict keeps insertion order: iteration is the load order, replace keeps the position, delete is O(1)
        self.by_key: dict = {}
        self.schema: dict[str, str] = {}
        self.sections: dict[str, set[str]] = {}  # tabular section -> its row fields (for `$select=Товары/Цена`)
        self.version = 0
        self.keyed = name.startswith(("Catalog_", "Document_")) or (bool(rows) and "Ref_Key" in rows[0])
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.RLock()
        for row in rows[:2000]:
            self._learn(row)
        for row in rows:
            key = self.key_of(row)
            if key in self.by_key:
                raise ValueError(f"{name}: duplicate key {key}")
            self.by_key[key] = row

    @property
    def rows(self) -> list[dict]:
        return list(self.by_key.values())

    def _learn(self, row: dict) -> None:
        for field, value in row.items():
            if "@" in field:
                continue
            kind = infer_kind(field, value)
            if self.schema.get(field, "any") == "any":
                self.schema[field] = kind
            if kind == "table":
                self.sections.setdefault(field, set()).update(k for r in value if isinstance(r, dict) for k in r)

    def key_of(self, row: dict):
        if self.keyed:
            return (row.get("Ref_Key") or "").lower()
        # information register records: the dimensions (references) and the period identify a record
        return tuple((k, row[k]) for k in sorted(row) if k.endswith("_Key") or k in ("Period", "Recorder"))

    def upsert(self, row: dict) -> None:
        with self._lock:
            self._learn(row)
            self.by_key[self.key_of(row)] = row
            self._changed()

    def delete(self, key) -> bool:
        with self._lock:
            if self.by_key.pop(key, None) is None:
                return False
            self._changed()
            return True

    def get(self, key) -> dict | None:
        return self.by_key.get(key)

    def _changed(self) -> None:
        self.version += 1
        self._cache.clear()

    def query(self, filter_text: str | None, orderby: str | None, view=None, view_key: str = "") -> list[dict]:
        cache_key = (filter_text or "", orderby or "", view_key)
        with self._lock:
            hit = self._cache.get(cache_key)
            if hit is not None:
                self._cache.move_to_end(cache_key)
                return hit
            rows = self.rows if view is None else view(self.rows)
            if filter_text:
                pred = compile_filter(filter_text, self.schema)
                rows = [r for r in rows if pred(r)]
            if orderby:
                rows = list(rows)
                for field, desc in reversed(self.parse_orderby(orderby)):
                    rows.sort(key=_sort_key(field, self.schema[field]), reverse=desc)
            self._cache[cache_key] = rows
            if len(self._cache) > 16:
                self._cache.popitem(last=False)
            return rows

    def parse_orderby(self, text: str) -> list[tuple[str, bool]]:
        out = []
        for part in text.split(","):
            bits = part.split()
            if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
                raise ODataError(400, "6", f"Ошибка при разборе параметра $orderby: {part.strip()}")
            if bits[0] not in self.schema or self.schema[bits[0]] == "table":
                raise ODataError(400, "6", f"Поле объекта не найдено: {bits[0]}")
            out.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
        return out


def _sort_key(field: str, kind: str):
    if kind == "guid":
        return lambda r: (r.get(field) or EMPTY_GUID).lower()
    if kind == "number":
        return lambda r: r.get(field) or 0
    if kind == "bool":
        return lambda r: bool(r.get(field))
    return lambda r: r.get(field) or ""


class OneCFake(FakeServer):
    name = "onec"

    def __init__(self, data_dir: Path | None = None, *, base: str = "demo", user: str = "odata",
                 password: str = "odata", latency: float = 0.0, error_rate: float = 0.0, seed: int = 0) -> None:
        super().__init__(latency=latency, error_rate=error_rate, seed=seed)
        self.base = base.strip("/")
        self.user, self.password = user, password
        self.sets: dict[str, EntitySet] = {}
        self._nav_targets: dict[tuple[str, str], EntitySet] = {}
        self._dv_lock = threading.Lock()
        self._dv = 1_000_000
        self.requests = 0
        self._as_of = None
        # register records that change over time: how they looked before their date (see set_as_of)
        self.as_of_rules = {"InformationRegister_ДоставкаЗаказов": {
            "date_field": "ДатаДоставки", "pending": {"ДатаДоставки": EMPTY_DATE, "Статус": "ВПути"},
            "parent": ("Заказ_Key", "Document_ЗаказКлиента")}}
        if data_dir is not None:
            self.load(Path(data_dir))

    # ---- data -------------------------------------------------------------------------------------------------
    def load(self, directory: Path) -> None:
        if not directory.is_dir():
            raise FileNotFoundError(f"1C fake: data directory {directory} does not exist")
        with gc_paused(freeze=True):
            for path in sorted(directory.glob("*.json")):
                self.sets[path.stem] = EntitySet(path.stem, load_json_array(path))
        log.info("1C fake: %d entity sets from %s", len(self.sets), directory)

    def _set(self, name: str) -> EntitySet:
        if name.endswith("_RecordType") and name not in self.sets:
            name = name[: -len("_RecordType")]
        es = self.sets.get(name)
        if es is None:
            raise ODataError(404, "0", f"Не найден объект {name}")
        return es

    def next_data_version(self) -> str:
        with self._dv_lock:
            self._dv += 1
            return data_version(self._dv)

    def upsert(self, set_name: str, obj: dict) -> dict:
        """Create or replace an object (tests / demo): a fresh `DataVersion`, as every 1C write does."""
        es = self.sets.get(set_name)
        if es is None:
            es = self.sets[set_name] = EntitySet(set_name, [])
        obj = dict(obj)
        if es.keyed:
            obj.setdefault("Ref_Key", str(uuid.uuid4()))
            obj["DataVersion"] = self.next_data_version()
            for section, rows in obj.items():  # tabular rows carry the parent's key
                if isinstance(rows, list):
                    for i, row in enumerate(rows, 1):
                        if isinstance(row, dict):
                            row["Ref_Key"] = obj["Ref_Key"]
                            row.setdefault("LineNumber", str(i))
                    obj[section] = rows
        es.upsert(obj)
        return obj

    def delete(self, set_name: str, key) -> bool:
        """Physically remove an object (by Ref_Key, or by the record dict for a register)."""
        es = self._set(set_name)
        return es.delete(es.key_of(key) if isinstance(key, dict) else str(key).lower())

    def get(self, set_name: str, key: str) -> dict | None:
        return self._set(set_name).get(key.lower())

    def all(self, set_name: str) -> list[dict]:
        return list(self._set(set_name).rows)

    # ---- simulated time ---------------------------------------------------------------------------------------
    def set_as_of(self, value) -> None:
        """Serve the data as it stood at `value` (the demo replays weeks from one generated data set).

        `value`: None (everything), a datetime (aware ones are taken in Europe/Kyiv, as 1C stores local time), an
        ISO string, "clock" (`nps.clock.now()` at each request) or a callable returning a datetime. Documents dated
        later are hidden; register records follow `as_of_rules` (a delivery recorded later looks in transit, a
        delivery of an order not yet placed is hidden).
        """
        self._as_of = value

    def _cutoff(self) -> str | None:
        value = self._as_of
        if value is None:
            return None
        if value == "clock":
            from nps import clock

            value = clock.now()
        elif callable(value):
            value = value()
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(KYIV).replace(tzinfo=None)
            return value.replace(microsecond=0).isoformat()
        return str(value)

    def _view(self, es: EntitySet) -> tuple:
        cut = self._cutoff()
        if cut is None:
            return None, ""
        if es.name.startswith("Document_"):
            return (lambda rows: [r for r in rows if (r.get("Date") or "") <= cut]), cut
        rule = self.as_of_rules.get(es.name)
        if rule is None:
            return None, ""
        date_field, pending = rule["date_field"], rule["pending"]
        parent_field, parent_set = rule.get("parent", (None, None))
        parents = self.sets.get(parent_set) if parent_set else None

        def view(rows):
            out = []
            for r in rows:
                if parents is not None:
                    parent = parents.get((r.get(parent_field) or "").lower())
                    if parent is None or (parent.get("Date") or "") > cut:
                        continue
                out.append({**r, **pending} if (r.get(date_field) or "") > cut else r)
            return out

        return view, cut

    # ---- HTTP -------------------------------------------------------------------------------------------------
    @property
    def service_root(self) -> str:
        return f"{self.base_url}/{self.base}/{ROOT_SUFFIX}/"

    def fault_response(self, req: Request) -> Response:
        return Response.json(error_body("-1", "Произошла внутренняя ошибка OData сервиса. Дополнительные сведения "
                                              "можно найти в технологическом журнале."), 500)

    def _authorized(self, req: Request) -> bool:
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
        except ValueError:
            return False
        return user == self.user and password == self.password

    def handle(self, req: Request) -> Response:
        self.requests += 1
        prefix = f"/{self.base}/{ROOT_SUFFIX}"
        if not (req.path == prefix or req.path.startswith(prefix + "/")):
            return Response.text("<html><body><h1>404 Not Found</h1></body></html>", 404, "text/html")
        if not self._authorized(req):
            resp = Response.text("<html><body><h1>401 Unauthorized</h1></body></html>", 401, "text/html")
            resp.headers["WWW-Authenticate"] = 'Basic realm="1C:Enterprise"'
            return resp
        params = dict(parse_qsl(req.query, keep_blank_values=True))
        host = req.headers.get("host", f"127.0.0.1:{self.port}")
        root = f"http://{host}{prefix}/"
        fmt = params.get("$format", "")
        as_json = fmt in ("json", "application/json") or (
            not fmt and "application/json" in req.headers.get("accept", ""))
        if fmt and fmt not in ("json", "application/json", "xml", "atom", "application/atom+xml"):
            return self._error(ODataError(400, "6", f"Неверный формат: {fmt}"), as_json=True)
        try:
            return self._route(req, req.path[len(prefix):].strip("/"), params, root, as_json)
        except ODataError as exc:
            return self._error(exc, as_json)
        except FilterError as exc:
            return self._error(ODataError(400, "6", f"Ошибка при разборе выражения отбора: {exc}"), as_json)

    def _error(self, exc: ODataError, as_json: bool) -> Response:
        if as_json:
            return Response.json(error_body(exc.code, exc.message), exc.status)
        xml = ('<?xml version="1.0" encoding="utf-8"?><m:error xmlns:m="http://schemas.microsoft.com/ado/2007/08/'
               f'dataservices/metadata"><m:code>{exc.code}</m:code><m:message xml:lang="ru">'
               f'{escape(exc.message)}</m:message></m:error>')
        return Response.text(xml, exc.status, "application/xml; charset=utf-8")

    def _route(self, req: Request, resource: str, params: dict, root: str, as_json: bool) -> Response:
        if resource == "":
            return self._service_document(root, as_json)
        if resource == "$metadata":
            return Response.text(self._metadata(), 200, "application/xml; charset=utf-8")
        m = _KEY_SEGMENT.match(resource)
        if m:
            return self._entity(req, m.group("set"), m.group("key"), m.group("action"), params, root, as_json)
        name, _, tail = resource.partition("/")
        if tail == "$count":
            es = self._set(name)
            return Response.text(str(len(es.query(params.get("$filter"), None, *self._view(es)))))
        if tail:
            raise ODataError(400, "6", f"Сегмент не найден: {tail}")
        if req.method == "POST":
            return self._create(req, name, root)
        if req.method != "GET":
            raise ODataError(405, "6", f"Метод {req.method} не поддерживается для {name}")
        return self._list(self._set(name), params, root, as_json)

    def _page_params(self, params: dict) -> tuple[int, int | None]:
        try:
            skip = int(params.get("$skip") or 0)
            top = int(params["$top"]) if params.get("$top") not in (None, "") else None
        except ValueError as exc:
            raise ODataError(400, "6", f"Неверное значение параметра $top/$skip: {exc}") from exc
        if skip < 0 or (top is not None and top < 0):
            raise ODataError(400, "6", "Неверное значение параметра $top/$skip")
        return skip, top

    def _select(self, es: EntitySet, params: dict, expand: list[str]) -> dict[str, list[str] | None] | None:
        """`$select` as {field: None (whole) or [sub-fields]}; a path goes into a tabular section or an expanded
        reference, as 1C OData does (`Товары/Количество`, `Контрагент/Code` with `$expand=Контрагент`)."""
        text = params.get("$select")
        if not text or text.strip() == "*":
            return None
        select: dict[str, list[str] | None] = {}
        for raw in text.split(","):
            path = raw.strip()
            name, _, sub = path.partition("/")
            if name in expand:
                target = self._nav_target(es, name)
                known = not sub or target is None or sub in target.schema  # no filled reference: nothing to check
            elif es.schema.get(name) == "table":
                known = not sub or sub in es.sections.get(name, ())
            else:
                known = name in es.schema and not sub
            if not known:
                raise ODataError(400, "6", f"Поле объекта не найдено: {path}")
            if not sub or (name in select and select[name] is None):  # the whole field wins over its parts
                select[name] = None
            elif sub not in select.setdefault(name, []):
                select[name].append(sub)
        return select

    def _expand(self, es: EntitySet, params: dict) -> list[str]:
        text = params.get("$expand")
        if not text:
            return []
        names = [n.strip() for n in text.split(",") if n.strip()]
        for n in names:
            if f"{n}_Key" not in es.schema:
                raise ODataError(400, "6", f"Свойство навигации не найдено: {n}")
        return names

    def _nav_target(self, es: EntitySet, nav: str) -> EntitySet | None:
        """The set `<nav>_Key` points into: 1C knows it from the configuration, the fake from a filled reference."""
        hit = self._nav_targets.get((es.name, nav))
        if hit is None:
            key = next((k for r in es.rows if (k := (r.get(f"{nav}_Key") or "").lower()) and k != EMPTY_GUID), None)
            hit = next((t for t in self.sets.values() if t.keyed and key in t.by_key), None) if key else None
            if hit is not None:
                self._nav_targets[(es.name, nav)] = hit
        return hit

    def _ref(self, es: EntitySet, nav: str, row: dict) -> dict | None:
        """The object a reference names, or None for the empty reference."""
        target = self._nav_target(es, nav)
        return None if target is None else target.get((row.get(f"{nav}_Key") or "").lower())

    def _shape(self, es: EntitySet, row: dict, select, expand: list[str]) -> dict:
        if select is None:
            out = dict(row) if expand else row
        else:
            out = {}
            for name, subs in select.items():
                if name in expand or name not in row:
                    continue
                out[name] = row[name] if subs is None else [{s: r[s] for s in subs if s in r} for r in row[name]]
        for nav in expand:  # an expanded reference comes inline even when `$select` does not name it
            target = self._ref(es, nav, row)
            subs = select.get(nav) if select is not None else None
            out[nav] = target if target is None or subs is None else {s: target[s] for s in subs if s in target}
        return out

    def _list(self, es: EntitySet, params: dict, root: str, as_json: bool) -> Response:
        expand = self._expand(es, params)
        select = self._select(es, params, expand)
        rows = es.query(params.get("$filter"), params.get("$orderby"), *self._view(es))
        inline = params.get("$inlinecount") == "allpages"
        if inline:  # 1C ignores $skip/$top together with $inlinecount
            page = rows
        else:
            skip, top = self._page_params(params)
            page = rows[skip: skip + top if top is not None else None]
        values = [self._shape(es, r, select, expand) for r in page]
        if not as_json:
            return Response.text(self._atom_feed(es.name, values, root), 200,
                                 "application/atom+xml;type=feed; charset=utf-8")
        head = {"odata.metadata": f"{root}$metadata#{es.name}"}
        if inline:
            head["odata.count"] = str(len(rows))
        body = fastjson.dumps({**head, "value": values})
        return Response(200, body, {"Content-Type": "application/json;odata=minimalmetadata; charset=utf-8",
                                    "DataServiceVersion": "3.0"})

    def _entity(self, req: Request, name: str, key_text: str, action: str | None, params: dict, root: str,
                as_json: bool) -> Response:
        es = self._set(name)
        m = _GUID_KEY.match(key_text.strip())
        if not es.keyed or not m:
            raise ODataError(400, "6", f"Неверный ключ: {key_text}")
        key = m.group(1).lower()
        row = es.get(key)
        cut = self._cutoff()
        if row is None or (cut and es.name.startswith("Document_") and (row.get("Date") or "") > cut):
            raise ODataError(404, "9", "Экземпляр сущности не найден")
        if action in ("Post", "Unpost"):
            if req.method != "POST":
                raise ODataError(405, "6", f"Метод {req.method} не поддерживается")
            self.upsert(name, {**row, "Posted": action == "Post"})
            return Response(200, b"", {})
        if action:
            nav = self._ref(es, action, row) if f"{action}_Key" in row else None
            if nav is None:
                raise ODataError(400, "6", f"Сегмент не найден: {action}")
            return Response.json({"odata.metadata": f"{root}$metadata", **nav})
        if req.method == "GET":
            expand = self._expand(es, params)
            return Response.json(self._shape(es, row, self._select(es, params, expand), expand))
        if req.method == "PATCH":
            patch = req.json() or {}
            if not isinstance(patch, dict):
                raise ODataError(400, "6", "Неверное тело запроса")
            return Response.json(self.upsert(name, {**row, **patch, "Ref_Key": row["Ref_Key"]}))
        if req.method == "DELETE":
            es.delete(key)
            return Response(204, b"", {})
        raise ODataError(405, "6", f"Метод {req.method} не поддерживается")

    def _create(self, req: Request, name: str, root: str) -> Response:
        for parent in self.sets:
            if name.startswith(parent + "_") and name not in self.sets:
                raise ODataError(400, "13", "Cоздание строк табличной части напрямую не поддерживается")
        self._set(name)
        try:
            obj = req.json()
        except ValueError as exc:
            raise ODataError(400, "6", f"Неверное тело запроса: {exc}") from exc
        if not isinstance(obj, dict):
            raise ODataError(400, "6", "Неверное тело запроса")
        obj.setdefault("DeletionMark", False)
        return Response.json({"odata.metadata": f"{root}$metadata#{name}/@Element", **self.upsert(name, obj)}, 201)

    # ---- XML forms --------------------------------------------------------------------------------------------
    def _service_document(self, root: str, as_json: bool) -> Response:
        if as_json:
            return Response.json({"odata.metadata": f"{root}$metadata",
                                  "value": [{"name": n, "url": n} for n in sorted(self.sets)]})
        cols = "".join(f'<collection href="{escape(n)}"><atom:title>{escape(n)}</atom:title></collection>'
                       for n in sorted(self.sets))
        xml = ('<?xml version="1.0" encoding="utf-8"?><service xmlns="http://www.w3.org/2007/app" '
               f'xmlns:atom="http://www.w3.org/2005/Atom" xml:base="{escape(root)}"><workspace>'
               f'<atom:title>Default</atom:title>{cols}</workspace></service>')
        return Response.text(xml, 200, "application/atomsvc+xml; charset=utf-8")

    def _metadata(self) -> str:
        types = []
        sets = []
        for name, es in sorted(self.sets.items()):
            props = "".join(f'<Property Name="{escape(f)}" Type="{EDM.get(k, "Edm.String")}" Nullable="true"/>'
                            for f, k in es.schema.items() if k != "table")
            key = '<Key><PropertyRef Name="Ref_Key"/></Key>' if es.keyed else ""
            types.append(f'<EntityType Name="{escape(name)}">{key}{props}</EntityType>')
            sets.append(f'<EntitySet Name="{escape(name)}" EntityType="StandardODATA.{escape(name)}"/>')
        return ('<?xml version="1.0" encoding="UTF-8"?><edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/'
                '2007/06/edmx" Version="1.0"><edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/'
                'dataservices/metadata" m:DataServiceVersion="3.0"><Schema xmlns="http://schemas.microsoft.com/ado/'
                '2009/11/edm" Namespace="StandardODATA">' + "".join(types)
                + '<EntityContainer Name="EnterpriseV8" m:IsDefaultEntityContainer="true">' + "".join(sets)
                + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")

    def _atom_feed(self, name: str, values: list[dict], root: str) -> str:
        def props(obj: dict) -> str:
            out = []
            for k, v in obj.items():
                if "@" in k:
                    continue
                if isinstance(v, list):
                    inner = "".join(f"<d:element>{props(x)}</d:element>" for x in v if isinstance(x, dict))
                    out.append(f"<d:{k}>{inner}</d:{k}>")
                elif isinstance(v, dict) or v is None:
                    out.append(f'<d:{k} m:null="true"/>')
                else:
                    text = ("true" if v else "false") if isinstance(v, bool) else str(v)
                    out.append(f"<d:{k}>{escape(text)}</d:{k}>")
            return "".join(out)

        entries = "".join(f"<entry><category term=\"StandardODATA.{escape(name)}\"/><content type=\"application/xml\">"
                          f"<m:properties>{props(v)}</m:properties></content></entry>" for v in values)
        return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
                'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
                'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
                f'xml:base="{escape(root)}"><title type="text">{escape(name)}</title>{entries}</feed>')


__all__ = ["EMPTY_DATE", "EMPTY_GUID", "OneCFake", "error_body"]
