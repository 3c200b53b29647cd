"""Fake SendGrid v3, as reference/protocols.md §3 describes it.

- `POST /v3/mail/send`: the body is validated against the official `tsg_mail_v3.json` (copied into
  `sendgrid_oai/`; a compiled check of the same schema decides, `jsonschema` words the errors: schema_check.py),
  plus the rules the real API states beyond the schema (≤1000 recipients per request, `send_at` ≤72 h ahead,
  content or template, reply_to xor reply_to_list, syntactically valid addresses, `substitutions` ≤10,000 bytes
  and `custom_args` ≤10,000 bytes per personalization, a body ≤30 MB else 413).
  202 + `X-Message-Id`; sandbox mode 200 (nothing kept, no events); 401 on a bad key; `X-RateLimit-*` headers on
  every response and 429 over `rate_limit` requests per `rate_window` seconds. Errors use `{"errors":[…]}`.
  Spec quirk: message-level `custom_args` is typed `string` in the file but is an object in practice: accepted.
- Suppressions: global unsubscribes, ASM groups and their suppressions, bounces (plus empty blocks / spam
  reports / invalid emails), loaded from `<dir>/suppressions.json` when present.
- Event Webhook: a P-256 key pair (from `<dir>/webhook_key.pem` when present, else made at start); `GET /v3/user/webhooks/event/settings/signed[/<id>]` serves the
  public key as SendGrid does (base64 DER SPKI); `emit_events(url, events)` POSTs one signed batch that
  `sendgrid.helpers.eventwebhook.EventWebhook` verifies; `make_events(message, event)` builds events for the
  recipients of a kept message, custom args flattened at the top level. `POST /v3/user/webhooks/event/test`
  `{"url": …}` (the official endpoint) posts one signed sample batch (every event type) to `url` once and answers 204.
- `GET /_fake/messages` (JSON): every accepted message with its `X-Message-Id`; `rendered(message)` /
  `SendGridFake.deliveries()`: what each recipient gets, per-personalization `from` / `subject` and
  `substitutions` applied as SendGrid applies them.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jsonschema import Draft202012Validator, FormatChecker

from nps_dev.fakes.base import FakeServer, Request, Response
from nps_dev.fakes.schema_check import compile_check

HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
EVENT_TYPES = ("processed", "dropped", "delivered", "deferred", "bounce", "open", "click", "spamreport",
               "unsubscribe", "group_unsubscribe", "group_resubscribe")
RESERVED = {"email", "timestamp", "event", "smtp-id", "sg_event_id", "sg_message_id", "category"}
MAX_SUBSTITUTION_BYTES = 10_000  # per personalization, keys + values (tsg_mail_v3.json, `substitutions`)
MAX_CUSTOM_ARGS_BYTES = 10_000  # per personalization and message level (protocols.md §3.1)
MAX_REQUEST_BYTES = 30 * 1024 * 1024


def _mail_schema() -> dict:
    text = resources.files("nps_dev.fakes").joinpath("sendgrid_oai/tsg_mail_v3.json").read_text(encoding="utf-8")
    spec = json.loads(text)
    schema = copy.deepcopy(spec["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]["schema"])
    # the file types message-level custom_args as a string; SendGrid takes (and documents) key/value pairs
    schema["properties"]["custom_args"] = {"type": ["object", "string"]}
    schema["components"] = spec["components"]  # "#/components/..." refs resolve inside this document
    return schema


def _field_path(path) -> str | None:
    return ".".join(str(p) for p in path) or None


def sg_error(message: str, field: str | None = None, help_: str | None = None, status: int = 400,
             headers: dict | None = None) -> Response:
    return Response.json({"errors": [{"message": message, "field": field, "help": help_}]}, status, headers)


class SendGridFake(FakeServer):
    name = "sendgrid"

    def __init__(self, data_dir: Path | None = None, *, api_keys=("SG.fake-demo-key",), rate_limit: int = 600,
                 rate_window: float = 60.0, asm_groups: dict | None = None, latency: float = 0.0,
                 error_rate: float = 0.0, seed: int = 0) -> None:
        super().__init__(latency=latency, error_rate=error_rate, seed=seed)
        self.api_keys = set(api_keys) if api_keys else set()  # empty set: any key accepted
        self.rate_limit, self.rate_window = int(rate_limit), float(rate_window)
        self._lock = threading.RLock()
        self._window_start = time.time()
        self._window_count = 0
        self._messages: list[dict] = []
        self.sandbox_count = 0
        schema = _mail_schema()
        self.validator = Draft202012Validator(schema, format_checker=FormatChecker())
        self.schema_ok = compile_check(schema)  # same verdict as `validator`, ~20x faster (schema_check.py)
        key_file = Path(data_dir) / "webhook_key.pem" if data_dir is not None else None
        if key_file is not None and key_file.exists():  # a stable key: receivers configured once keep verifying
            self._private_key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        else:
            self._private_key = ec.generate_private_key(ec.SECP256R1())
        der = self._private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = base64.b64encode(der).decode()
        self.webhook_id = str(uuid.UUID(int=seed or 1))
        self.webhook_settings: dict = {"enabled": False, "url": "", "id": self.webhook_id}
        self.groups: dict[int, dict] = {}
        self.group_suppressions: dict[int, dict[str, int]] = {}
        self.global_unsubscribes: dict[str, int] = {}
        self.bounces: dict[str, dict] = {}
        for gid, name in (asm_groups or {1001: "NPS surveys"}).items():
            self.add_group(int(gid), name)
        if data_dir is not None and (Path(data_dir) / "suppressions.json").exists():
            self.load_suppressions(Path(data_dir) / "suppressions.json")

    # ---- state ------------------------------------------------------------------------------------------------
    def add_group(self, group_id: int, name: str, description: str = "", is_default: bool = False) -> None:
        self.groups[group_id] = {"id": group_id, "name": name, "description": description or name,
                                 "is_default": is_default}
        self.group_suppressions.setdefault(group_id, {})

    def load_suppressions(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        for g in data.get("groups", []):
            self.add_group(int(g["id"]), g["name"], g.get("description", ""), bool(g.get("is_default")))
        for item in data.get("global_unsubscribes", []):
            self.global_unsubscribes[item["email"].lower()] = int(item.get("created", 0))
        for item in data.get("group_suppressions", []):
            self.group_suppressions.setdefault(int(item["group_id"]), {})[item["email"].lower()] = int(
                item.get("created", 0))
        for item in data.get("bounces", []):
            self.bounces[item["email"].lower()] = {"created": int(item.get("created", 0)), "email": item["email"],
                                                   "reason": item.get("reason", "550 5.1.1 User unknown"),
                                                   "status": item.get("status", "5.1.1")}

    def messages(self) -> list[dict]:
        """Accepted messages: `{"message_id", "received_at", "body"}` in arrival order."""
        with self._lock:
            return list(self._messages)

    def deliveries(self) -> list[dict]:
        """Every recipient's e-mail of every kept message, rendered (see `rendered`)."""
        return [mail for message in self.messages() for mail in rendered(message)]

    def clear_messages(self) -> None:
        with self._lock:
            self._messages.clear()

    def unsubscribe(self, email: str, group_id: int | None = None, created: int | None = None) -> None:
        created = int(created if created is not None else _now_ts())
        with self._lock:
            if group_id is None:
                self.global_unsubscribes[email.lower()] = created
            else:
                self.group_suppressions.setdefault(int(group_id), {})[email.lower()] = created

    def bounce(self, email: str, reason: str = "550 5.1.1 The email account that you tried to reach does not exist",
               status: str = "5.1.1", created: int | None = None) -> None:
        with self._lock:
            self.bounces[email.lower()] = {"created": int(created if created is not None else _now_ts()),
                                           "email": email, "reason": reason, "status": status}

    def suppressed(self, email: str, group_id: int | None = None) -> str | None:
        """Why SendGrid would drop mail to this address, or None."""
        email = email.lower()
        if email in self.bounces:
            return "Bounced Address"
        if email in self.global_unsubscribes:
            return "Unsubscribed Address"
        if group_id is not None and email in self.group_suppressions.get(int(group_id), {}):
            return "Unsubscribed Address"
        return None

    # ---- events -----------------------------------------------------------------------------------------------
    def make_events(self, message: dict, event: str, *, timestamp: int | None = None, recipients=None,
                    **extra) -> list[dict]:
        """Events of type `event` for each recipient of a kept message (or only `recipients`)."""
        if event not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event!r}")
        body = message["body"]
        ts = int(timestamp if timestamp is not None else _now_ts())
        top_args = body.get("custom_args") if isinstance(body.get("custom_args"), dict) else {}
        categories = body.get("categories")
        out = []
        n = 0
        for p in body.get("personalizations", []):
            args = {**top_args, **(p.get("custom_args") or {})}
            for rcpt in (p.get("to") or []) + (p.get("cc") or []) + (p.get("bcc") or []):
                n += 1
                if recipients is not None and rcpt["email"] not in recipients:
                    continue
                ev = {k: v for k, v in args.items() if k not in RESERVED}
                ev.update({"email": rcpt["email"], "timestamp": ts, "event": event,
                           "smtp-id": f"<{message['message_id']}@ismtpd0001p1fake.sendgrid.net>",
                           "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
                           "sg_message_id": f"{message['message_id']}.filterdrecv-fake-{n}-0.0"})
                if categories:
                    ev["category"] = categories
                if event == "delivered":
                    ev.setdefault("response", "250 OK")
                elif event == "deferred":
                    ev.update({"response": "400 try again later", "attempt": "5"})
                elif event == "bounce":
                    ev.update({"reason": "550 5.1.1 The email account that you tried to reach does not exist",
                               "status": "5.1.1", "type": "bounce"})
                elif event == "dropped":
                    ev.update({"reason": self.suppressed(rcpt["email"]) or "Invalid", "status": "5.0.0"})
                elif event in ("open", "click", "group_unsubscribe", "group_resubscribe"):
                    ev.update({"useragent": "Mozilla/5.0 (fake)", "ip": "127.0.0.1"})
                    if event == "click":
                        ev.update({"url": "https://example.com/", "url_offset": {"index": 0, "type": "html"}})
                    if event.startswith("group_"):
                        ev.update({"asm_group_id": int((body.get("asm") or {}).get("group_id", 0)), "url": ""})
                ev.update(extra)
                out.append(ev)
        return out

    def delivery_events(self, message: dict, *, timestamp: int | None = None) -> list[dict]:
        """What SendGrid reports right after accepting a message: `processed`, then per recipient `dropped` when
        the address is suppressed (bounce list, global or the message's ASM group unsubscribe), else `delivered`."""
        group = (message["body"].get("asm") or {}).get("group_id")
        events = self.make_events(message, "processed", timestamp=timestamp)
        for ev in events:
            why = self.suppressed(ev["email"], group)
            final = self.make_events(message, "dropped" if why else "delivered", timestamp=timestamp,
                                     recipients={ev["email"]}, **({"reason": why} if why else {}))
            events = events + final
        # processed events first, then outcomes, as SendGrid batches them
        return sorted(events, key=lambda e: e["event"] != "processed")

    def sign(self, body: bytes, timestamp: str) -> str:
        signature = self._private_key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()

    def emit_events(self, url: str, events: list[dict], *, retries: int = 3, timeout: float = 10.0,
                    timestamp: int | None = None) -> int:
        """POST one signed Event Webhook batch (a JSON array); retries on non-2xx. Returns the final status."""
        body = json.dumps(events, separators=(",", ":")).encode("utf-8")
        ts = str(int(timestamp if timestamp is not None else _now_ts()))
        headers = {"Content-Type": "application/json", "User-Agent": "SendGrid Event API",
                   "X-Twilio-Email-Event-Webhook-Signature": self.sign(body, ts),
                   "X-Twilio-Email-Event-Webhook-Timestamp": ts}
        status = 0
        for attempt in range(retries + 1):
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except urllib.error.URLError:
                status = 0
            if 200 <= status < 300:
                return status
            if attempt < retries:
                time.sleep(min(0.2 * 2 ** attempt, 2.0))
        return status

    # ---- HTTP -------------------------------------------------------------------------------------------------
    def fault_response(self, req: Request) -> Response:
        return sg_error("internal server error", status=500)

    def _rate_headers(self) -> tuple[bool, dict]:
        with self._lock:
            now = time.time()
            if now - self._window_start >= self.rate_window:
                self._window_start, self._window_count = now, 0
            allowed = self._window_count < self.rate_limit
            if allowed:
                self._window_count += 1
            headers = {"X-RateLimit-Limit": str(self.rate_limit),
                       "X-RateLimit-Remaining": str(max(0, self.rate_limit - self._window_count)),
                       "X-RateLimit-Reset": str(int(self._window_start + self.rate_window))}
        return allowed, headers

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        if path == "/_fake/messages":
            return Response.json(self.messages())
        if path == "/_fake/public_key":
            return Response.json({"public_key": self.public_key})
        if not path.startswith("/v3/"):
            return sg_error("not found", status=404)
        auth = req.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not key or (self.api_keys and key not in self.api_keys):
            return sg_error("The provided authorization grant is invalid, expired, or revoked", status=401)
        allowed, rate = self._rate_headers()
        if not allowed:
            return Response.json({"errors": [{"field": None, "message": "too many requests"}]}, 429, rate)
        resp = self._route(req, path)
        resp.headers.update(rate)
        return resp

    def _route(self, req: Request, path: str) -> Response:
        m = req.method
        if path == "/v3/mail/send":
            return self._mail_send(req) if m == "POST" else sg_error("method not allowed", status=405)
        if path in ("/v3/user/webhooks/event/settings/signed", f"/v3/user/webhooks/event/settings/signed/"
                                                                 f"{self.webhook_id}"):
            if m == "PATCH":
                body = req.json() or {}
                self.webhook_settings["signed"] = bool(body.get("enabled", True))
            out = {"public_key": self.public_key}
            if path.endswith(self.webhook_id):
                out = {"id": self.webhook_id, **out}
            else:
                out = {"enabled": True, **out}
            return Response.json(out)
        if path == "/v3/user/webhooks/event/test":
            return self._test_webhook(req) if m == "POST" else sg_error("method not allowed", status=405)
        if path.startswith("/v3/user/webhooks/event/settings"):
            if m in ("POST", "PATCH"):
                self.webhook_settings.update(req.json() or {})
            return Response.json({**self.webhook_settings, "public_key": self.public_key}, 201 if m == "POST" else 200)
        if path.startswith(("/v3/suppression/", "/v3/asm/")):
            return self._suppressions(req, path)
        return sg_error("not found", status=404)

    def _test_webhook(self, req: Request) -> Response:
        """`POST /v3/user/webhooks/event/test` (tsg_webhooks_v3.json, EventWebhookTestRequest): one signed sample
        batch to `url`, then 204."""
        try:
            body = req.json()
        except ValueError:
            return sg_error("Bad Request")
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return sg_error("url is required and must be an http(s) URL", "url")
        # posted once before answering (no 24 h retries for a test); the 204 does not say how the receiver answered
        self.emit_events(url, self.sample_events(), retries=0)
        return Response(204, b"", {})

    def sample_events(self) -> list[dict]:
        """The test notification: one event of every type for example@test.com, as SendGrid's test sends."""
        message = {"message_id": _new_message_id(),
                   "body": {"personalizations": [{"to": [{"email": "example@test.com"}]}],
                            "categories": ["cat facts"], "asm": {"group_id": 10}}}
        return [ev for event in EVENT_TYPES for ev in self.make_events(message, event)]

    # ---- mail send --------------------------------------------------------------------------------------------
    def _mail_send(self, req: Request) -> Response:
        raw = req.body
        if req.headers.get("content-encoding", "").lower() == "gzip":
            try:
                raw = gzip.decompress(raw)
            except OSError:
                return sg_error("Bad gzip body", None)
        if len(raw) > MAX_REQUEST_BYTES:
            return sg_error("content too large", status=413)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return sg_error("Bad Request", None, f"{HELP}#-Request-Body-Parameters")
        if not isinstance(body, dict):
            return sg_error("Bad Request", None, f"{HELP}#-Request-Body-Parameters")
        problems = self.validate(body)
        if problems:
            return Response.json({"errors": [{"message": msg, "field": field, "help": help_}
                                             for msg, field, help_ in problems]}, 400)
        message_id = _new_message_id()
        sandbox = ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable") is True
        if sandbox:
            with self._lock:
                self.sandbox_count += 1
            return Response(200, b"", {})
        with self._lock:
            self._messages.append({"message_id": message_id, "received_at": _now_ts(), "body": body})
        return Response(202, b"", {"X-Message-Id": message_id})

    def validate(self, body: dict) -> list[tuple[str, str | None, str | None]]:
        """Reasons SendGrid would answer 400, as (message, field, help); empty when the body is accepted."""
        problems = []
        # jsonschema only words the errors of a body the compiled check refused
        schema_errors = [] if self.schema_ok(body) else self.validator.iter_errors(body)
        for err in sorted(schema_errors, key=lambda e: list(e.absolute_path)):
            field = _field_path(err.absolute_path)
            if err.validator == "required":
                missing = err.message.split("'")[1] if "'" in err.message else err.message
                field = f"{field}.{missing}" if field else missing
                if missing == "from":
                    msg = "The from object must be provided for every email send. It is an object that requires " \
                          "the email parameter, but may also contain a name parameter."
                elif missing == "email":
                    msg = f"The {field.rsplit('.', 1)[0]} object must at least have an 'email' parameter with a " \
                          "valid email address and may also contain a name parameter."
                elif missing == "personalizations":
                    msg = "The personalizations field is required and must have at least one personalization."
                else:
                    msg = f"The {missing} parameter is required."
            elif err.validator == "format":
                msg = "Does not contain a valid address."
            elif err.validator == "maxItems" and field == "personalizations":
                msg = "The personalization block is limited to 1000 personalizations per API request. You have " \
                      f"provided {len(body['personalizations'])} personalizations."
            elif err.validator == "maxItems" and field == "categories":
                msg = "You cannot have more than 10 categories associated with an email."
            else:
                msg = err.message
            problems.append((msg, field, f"{HELP}#message.{field}" if field else None))
        if problems:
            return problems
        pers = body.get("personalizations") or []
        if not pers:
            problems.append(("The personalizations field is required and must have at least one personalization.",
                             "personalizations", f"{HELP}#-Personalizations-Errors"))
        total = 0
        for i, p in enumerate(pers):
            if not p.get("to"):
                problems.append(("The to array is required for all personalization objects, and must have at "
                                 "least one email object with a valid email address.", f"personalizations.{i}.to",
                                 f"{HELP}#message.personalizations.to"))
            for kind in ("to", "cc", "bcc"):
                for j, r in enumerate(p.get(kind) or []):
                    total += 1
                    if not EMAIL_RE.match(r.get("email", "")):
                        problems.append(("Does not contain a valid address.", f"personalizations.{i}.{kind}.{j}.email",
                                         f"{HELP}#message.personalizations.{kind}"))
            send_at = p.get("send_at")
            if send_at is not None and send_at > _now_ts() + 72 * 3600:
                problems.append(("The send_at parameter must be less than 72 hours in the future.",
                                 f"personalizations.{i}.send_at", f"{HELP}#message.send_at"))
            size = _pairs_bytes(p.get("substitutions"))
            if size > MAX_SUBSTITUTION_BYTES:
                problems.append((f"The total collective size of your substitutions may not exceed "
                                 f"{MAX_SUBSTITUTION_BYTES:,} bytes per personalization object ({size:,} given).",
                                 f"personalizations.{i}.substitutions", f"{HELP}#message.personalizations"))
            if _pairs_bytes(p.get("custom_args")) > MAX_CUSTOM_ARGS_BYTES:
                problems.append((f"The custom_args may not exceed {MAX_CUSTOM_ARGS_BYTES:,} bytes.",
                                 f"personalizations.{i}.custom_args", f"{HELP}#message.custom_args"))
        if total > 1000:
            problems.append(("The personalization block is limited to 1000 recipients per API request.",
                             "personalizations", f"{HELP}#-Personalizations-Errors"))
        if not EMAIL_RE.match((body.get("from") or {}).get("email", "")):
            problems.append(("The from email does not contain a valid address.", "from.email",
                             f"{HELP}#message.from"))
        if body.get("reply_to") and body.get("reply_to_list"):
            problems.append(("You can either specify reply_to or reply_to_list, but not both.", "reply_to",
                             f"{HELP}#message.reply_to"))
        if not body.get("template_id"):
            if not body.get("content"):
                problems.append(("Unless a valid template_id is provided, the content parameter is required. There "
                                 "must be at least one defined content block. We typically suggest both text/plain "
                                 "and text/html blocks are included, but only one block is required.", "content",
                                 f"{HELP}#message.content"))
            if not body.get("subject") and not all(p.get("subject") for p in pers):
                problems.append(("The subject is required. You can get around this requirement if you use a template "
                                 "with a subject defined or if every personalization has a subject defined.",
                                 "subject", f"{HELP}#message.subject"))
        if _pairs_bytes(body.get("custom_args")) > MAX_CUSTOM_ARGS_BYTES:
            problems.append((f"Total custom_args size may not exceed {MAX_CUSTOM_ARGS_BYTES:,} bytes.",
                             "custom_args", f"{HELP}#message.custom_args"))
        send_at = body.get("send_at")
        if isinstance(send_at, int) and send_at > _now_ts() + 72 * 3600:
            problems.append(("The send_at parameter must be less than 72 hours in the future.", "send_at",
                             f"{HELP}#message.send_at"))
        asm = body.get("asm")
        if asm and int(asm.get("group_id", 0)) not in self.groups:
            problems.append(("The asm group_id does not exist.", "asm.group_id", f"{HELP}#message.asm.group_id"))
        return problems

    # ---- suppressions -----------------------------------------------------------------------------------------
    def _suppressions(self, req: Request, path: str) -> Response:
        m = req.method
        params = dict(parse_qsl(req.query))
        parts = path.split("/")[2:]  # ['suppression', 'bounces', ...] or ['asm', ...]

        def page(items: list) -> list:
            try:
                limit = int(params.get("limit", 500))
                offset = int(params.get("offset", 0))
            except ValueError:
                return items
            return items[offset: offset + min(limit, 500)]

        def in_time(created: int) -> bool:
            start, end = params.get("start_time"), params.get("end_time")
            return (not start or created >= int(start)) and (not end or created <= int(end))

        with self._lock:
            if parts[:2] == ["suppression", "unsubscribes"] and m == "GET":
                items = [{"created": c, "email": e} for e, c in sorted(self.global_unsubscribes.items())
                         if in_time(c) and (not params.get("email") or e == params["email"].lower())]
                return Response.json(page(items))
            if parts[:2] == ["suppression", "bounces"]:
                if len(parts) == 3:
                    email = parts[2].lower()
                    if m == "DELETE":
                        self.bounces.pop(email, None)
                        return Response(204, b"", {})
                    return Response.json([self.bounces[email]] if email in self.bounces else [])
                if m == "DELETE":
                    body = req.json() or {}
                    if body.get("delete_all"):
                        self.bounces.clear()
                    for email in body.get("emails", []):
                        self.bounces.pop(email.lower(), None)
                    return Response(204, b"", {})
                return Response.json(page([b for _, b in sorted(self.bounces.items()) if in_time(b["created"])]))
            if parts[:1] == ["suppression"] and len(parts) == 2 and parts[1] in ("blocks", "spam_reports",
                                                                                 "invalid_emails"):
                return Response.json([])
            if parts[:3] == ["asm", "suppressions", "global"]:
                if len(parts) == 3 and m == "POST":
                    emails = (req.json() or {}).get("recipient_emails") or []
                    for e in emails:
                        self.global_unsubscribes[e.lower()] = _now_ts()
                    return Response.json({"recipient_emails": emails}, 201)
                if len(parts) == 4:
                    email = parts[3].lower()
                    if m == "DELETE":
                        self.global_unsubscribes.pop(email, None)
                        return Response(204, b"", {})
                    return Response.json({"recipient_email": parts[3]} if email in self.global_unsubscribes else {})
            if parts[:2] == ["asm", "groups"]:
                if len(parts) == 2:
                    return Response.json([{**g, "unsubscribes": len(self.group_suppressions.get(gid, {}))}
                                          for gid, g in sorted(self.groups.items())])
                try:
                    gid = int(parts[2])
                except ValueError:
                    return sg_error("invalid group id", "group_id")
                if gid not in self.groups:
                    return sg_error("not found", status=404)
                sup = self.group_suppressions.setdefault(gid, {})
                if len(parts) == 3:
                    return Response.json({**self.groups[gid], "unsubscribes": len(sup)})
                if parts[3] == "suppressions" and len(parts) == 4:
                    if m == "POST":
                        emails = (req.json() or {}).get("recipient_emails") or []
                        for e in emails:
                            sup[e.lower()] = _now_ts()
                        return Response.json({"recipient_emails": emails}, 201)
                    return Response.json(sorted(sup))
                if parts[3] == "suppressions" and len(parts) == 5 and m == "DELETE":
                    sup.pop(parts[4].lower(), None)
                    return Response(204, b"", {})
            if parts[:2] == ["asm", "suppressions"] and len(parts) == 2:
                items = [{"email": e, "group_id": gid, "group_name": self.groups[gid]["name"], "created_at": c}
                         for gid, sup in sorted(self.group_suppressions.items()) for e, c in sorted(sup.items())]
                return Response.json(page(items))
            if parts[:2] == ["asm", "suppressions"] and len(parts) == 3:
                email = parts[2].lower()
                return Response.json({"suppressions": [
                    {**{k: g[k] for k in ("id", "name", "description", "is_default")},
                     "suppressed": email in self.group_suppressions.get(gid, {})}
                    for gid, g in sorted(self.groups.items())]})
        return sg_error("not found", status=404)


