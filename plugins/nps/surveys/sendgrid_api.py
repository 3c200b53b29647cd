"""SendGrid v3 through the official `sendgrid` package, pointed at the `nps_sendgrid` connection's host.

`post_mail` turns every way a `POST /v3/mail/send` can end into one `Outcome`, which is all the at-most-once logic
in `nps.surveys.sender` needs to know:

| what happened                                          | outcome       | was it sent?                 |
|--------------------------------------------------------|---------------|------------------------------|
| 202 (200 in sandbox mode)                              | ACCEPTED      | yes (sandbox: nothing leaves)|
| 400, 413, other 4xx about the body                      | REJECTED      | no, and resending won't help |
| 429                                                    | RATE_LIMITED  | no, retry after the reset    |
| 401, 403, 404, 405, 415; connection refused; bad host  | NOT_SENT      | no (a configuration problem) |
| 5xx, timeout, connection reset, anything else          | UNKNOWN       | maybe: never send it again   |

The library raises `python_http_client.exceptions.HTTPError` subclasses for non-2xx answers (with `.status_code`,
`.body`, `.headers`) and lets urllib's `URLError` / `TimeoutError` through for transport failures.
"""

from __future__ import annotations

import enum
import http.client
import json
import socket
import urllib.error
from dataclasses import dataclass, field

import python_http_client.exceptions as http_errors
import sendgrid

from nps import connections

NOT_SENT_STATUSES = {401, 403, 404, 405, 415}


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RATE_LIMITED = "rate_limited"
    NOT_SENT = "not_sent"
    UNKNOWN = "unknown"


@dataclass
class PostResult:
    outcome: Outcome
    status: int | None = None
    message_id: str | None = None
    error: str | None = None
    rate_limit_reset: float | None = None  # X-RateLimit-Reset, Unix seconds
    errors: list[dict] = field(default_factory=list)  # SendGrid's `errors[]`


def make_client(conn: connections.Conn | None = None) -> sendgrid.SendGridAPIClient:
    """The API client for the `nps_sendgrid` connection (host, password = API key)."""
    conn = conn or connections.get("nps_sendgrid")
    if not conn.password:
        raise RuntimeError("connection nps_sendgrid has no password: put the SendGrid API key there")
    host = conn.base_url.rstrip("/") if conn.host else "https://api.sendgrid.com"
    return sendgrid.SendGridAPIClient(api_key=conn.password, host=host)


def _header(headers, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None


def _errors(body) -> list[dict]:
    try:
        data = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _error_text(status: int | None, errors: list[dict], body) -> str:
    if errors:
        parts = [f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message")) for e in errors]
        text = "; ".join(parts)
    else:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return f"HTTP {status}: {text}"[:2000] if status else text[:2000]


def post_mail(client: sendgrid.SendGridAPIClient, body: dict, timeout: float) -> PostResult:
    """One `POST /v3/mail/send`; never raises for HTTP or transport failures (see the module table)."""
    try:
        response = client.client.mail.send.post(request_body=body, timeout=timeout)
    except http_errors.HTTPError as exc:
        status = int(exc.status_code)
        errors = _errors(exc.body)
        text = _error_text(status, errors, exc.body)
        if status == 429:
            reset = _header(exc.headers, "X-RateLimit-Reset")
            try:
                reset_at = float(reset) if reset else None
            except ValueError:
                reset_at = None
            return PostResult(Outcome.RATE_LIMITED, status, error=text, rate_limit_reset=reset_at, errors=errors)
        if status in NOT_SENT_STATUSES:
            return PostResult(Outcome.NOT_SENT, status, error=text, errors=errors)
        if status >= 500:
            return PostResult(Outcome.UNKNOWN, status, error=text, errors=errors)
        return PostResult(Outcome.REJECTED, status, error=text, errors=errors)
    except urllib.error.URLError as exc:
        # Refused or unresolvable: the request never left this machine.
        if isinstance(exc.reason, ConnectionRefusedError | socket.gaierror):
            return PostResult(Outcome.NOT_SENT, error=f"connection failed: {exc.reason}")
        return PostResult(Outcome.UNKNOWN, error=f"transport error: {exc.reason!r}")
    except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
        return PostResult(Outcome.UNKNOWN, error=f"transport error: {exc!r}")
    status = int(response.status_code)
    if status in (200, 202):
        return PostResult(Outcome.ACCEPTED, status, message_id=_header(response.headers, "X-Message-Id"))
    # Another 2xx/3xx is not in SendGrid's contract: we cannot tell what happened.
    return PostResult(Outcome.UNKNOWN, status, error=f"unexpected HTTP {status} from mail/send")


def get_json(client: sendgrid.SendGridAPIClient, path: str, query: dict, timeout: float):
    """GET a v3 path such as `suppression/bounces` (no leading `/v3/`); raises on any failure."""
    node = client.client
    for segment in path.strip("/").split("/"):
        node = node._(segment)
    response = node.get(query_params=query, timeout=timeout)
    body = response.body
    return json.loads(body.decode("utf-8") if isinstance(body, bytes) else body or "null")
