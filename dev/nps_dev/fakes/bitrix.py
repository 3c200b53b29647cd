"""Fake Bitrix24 incoming-webhook REST API, as reference/protocols.md §2.1 describes it.

`/rest/<user>/<code>/<method>[.json]`, GET (query string, PHP brackets) or POST (JSON or form). Methods:
`crm.contact.list|get`, `crm.company.list|get`, `crm.deal.list|get`, `user.get`, `tasks.task.add|get|update|list`,
`batch` (≤50 commands, `$result[name][i][FIELD]` references, also percent-encoded). Method names match
case-insensitively (`crm.contact.List`), as on a portal. Lists: fixed 50-row pages with `next` / `total`,
`start=-1` (no count), `filter` prefixes `>= > <= < = ! != @ !@ % =% %=`, `order`, `select` (`*`, `UF_*`; the
multi-fields PHONE / EMAIL / WEB / IM only when named, as on the real portal). Values are strings. A leaky bucket
(drain 2/s, capacity 50 by default) answers 503 `QUERY_LIMIT_EXCEEDED`; a method whose run time in the last
10 minutes reached `operating_limit` (480 s) answers 429 `OPERATION_TIME_LIMIT`; a wrong webhook code 401
`NO_AUTH_FOUND`.

Data: `<dir>/crm.contact.json`, `crm.company.json`, `crm.deal.json`, `user.json` (JSON arrays as Bitrix24 returns
the objects).
"""

from __future__ import annotations

import bisect
import collections
import json
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from nps_dev.fakes.base import FakeServer, Request, Response, load_json_array

PAGE = 50
ENTITIES = ("crm.contact", "crm.company", "crm.deal", "user")
MULTI_FIELDS = ("PHONE", "EMAIL", "WEB", "IM")
_PREFIXES = (">=", "<=", "!@", "!=", "=%", "%=", ">", "<", "@", "%", "=", "!")
_RESULT_REF = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")
KYIV = ZoneInfo("Europe/Kyiv")


class BitrixError(Exception):
    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


def parse_php_query(pairs: list[tuple[str, str]]) -> dict:
    """`filter[>ID]=5&select[]=ID&order[ID]=ASC` -> {"filter": {">ID": "5"}, "select": ["ID"], ...}."""
    out: dict = {}
    for key, value in pairs:
        m = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", key)
        if not m:
            out[key] = value
            continue
        path = [m.group(1)] + re.findall(r"\[([^\]]*)\]", m.group(2))
        node = out
        for i, part in enumerate(path):
            last = i == len(path) - 1
            nxt_is_list = not last and path[i + 1] == ""
            if isinstance(node, list):
                if last:
                    node.append(value)
                else:
                    node.append([] if nxt_is_list else {})
                    node = node[-1]
                continue
            if last:
                node[part] = value
            else:
                if part not in node or not isinstance(node[part], dict | list):
                    node[part] = [] if nxt_is_list else {}
                node = node[part]
    return out


def _as_datetime(value) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10 or value[4] != "-":
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=KYIV)


def _num(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _cmp_values(a, b):
    """Compare like Bitrix: dates as dates, numbers as numbers, otherwise strings. Returns -1/0/1 or None."""
    da, db = _as_datetime(a), _as_datetime(b)
    if da is not None and db is not None:
        return (da > db) - (da < db)
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        return (na > nb) - (na < nb)
    if a is None or b is None:
        return None
    sa, sb = str(a), str(b)
    return (sa > sb) - (sa < sb)


def _eq(a, b) -> bool:
    if isinstance(a, list):  # multi-field (EMAIL/PHONE): match any VALUE
        return any(_eq(x.get("VALUE") if isinstance(x, dict) else x, b) for x in a)
    if isinstance(a, bool) or isinstance(b, bool):  # booleans: true / "Y" / "1" / "true" are all true
        truthy = (True, "Y", "1", 1, "true", "True")
        return (a in truthy) == (b in truthy)
    if a is None or a == "":
        return b in (None, "", False, "0") if not isinstance(b, bool) else b is False
    return _cmp_values(a, b) == 0


def build_filter(filt) -> list:
    if filt in (None, "", []):
        return []
    if not isinstance(filt, dict):
        raise BitrixError(400, "", "Parameter 'filter' must be array.")
    preds = []
    for raw_key, value in filt.items():
        op = next((p for p in _PREFIXES if raw_key.startswith(p)), "=")
        field = raw_key[len(op):] if raw_key.startswith(op) else raw_key
        preds.append(_pred(op, field, value))
    return preds


def _pred(op: str, field: str, value):
    def get(o):
        return o.get(field)

    if op in ("@", "!@"):
        values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]

        def inside(o):
            return any(_eq(get(o), v) for v in values)

        return inside if op == "@" else (lambda o: not inside(o))
    if op == "=":
        if isinstance(value, list):
            return lambda o: any(_eq(get(o), v) for v in value)
        return lambda o: _eq(get(o), value)
    if op in ("!", "!="):
        if isinstance(value, list):
            return lambda o: not any(_eq(get(o), v) for v in value)
        return lambda o: not _eq(get(o), value)
    if op in ("%", "=%", "%="):
        needle = str(value).lower()
        if op == "%":
            return lambda o: needle in str(get(o) or "").lower()
        pattern = re.compile("^" + re.escape(needle).replace("%", ".*") + "$", re.S)
        return lambda o: bool(pattern.match(str(get(o) or "").lower()))
    want = {">": (1,), ">=": (0, 1), "<": (-1,), "<=": (-1, 0)}[op]
    return lambda o: _cmp_values(get(o), value) in want