def _pairs_bytes(pairs) -> int:
    """Size of a key/value object as SendGrid counts it: UTF-8 bytes of every key and value."""
    if isinstance(pairs, str):
        return len(pairs.encode())
    if not isinstance(pairs, dict):
        return 0
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in pairs.items())


def substitute(value: str, substitutions: dict | None) -> str:
    """SendGrid's substitution tags: every occurrence of a tag replaced by its value, in one pass (a value is
    never scanned again, so the result does not depend on the order of the tags)."""
    if not substitutions or not value:
        return value
    tags = sorted(substitutions, key=len, reverse=True)  # the longest tag wins where two start at one place
    pattern = re.compile("|".join(re.escape(t) for t in tags))
    return pattern.sub(lambda m: str(substitutions[m.group(0)]), value)


def rendered(message: dict) -> list[dict]:
    """What each recipient of a kept message receives: `{"to", "from", "subject", "text", "html", "custom_args",
    "message_id"}` per personalization, with the personalization's `from` / `subject` overriding the message's and
    its `substitutions` applied to the subject and every content part (the `sections` of old are not resolved:
    SendGrid removed section tags)."""
    body = message["body"]
    content = {c["type"]: c["value"] for c in body.get("content") or []}
    top_args = body.get("custom_args") if isinstance(body.get("custom_args"), dict) else {}
    out = []
    for p in body.get("personalizations") or []:
        subs = p.get("substitutions") or {}
        out.append({"message_id": message.get("message_id"), "to": p.get("to") or [],
                    "from": p.get("from") or body.get("from"),
                    "subject": substitute(p.get("subject") or body.get("subject") or "", subs),
                    "text": substitute(content.get("text/plain", ""), subs),
                    "html": substitute(content.get("text/html", ""), subs),
                    "custom_args": {**top_args, **(p.get("custom_args") or {})}})
    return out


def _new_message_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


def _now_ts() -> int:
    from nps import clock

    return int(clock.now().timestamp())
