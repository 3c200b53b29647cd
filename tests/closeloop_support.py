"""Test support for the close-loop tests: input tables, and small loopback stand-ins for SendGrid and Bitrix24
(used until the project's fakes are merged; they speak the same wire format: reference/protocols.md §2.1, §3.1)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INPUT_DDL = """
drop table if exists ops.detractor_cases;
create table ops.detractor_cases (
    survey_id text primary key, purchase_id text, customer_ref text, region text, segment text,
    customer_name text, company_name text, phone text, email text, language text, crm_assigned_by_id text,
    score smallint, reasons text[], comment text, responded_at timestamptz, order_number text,
    delivered_at timestamp, promised_date date, delay_days integer, is_in_full boolean, nps_category text
);
create schema if not exists staging;
drop table if exists staging.region_managers;
create table staging.region_managers (region text, manager_email text, manager_name text, language text);
truncate ops.case_state, ops.digests, raw.crm_users;
"""


def reset(db) -> None:
    db.execute(INPUT_DDL)


def add_case(db, survey_id: str, *, region="Київська", assigned_by=None, score=3, category=None,
             responded_at="2026-03-01T10:00:00+02:00", comment="Привезли на 3 дні пізніше", reasons=("delivery_speed",),
             customer="Іван Петренко", company="ТОВ Ромашка", phone="+380501112233", email="ivan@example.com",
             delivered_at="2026-02-27 12:00", promised_date="2026-02-24", delay_days=3, is_in_full=False,
             order_number="ЗК-000123") -> None:
    category = category or ("detractor" if score <= 6 else "passive" if score <= 8 else "promoter")
    db.execute("""
        insert into ops.detractor_cases values (%s, %s, %s, %s, 'retail', %s, %s, %s, %s, 'uk', %s, %s, %s, %s, %s,
                                                %s, %s, %s, %s, %s, %s)
    """, (survey_id, f"p-{survey_id}", f"c-{survey_id}", region, customer, company, phone, email, assigned_by, score,
          list(reasons), comment, responded_at, order_number, delivered_at, promised_date, delay_days, is_in_full,
          category))


def add_crm_user(db, user_id: str, email: str, name: str, language: str = "uk", active: bool = True) -> None:
    db.execute("insert into raw.crm_users (id, email, name, last_name, language, active, payload) "
               "values (%s, %s, %s, '', %s, %s, '{}')", (user_id, email, name, language, active))


def add_region_manager(db, region: str, email: str, name: str, language: str = "uk") -> None:
    db.execute("insert into staging.region_managers values (%s, %s, %s, %s)", (region, email, name, language))


class _Server:
    def __init__(self, handler_cls):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _json(self, status: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")


class SendGridStandIn(_Server):
    """POST /v3/mail/send: 202 + X-Message-Id, or the queued failures (status codes) first."""

    def __init__(self):
        self.messages: list[dict] = []
        self.fail_with: list[int] = []
        super().__init__(self._handler())

    def _handler(self):
        class Handler(_Handler):
            def do_POST(self):
                owner = self.server.owner
                body = self._body()
                if self.path != "/v3/mail/send" or not self.headers.get("Authorization", "").startswith("Bearer "):
                    return self._json(401, {"errors": [{"message": "unauthorized", "field": None, "help": None}]})
                if not body.get("personalizations") or not body.get("from"):
                    return self._json(400, {"errors": [{"message": "personalizations and from are required",
                                                        "field": "personalizations", "help": None}]})
                if owner.fail_with:
                    status = owner.fail_with.pop(0)
                    return self._json(status, {"errors": [{"message": "injected failure", "field": None,
                                                           "help": None}]})
                owner.messages.append(body)
                self._json(202, None, {"X-Message-Id": uuid.uuid4().hex[:22]})
        return Handler


class BitrixStandIn(_Server):
    """Webhook /rest/1/test/<method>: tasks.task.add / tasks.task.get; `limit_next` 503 QUERY_LIMIT_EXCEEDED."""

    def __init__(self):
        self.tasks: dict[str, dict] = {}
        self.calls: list[str] = []
        self.limit_next = 0
        super().__init__(self._handler())

    @property
    def webhook(self) -> str:
        return self.url + "/rest/1/test/"

    def close_task(self, task_id: str, closed: str = "2026-03-04T15:30:00+02:00") -> None:
        self.tasks[task_id].update(status="5", closedDate=closed)

    def _handler(self):
        class Handler(_Handler):
            def do_POST(self):
                owner = self.server.owner
                prefix = "/rest/1/test/"
                if not self.path.startswith(prefix):
                    return self._json(401, {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"})
                method = self.path[len(prefix):].removesuffix(".json")
                body = self._body()
                owner.calls.append(method)
                if owner.limit_next:
                    owner.limit_next -= 1
                    return self._json(503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
                if method == "tasks.task.add":
                    fields = body.get("fields") or {}
                    if not fields.get("TITLE") or not fields.get("RESPONSIBLE_ID"):
                        return self._json(400, {"error": "ERROR_CORE", "error_description": "TITLE, RESPONSIBLE_ID"})
                    task_id = str(1000 + len(owner.tasks))
                    owner.tasks[task_id] = {"id": task_id, "title": fields["TITLE"],
                                            "description": fields.get("DESCRIPTION", ""),
                                            "responsibleId": str(fields["RESPONSIBLE_ID"]),
                                            "deadline": fields.get("DEADLINE"), "status": "2", "closedDate": None,
                                            "createdDate": datetime.now(UTC).isoformat()}
                    return self._json(200, {"result": {"task": owner.tasks[task_id]}})
                if method == "tasks.task.get":
                    task = owner.tasks.get(str(body.get("taskId")))
                    return self._json(200, {"result": {"task": task} if task else []})
                return self._json(404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"})
        return Handler


def cleanup(db) -> None:
    """Leave the shared session database as other test modules expect it: no close-loop rows, no test inputs."""
    db.execute("""
        truncate ops.case_state, ops.digests, raw.crm_users;
        drop table if exists ops.detractor_cases;
        drop table if exists staging.region_managers;
    """)
