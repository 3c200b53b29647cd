"""The one SendGrid client: the `nps_sendgrid` connection, one `POST /v3/mail/send`, and the one rule that says
what became of it.

Survey batches (`nps.surveys.sender`), managers' digests (`nps.closeloop.send`) and data-team alerts
(`nps.quality.alerts`) all send through `send` and follow the same protocol: claim (write down that a send is about
to happen) before the request, record the outcome after it, and never send an `unknown` again.

| what came back                                                 | outcome  | did anything leave?                      |
|----------------------------------------------------------------|----------|------------------------------------------|
| 202 (200 in sandbox mode)                                      | SENT     | yes (sandbox: validated, nothing leaves) |
| any 4xx: 400 body, 401 key, 403 sender, 413 size, 429 rate ... | REFUSED  | no: SendGrid took nothing                |
| no connection: refused, host unknown                           | REFUSED  | no: the request never left this machine  |
| 5xx, timeout, a dropped connection, any other answer           | UNKNOWN  | maybe: never send it again               |

A refusal carries SendGrid's `errors[]` (a 400 may name single personalizations) and, for a 429, the seconds until
`X-RateLimit-Reset`; whether to retry, fail or release the claim is the caller's decision.
"""

from __future__ import annotations

import enum
import http
import http.client
import json
import socket
import time
import urllib.error
from dataclasses import dataclass

import sendgrid
from python_http_client.exceptions import HTTPError

from nps import connections

DEFAULT_HOST = "https://api.sendgrid.com"


class Outcome(enum.Enum):
    SENT = "sent"
    REFUSED = "refused"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    status: int | None = None  # None: no HTTP answer came
    message_id: str | None = None  # X-Message-Id: SendGrid's events carry it as the prefix of sg_message_id
    error: str | None = None  # set exactly when not SENT
    errors: tuple[dict, ...] = ()  # SendGrid's errors[] of a refusal
    retry_after: float | None = None  # a 429: seconds until X-RateLimit-Reset


def connect(conn: connections.Conn | None = None) -> sendgrid.SendGridAPIClient:
    """The official client on the `nps_sendgrid` connection (host, default SendGrid's; password = API key)."""
    conn = conn or connections.get("nps_sendgrid")
    if not conn.password:
        raise RuntimeError("connection nps_sendgrid has no password: put the SendGrid API key there")
    return sendgrid.SendGridAPIClient(api_key=conn.password,
                                      host=conn.base_url.rstrip("/") if conn.host else DEFAULT_HOST)


def outcome(status: int | None, error: BaseException | None = None) -> Outcome:
    """The rule of the table above, from the HTTP status, or from the error when no answer came."""
    if status is not None:
        if status in (200, 202):
            return Outcome.SENT
        return Outcome.REFUSED if 400 <= status < 500 else Outcome.UNKNOWN
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    return Outcome.REFUSED if isinstance(reason, ConnectionRefusedError | socket.gaierror) else Outcome.UNKNOWN


def send(client: sendgrid.SendGridAPIClient, body: dict, timeout: float = 30.0) -> Result:
    """One `POST /v3/mail/send` of a v3 body; never raises for what SendGrid or the network did."""
    try:
        response = client.client.mail.send.post(request_body=body, timeout=timeout)
        status, headers, payload = int(response.status_code), response.headers, response.body
    except HTTPError as exc:  # the library raises for every answer >= 400
        status, headers, payload = int(exc.status_code), exc.headers, exc.body
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets: no answer
        return Result(outcome(None, exc), error=f"no answer from SendGrid: {exc!r}"[:2000])
    result = outcome(status)
    if result is Outcome.SENT:
        return Result(result, status, message_id=_header(headers, "X-Message-Id"))
    errors = _errors(payload)
    reset = _header(headers, "X-RateLimit-Reset") if status == 429 else None
    return Result(result, status, error=_error_text(status, errors, payload), errors=errors,
                  retry_after=float(reset) - time.time() if reset and reset.isdigit() else None)


def message(to: list[str] | list[dict], subject: str, text: str, html: str | None = None, *, from_email: str,
            from_name: str | None = None, categories: list[str] | None = None,
            custom_args: dict[str, str] | None = None) -> dict:
    """A v3 body of one e-mail to `to` (addresses, or `{email, name}`): a digest or an alert."""
    recipients = [{"email": r} if isinstance(r, str) else {k: v for k, v in r.items() if v} for r in to]
    body = {"personalizations": [{"to": recipients}],
            "from": {"email": from_email, **({"name": from_name} if from_name else {})},
            "subject": subject,
            # text/plain must come before text/html
            "content": [{"type": "text/plain", "value": text}] + ([{"type": "text/html", "value": html}] if html else [])}
    if categories:
        body["categories"] = categories
    if custom_args:
        body["custom_args"] = custom_args
    return body


def get_json(client: sendgrid.SendGridAPIClient, path: str, query: dict, timeout: float = 30.0):
    """GET a v3 path such as `suppression/bounces` (no leading `/v3/`); raises on any failure (reads are retried
    by the task, they change nothing)."""
    node = client.client
    for segment in path.strip("/").split("/"):
        node = node._(segment)
    body = node.get(query_params=query, timeout=timeout).body
    return json.loads(body.decode("utf-8") if isinstance(body, bytes) else body or "null")


def _header(headers, name: str) -> str | None:
    value = headers.get(name) if headers is not None else None
    return str(value) if value is not None else None


def _errors(body) -> tuple[dict, ...]:
    try:
        data = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, TypeError, AttributeError):
        return ()
    errors = data.get("errors") if isinstance(data, dict) else None
    return tuple(e for e in errors if isinstance(e, dict)) if isinstance(errors, list) else ()


def _error_text(status: int, errors: tuple[dict, ...], body) -> str:
    if errors:
        text = "; ".join(f"{e['field']}: {e.get('message')}" if e.get("field") else str(e.get("message"))
                         for e in errors)
    else:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "unexpected answer"
    return f"HTTP {status} {phrase}: {text}"[:2000]