def _stringify(value):
    """Bitrix24 returns scalars as strings (booleans as "Y"/"N" in CRM), lists and objects keep their shape."""
    if value is None or isinstance(value, str | list | dict):
        return value
    if isinstance(value, bool):
        return "Y" if value else "N"
    return str(value)


class Bitrix24Fake(FakeServer):
    name = "bitrix24"

    def __init__(self, data_dir: Path | None = None, *, user: str = "1", code: str = "demo", rate: float = 2.0,
                 burst: int = 50, operating_limit: float = 480.0, latency: float = 0.0, error_rate: float = 0.0,
                 seed: int = 0) -> None:
        super().__init__(latency=latency, error_rate=error_rate, seed=seed)
        self.user, self.code = str(user), code
        self.rate, self.burst = float(rate), int(burst)
        # method time budget: seconds of run time per method within a sliding 10 minutes (429 OPERATION_TIME_LIMIT)
        self.operating_limit = float(operating_limit)
        self._operating: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.entities: dict[str, dict[str, dict]] = {e: {} for e in ENTITIES}
        self.tasks: dict[str, dict] = {}
        self._lock = threading.RLock()
        self._bucket_level = 0.0
        self._bucket_at = time.monotonic()
        self._next_id: dict[str, int] = {}
        self._versions: dict[str, int] = {}
        self._cache: dict = {}
        self.requests = 0
        self.throttled = 0
        if data_dir is not None:
            self.load(Path(data_dir))

    # ---- data -------------------------------------------------------------------------------------------------
    def load(self, directory: Path) -> None:
        if not directory.is_dir():
            raise FileNotFoundError(f"Bitrix24 fake: data directory {directory} does not exist")
        for entity in ENTITIES:
            path = directory / f"{entity}.json"
            if path.exists():
                for obj in load_json_array(path):
                    self.entities[entity][str(obj["ID"])] = obj
        tasks = directory / "tasks.task.json"
        if tasks.exists():
            for obj in load_json_array(tasks):
                self.tasks[str(obj["id"])] = obj

    def _new_id(self, bucket: str, existing) -> str:
        with self._lock:
            start = self._next_id.get(bucket) or max((int(k) for k in existing if str(k).isdigit()), default=0) + 1
            self._next_id[bucket] = start + 1
            return str(start)

    def upsert(self, entity: str, obj: dict) -> dict:
        """Create or replace a CRM object (tests / demo). A missing ID is assigned; DATE_MODIFY defaults to now."""
        if entity not in self.entities:
            raise ValueError(f"unknown entity {entity!r}; one of {ENTITIES}")
        obj = {k: _stringify(v) for k, v in obj.items()}
        with self._lock:
            if not obj.get("ID"):
                obj["ID"] = self._new_id(entity, self.entities[entity])
            if entity != "user" and "DATE_MODIFY" not in obj:
                obj["DATE_MODIFY"] = _now_iso()
            self.entities[entity][str(obj["ID"])] = obj
            self._versions[entity] = self._versions.get(entity, 0) + 1
        return obj

    def delete(self, entity: str, obj_id) -> bool:
        with self._lock:
            self._versions[entity] = self._versions.get(entity, 0) + 1
            return self.entities[entity].pop(str(obj_id), None) is not None

    def set_task_status(self, task_id, status: int | str) -> dict:
        """Simulate the manager moving a task (2 pending, 3 in progress, 5 completed)."""
        with self._lock:
            task = self.tasks[str(task_id)]
            task["status"] = str(status)
            task["changedDate"] = _now_iso()
            if str(status) == "5":
                task["closedDate"] = task["changedDate"]
            return task

    # ---- HTTP -------------------------------------------------------------------------------------------------
    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/rest/{self.user}/{self.code}/"

    def fault_response(self, req: Request) -> Response:
        return Response.json({"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}, 500)

    def _take_token(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._bucket_level = max(0.0, self._bucket_level - (now - self._bucket_at) * self.rate)
            self._bucket_at = now
            if self._bucket_level + 1 > self.burst:
                return False
            self._bucket_level += 1
            return True

    def handle(self, req: Request) -> Response:
        self.requests += 1
        started = time.time()
        parts = req.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "rest":
            return Response.json({"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}, 404)
        _, user, code, method = parts
        if user != self.user or code != self.code:
            return Response.json({"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}, 401)
        if not self._take_token():
            self.throttled += 1
            return Response.json({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}, 503)
        method = _method_name(method)
        if self._operating_used(method, started) >= self.operating_limit:
            return Response.json({"error": "OPERATION_TIME_LIMIT",
                                  "error_description": "Method is blocked due to operation time limit"}, 429)
        try:
            params = self._params(req)
            if method == "batch":
                result = self._batch(params, started)
                return Response.json({"result": result, "time": self._time(started, method)})
            payload = self.call(method, params)
        except BitrixError as exc:
            return Response.json({"error": exc.code, "error_description": exc.description}, exc.status)
        payload["time"] = self._time(started, method)
        return Response.json(payload)

    def _operating_used(self, method: str, now: float) -> float:
        with self._lock:
            spent = self._operating[method]
            while spent and spent[0][0] < now - 600:
                spent.popleft()
            return sum(d for _, d in spent)

    def _params(self, req: Request) -> dict:
        params = parse_php_query(parse_qsl(req.query, keep_blank_values=True))
        if req.body:
            ctype = req.headers.get("content-type", "")
            if "json" in ctype or req.body.lstrip()[:1] in (b"{", b"["):
                try:
                    body = json.loads(req.body.decode("utf-8"))
                except ValueError as exc:
                    raise BitrixError(400, "INVALID_REQUEST", f"Invalid JSON: {exc}") from exc
                if not isinstance(body, dict):
                    raise BitrixError(400, "INVALID_REQUEST", "Request body must be an object")
                params.update(body)
            else:
                params.update(parse_php_query(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True)))
        return params

    def _time(self, started: float, method: str | None = None) -> dict:
        finish = time.time()
        processing = finish - started + self.faults.latency  # injected latency counts as the method's run time
        operating, reset_at = 0.0, int(finish) + 600
        if method is not None:
            with self._lock:
                spent = self._operating[method]
                spent.append((finish, processing))
                operating = sum(d for _, d in spent)
                reset_at = int(spent[0][0]) + 600
        return {"start": started, "finish": finish, "duration": round(finish - started, 6),
                "processing": round(processing, 6),
                "date_start": datetime.fromtimestamp(started, KYIV).isoformat(timespec="seconds"),
                "date_finish": datetime.fromtimestamp(finish, KYIV).isoformat(timespec="seconds"),
                "operating_reset_at": reset_at, "operating": round(operating, 6)}

    def call(self, method: str, params: dict) -> dict:
        if method == "user.get":  # filter fields at the top level, upper-case
            return self._user_get(params)
        params = {k.lower() if k.lower() in ("filter", "select", "order", "start", "id", "fields", "taskid",
                                             "sort") else k: v for k, v in params.items()}
        if method in ("crm.contact.list", "crm.company.list", "crm.deal.list"):
            return self._list(method.rsplit(".", 1)[0], params)
        if method in ("crm.contact.get", "crm.company.get", "crm.deal.get"):
            entity = method.rsplit(".", 1)[0]
            obj = self.entities[entity].get(str(params.get("id", "")))
            if obj is None:
                raise BitrixError(400, "", "Not found")
            return {"result": obj}
        if method.startswith("tasks.task."):
            return self._tasks(method, params)
        raise BitrixError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")

    def _page(self, rows: list[dict], params: dict) -> dict:
        try:
            start = int(params.get("start") or 0)
        except (TypeError, ValueError) as exc:
            raise BitrixError(400, "", "Parameter 'start' must be integer.") from exc
        if start == -1:  # big exports: no count, no next; the caller pages with filter >ID
            return {"result": rows[:PAGE]}
        start = max(start, 0)
        out = {"result": rows[start:start + PAGE]}
        if start + PAGE < len(rows):
            out["next"] = start + PAGE
        out["total"] = len(rows)
        return out

    def _list(self, entity: str, params: dict) -> dict:
        filt = params.get("filter") or {}
        if filt in ("", []):
            filt = {}
        if not isinstance(filt, dict):
            raise BitrixError(400, "", "Parameter 'filter' must be array.")
        order = params.get("order") or {}
        if not isinstance(order, dict):
            raise BitrixError(400, "", "Parameter 'order' must be array.")
        order = order or {"ID": "ASC"}
        select = params.get("select") or []
        if isinstance(select, str):
            select = [select]
        if isinstance(select, dict):
            select = list(select.values())
        # ID bounds (the big-export pattern `>ID` + order ID ASC) are applied by bisection on a cached, sorted list
        bounds = {k: v for k, v in filt.items() if k in (">ID", ">=ID", "<ID", "<=ID") and _num(v) is not None}
        rest = {k: v for k, v in filt.items() if k not in bounds}
        rows, ids = self._sorted(entity, rest, order)
        if bounds:
            if ids is not None:
                lo, hi = 0, len(rows)
                for key, value in bounds.items():
                    v = float(value)
                    if key == ">ID":
                        lo = max(lo, bisect.bisect_right(ids, v))
                    elif key == ">=ID":
                        lo = max(lo, bisect.bisect_left(ids, v))
                    elif key == "<ID":
                        hi = min(hi, bisect.bisect_left(ids, v))
                    else:
                        hi = min(hi, bisect.bisect_right(ids, v))
                rows = rows[lo:hi] if lo < hi else []
            else:
                preds = build_filter(bounds)
                rows = [r for r in rows if all(p(r) for p in preds)]
        page = self._page(rows, params)
        page["result"] = [_project(r, select) for r in page["result"]]
        return page

    def _sorted(self, entity: str, filt: dict, order: dict) -> tuple[list[dict], list[float] | None]:
        key = (entity, json.dumps(filt, sort_keys=True, default=str), json.dumps(order, default=str),
               self._versions.get(entity, 0))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            preds = build_filter(filt)
            rows = [r for r in self.entities[entity].values() if all(p(r) for p in preds)]
        for field, direction in reversed(list(order.items())):
            rows.sort(key=_order_key(field), reverse=str(direction).upper() == "DESC")
        ids = None
        if list(order) == ["ID"] and str(order["ID"]).upper() == "ASC":
            ids = [float(r["ID"]) for r in rows]
        with self._lock:
            if len(self._cache) > 32:
                self._cache.clear()
            self._cache[key] = (rows, ids)
        return rows, ids

    def _user_get(self, params: dict) -> dict:
        filt = dict(params.get("filter") or params.get("FILTER") or {})
        for key, value in params.items():  # user.get also takes filter fields at the top level
            if key.upper() == key and key not in ("FILTER", "SORT", "ORDER", "START"):
                filt[key] = value
        preds = build_filter(filt)
        sort_field = str(params.get("sort") or params.get("SORT") or "ID")
        desc = str(params.get("order") or params.get("ORDER") or "ASC").upper() == "DESC"
        with self._lock:
            rows = [r for r in self.entities["user"].values() if all(p(r) for p in preds)]
        rows.sort(key=_order_key(sort_field), reverse=desc)
        return self._page(rows, params)

    # ---- tasks ------------------------------------------------------------------------------------------------
    def _tasks(self, method: str, params: dict) -> dict:
        if method == "tasks.task.add":
            fields = params.get("fields")
            if not isinstance(fields, dict) or not fields.get("TITLE") or not fields.get("RESPONSIBLE_ID"):
                raise BitrixError(400, "ERROR_CORE", "Не указано название задачи / ответственный (TITLE, RESPONSIBLE_ID)")
            with self._lock:
                task_id = self._new_id("task", self.tasks)
                now = _now_iso()
                task = {"id": task_id, "title": str(fields["TITLE"]), "description": str(fields.get("DESCRIPTION", "")),
                        "responsibleId": str(fields["RESPONSIBLE_ID"]), "createdBy": self.user,
                        "createdDate": now, "changedDate": now, "closedDate": None, "status": "2",
                        "priority": str(fields.get("PRIORITY", "1")), "deadline": fields.get("DEADLINE"),
                        "ufCrmTask": fields.get("UF_CRM_TASK") or [],
                        "fields": {k: _stringify(v) for k, v in fields.items()}}
                self.tasks[task_id] = task
            return {"result": {"task": _task_view(task)}}
        task_id = str(params.get("taskid") or params.get("taskId") or params.get("id") or "")
        if method == "tasks.task.get":
            task = self.tasks.get(task_id)
            if task is None:
                raise BitrixError(400, "ERROR_CORE", "Задача не найдена или доступ запрещен")
            return {"result": {"task": _task_view(task)}}
        if method == "tasks.task.update":
            task = self.tasks.get(task_id)
            if task is None:
                raise BitrixError(400, "ERROR_CORE", "Задача не найдена или доступ запрещен")
            fields = params.get("fields") or {}
            with self._lock:
                if "STATUS" in fields:
                    self.set_task_status(task_id, fields["STATUS"])
                for k, v in fields.items():
                    task["fields"][k] = _stringify(v)
                task["changedDate"] = _now_iso()
            return {"result": {"task": _task_view(task)}}
        if method == "tasks.task.list":
            preds = build_filter({k.upper() if k.lower() == "id" else k: v
                                  for k, v in (params.get("filter") or {}).items()})
            rows = [_task_view(t) for t in self.tasks.values()]
            rows = [r for r in rows if all(p({**r, "ID": r["id"], "STATUS": r["status"],
                                                  "RESPONSIBLE_ID": r["responsibleId"]}) for p in preds)]
            page = self._page(rows, params)
            return {"result": {"tasks": page.pop("result")}, **page}
        raise BitrixError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")

    # ---- batch ------------------------------------------------------------------------------------------------
    def _batch(self, params: dict, started: float) -> dict:
        cmd = params.get("cmd") or {}
        if isinstance(cmd, list):
            cmd = {str(i): c for i, c in enumerate(cmd)}
        if not isinstance(cmd, dict):
            raise BitrixError(400, "INVALID_ARG_VALUE", "Parameter 'cmd' must be array.")
        if len(cmd) > 50:
            raise BitrixError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
        halt = str(params.get("halt", "0")) in ("1", "true", "True")
        results, errors, totals, nexts, times = {}, {}, {}, {}, {}
        for name, command in cmd.items():
            method, _, query = str(command).partition("?")
            method = _method_name(method)
            # references are resolved after decoding: clients URL-encode each parameter (`%24result%5B...`)
            pairs = [(k, _RESULT_REF.sub(lambda m: _resolve_ref(results, m), v))
                     for k, v in parse_qsl(query, keep_blank_values=True)]
            t0 = time.time()
            try:
                if method == "batch":
                    raise BitrixError(400, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
                out = self.call(method, parse_php_query(pairs))
            except BitrixError as exc:
                errors[name] = {"error": exc.code, "error_description": exc.description}
                if halt:
                    break
                continue
            results[name] = out["result"]
            if "total" in out:
                totals[name] = out["total"]
            if "next" in out:
                nexts[name] = out["next"]
            times[name] = self._time(t0)
        return {"result": results, "result_error": errors or [], "result_total": totals or [],
                "result_next": nexts or [], "result_time": times or []}


def _method_name(raw: str) -> str:
    """`crm.contact.List.json` -> `crm.contact.list`: a portal matches method names case-insensitively."""
    return raw.strip("/").lower().removesuffix(".json")


def _resolve_ref(results: dict, m: re.Match) -> str:
    node = results.get(m.group(1))
    for part in re.findall(r"\[([^\]]*)\]", m.group(2)):
        if isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                return ""
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return ""
    return "" if node is None else str(node)


def _order_key(field: str):
    def key(row):
        value = row.get(field)
        num = _num(value)
        if num is not None and not (isinstance(value, str) and "-" in value[1:]):
            return (0, num, "")
        return (1, 0, "" if value is None else str(value))

    return key


def _project(row: dict, select: list) -> dict:
    if not select:
        select = ["*", "UF_*"]
    out = {}
    wants_all = "*" in select
    wants_uf = "UF_*" in select
    for key, value in row.items():
        if key in select or (wants_uf and key.startswith("UF_")) or (
                wants_all and not key.startswith("UF_") and key not in MULTI_FIELDS):
            out[key] = value
    for key in select:  # named but absent fields come back as null, as Bitrix does
        if key not in ("*", "UF_*") and key not in out:
            out[key] = None
    return out


def _task_view(task: dict) -> dict:
    return {k: v for k, v in task.items() if k != "fields"}


def _now_iso() -> str:
    from nps import clock

    return clock.now().astimezone(KYIV).isoformat(timespec="seconds")


__all__ = ["UTC", "Bitrix24Fake", "parse_php_query"]
