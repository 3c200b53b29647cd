"""The one Bitrix24 REST client, over the incoming webhook of the `nps_crm` connection (reference/protocols.md §2.1).

The extraction reads contacts, companies and users with it (`nps.extract.run`); the close loop creates and reads
tasks (`nps.closeloop.crm_tasks`).

- Lists: `start=-1` with `order {ID: ASC}` and a `>ID` cursor (no COUNT on the portal; the documented way to
  export big tables); `user.get` with `start` offsets (it has no cursor filter).
- `batch` (up to 50 commands per call) where it saves calls: the first page of every list in one request.
- Leaky bucket: every request adds 1 to the portal's counter, which drains at `drain` per second; past
  `capacity` the portal answers 503 QUERY_LIMIT_EXCEEDED. The client keeps its own estimate of the counter and
  waits *before* a request that would overflow it; on a 503 it lowers its idea of the room left to what it had
  in flight (other apps share the portal's bucket), backs off, and from then on sends at the drain rate (never
  hammering). 429 OPERATION_TIME_LIMIT waits longer.
- One retry rule: a refusal for load (QUERY_LIMIT_EXCEEDED, OVERLOAD_LIMIT, OPERATION_TIME_LIMIT) means the portal
  ran nothing, so it is always waited out; connection errors, timeouts and 5xx are retried with `RetryPolicy`,
  except for a call that must not run twice (`idempotent=False`, e.g. tasks.task.add): that one is repeated only
  when the connection never opened, and a timeout after sending raises `Unconfirmed` (it may have been done).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import msgspec

from nps import connections
from nps.sources import RetryPolicy, SourceAuthError, SourceRequestError, SourceUnavailable

log = logging.getLogger(__name__)
if logging.getLogger("httpx").level == logging.NOTSET:  # one INFO line per request drowns the progress lines
    logging.getLogger("httpx").setLevel(logging.WARNING)
SYSTEM = "Bitrix24"
PAGE = 50  # fixed by Bitrix24
MAX_BATCH = 50


NULL = msgspec.Raw(b"null")


class _Envelope(msgspec.Struct):
    result: msgspec.Raw = NULL  # kept raw: rows are decoded one by one, so payloads keep the source's text
    next: int | None = None
    total: int | None = None
    error: str | None = None
    error_description: str | None = None


class _BatchResult(msgspec.Struct):
    result: dict[str, msgspec.Raw] | list = msgspec.field(default_factory=dict)
    result_error: dict[str, msgspec.Raw] | list = msgspec.field(default_factory=dict)
    result_next: dict[str, int] | list = msgspec.field(default_factory=dict)
    result_total: dict[str, int] | list = msgspec.field(default_factory=dict)


_envelope = msgspec.json.Decoder(_Envelope)
_rows = msgspec.json.Decoder(list[msgspec.Raw])
_batch = msgspec.json.Decoder(_BatchResult)
_WEBHOOK_CODE = re.compile(r"(/rest/\d+/)[^/]+/")


def mask(url: str) -> str:
    """A webhook URL without its secret code (safe for logs and error messages)."""
    return _WEBHOOK_CODE.sub(r"\1***/", url)


class Unconfirmed(SourceUnavailable):
    """A call that must not run twice failed after it may have reached the portal: whether it was done is unknown."""


class RateLimited(Exception):
    def __init__(self, code: str, wait: float | None = None):
        super().__init__(code)
        self.code, self.wait = code, wait


class LeakyBucket:
    """Our estimate of the portal's request counter (standard plan: capacity 50, drain 2/s)."""

    def __init__(self, capacity: float = 50, drain: float = 2.0, headroom: float = 0.8):
        self.capacity, self.drain = capacity, drain
        self.limit = max(1.0, capacity * headroom)  # leave room for other apps on the same portal
        self.level = 0.0
        self.rate = drain  # our pace once the bucket is at our limit
        self.stamp = time.monotonic()
        self.waited = 0.0
        self._lock = threading.Lock()

    def _leak(self) -> None:
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.stamp) * self.rate)
        self.stamp = now

    def acquire(self) -> None:
        with self._lock:
            self._leak()
            if self.level + 1 > self.limit:
                wait = (self.level + 1 - self.limit) / self.rate
                self.waited += wait
                time.sleep(wait)
                self._leak()
            self.level += 1

    def full(self) -> None:
        """The portal refused a request: its room is smaller than we thought (other apps share the bucket).

        Lower our limit to what was actually in flight, so from now on we send at the drain rate."""
        with self._lock:
            self._leak()
            self.limit = max(1.0, min(self.limit, self.level - 1))
            self.rate = self.drain * 0.9  # and send a little slower than the portal drains: clocks and queues jitter


def _php_query(params: dict, prefix: str = "") -> list[str]:
    """A nested dict as PHP's http_build_query (filter[>DATE_MODIFY]=…, select[]=…), for batch commands."""
    out: list[str] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            out += _php_query(value, name)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    out += _php_query(item, f"{name}[{i}]")
                else:
                    out.append(f"{quote(name, safe='[]')}[]={quote(str(item), safe='')}")
        else:
            out.append(f"{quote(name, safe='[]')}={quote(str(value), safe='')}")
    return out


def php_query(params: dict) -> str:
    return "&".join(_php_query(params))


class BitrixClient:
    def __init__(self, webhook: str, *, conn_id: str = "nps_crm", retry: RetryPolicy | None = None,
                 bucket: LeakyBucket | None = None, timeout: float = 60.0, max_rate_wait: float = 600.0):
        if not webhook.startswith(("http://", "https://")):
            raise ValueError(f"connection {conn_id} needs the http(s) webhook base …/rest/<user>/<code>/ as its "
                             f"host, got {mask(webhook)!r}")
        self.base = webhook if webhook.endswith("/") else webhook + "/"
        self.conn_id = conn_id
        self.retry = retry or RetryPolicy.from_env()
        self.bucket = bucket or LeakyBucket()
        self.max_rate_wait = max_rate_wait
        self.requests = 0
        self.rate_limited = 0  # 503 QUERY_LIMIT_EXCEEDED / 429 answers seen
        self._http = httpx.Client(timeout=timeout)

    @classmethod
    def from_connection(cls, conn_id: str = "nps_crm", **kwargs) -> BitrixClient:
        return cls.of(connections.get(conn_id), conn_id, **kwargs)

    @classmethod
    def of(cls, conn, conn_id: str = "nps_crm", **kwargs) -> BitrixClient:
        """A client for a connection already looked up (its webhook base; a leaky bucket from its extra)."""
        extra = conn.extra or {}
        if "bucket" not in kwargs and ("rate_capacity" in extra or "rate_drain" in extra):
            kwargs["bucket"] = LeakyBucket(float(extra.get("rate_capacity", 50)), float(extra.get("rate_drain", 2)))
        return cls(conn.base_url if conn.host else "", conn_id=conn_id, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BitrixClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one call --------------------------------------------------------------------------------------------

    def call(self, method: str, params: dict | None = None, *, idempotent: bool = True) -> _Envelope:
        """POST one method with a JSON body; waits out the rate limits and retries what is safe to retry (above)."""
        url = self.base + method + ".json"
        body = msgspec.json.encode(params or {})
        attempt, rate_waited, rate_hits, last = 0, 0.0, 0, ""
        while True:
            self.bucket.acquire()
            self.requests += 1
            try:
                resp = self._http.post(url, content=body, headers={"Content-Type": "application/json"})
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                if not idempotent and not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                    raise Unconfirmed(f"{SYSTEM} at {mask(self.base)} (connection {self.conn_id}): {method} may or "
                                      f"may not have been done ({last}); not repeated") from exc
            else:
                try:
                    return self._check(method, resp)
                except RateLimited as limited:
                    self.rate_limited += 1
                    rate_hits += 1
                    self.bucket.full()
                    # the bucket drains at `drain`/s: wait for a few slots, longer on repeated refusals
                    wait = limited.wait or min(30.0, (2 ** min(rate_hits, 5)) / self.bucket.drain)
                    if rate_waited + wait > self.max_rate_wait:
                        raise SourceUnavailable(
                            f"{SYSTEM} at {mask(self.base)} kept refusing {method} with {limited.code} for "
                            f"{rate_waited:.0f} s (rate limit of the portal; connection {self.conn_id})") from None
                    log.warning("%s: %s on %s; waiting %.1f s", SYSTEM, limited.code, method, wait)
                    rate_waited += wait
                    time.sleep(wait)
                    continue
                except SourceUnavailable as exc:
                    if not idempotent:
                        raise SourceUnavailable(f"{SYSTEM} at {mask(self.base)} (connection {self.conn_id}) "
                                                f"refused {method}: {exc}; not repeated") from None
                    last = str(exc)
            attempt += 1
            if attempt >= self.retry.attempts:
                raise SourceUnavailable(f"{SYSTEM} at {mask(self.base)} (connection {self.conn_id}) is unavailable: "
                                        f"{last} after {attempt} attempts")
            delay = self.retry.delay(attempt)
            log.warning("%s: %s on %s; retry %d/%d in %.1f s", SYSTEM, last, method, attempt,
                        self.retry.attempts - 1, delay)
            time.sleep(delay)

    def _check(self, method: str, resp: httpx.Response) -> _Envelope:
        status = resp.status_code
        try:
            env = _envelope.decode(resp.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            env = None
        code = (env.error if env else None) or ""
        text = f"{code} {env.error_description or ''}".strip() if env else resp.text[:200].strip()
        if status == 200 and env is not None and not code:
            return env
        if code in ("QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT"):
            raise RateLimited(code)
        if code == "OPERATION_TIME_LIMIT" or status == 429:
            raise RateLimited(code or "429", wait=10.0)
        if status in (401, 403) or code in ("NO_AUTH_FOUND", "expired_token", "INVALID_CREDENTIALS",
                                             "insufficient_scope", "ACCESS_DENIED"):
            raise SourceAuthError(f"{SYSTEM} at {mask(self.base)} rejected the webhook of connection {self.conn_id} "
                                  f"({status} {text})")
        if status >= 500 or status == 200:
            raise SourceUnavailable(f"HTTP {status} {text}")
        raise SourceRequestError(f"{SYSTEM} at {mask(self.base)} refused {method} ({status} {text}): check its "
                                 "parameters (the field names in crm_mapping.yml)", status)

    # -- lists -----------------------------------------------------------------------------------------------

    @staticmethod
    def rows(raw: msgspec.Raw | None) -> list[msgspec.Raw]:
        if raw is None or bytes(raw).strip() in (b"null", b"", b"[]", b"{}"):
            return []
        return _rows.decode(raw)

    def list_params(self, filter: dict, select: list[str], after_id: int = 0) -> dict:
        return {"order": {"ID": "ASC"}, "filter": {**filter, ">ID": after_id}, "select": select, "start": -1}

    def export(self, method: str, filter: dict, select: list[str], *, first: list[msgspec.Raw] | None = None,
               after_id: int = 0) -> Iterator[list[msgspec.Raw]]:
        """Pages of a `crm.*.list` by ID cursor (`start=-1`). `first`: a page already fetched (from a batch)."""
        rows = first
        while True:
            if rows is None:
                rows = self.rows(self.call(method, self.list_params(filter, select, after_id)).result)
            if rows:
                yield rows
            if len(rows) < PAGE:
                return
            last = msgspec.json.decode(rows[-1])
            after_id = int(last["ID"]) if isinstance(last, dict) and str(last.get("ID", "")).isdigit() else None
            if after_id is None:
                raise SourceRequestError(f"{SYSTEM}: {method} returned a row without a numeric ID; cannot page on")
            rows = None

    def offsets(self, method: str, params: dict, *, first: _Envelope | None = None) -> Iterator[list[msgspec.Raw]]:
        """Pages of a method that pages by `start` offsets and `next` (user.get)."""
        env = first or self.call(method, {**params, "start": 0})
        while True:
            rows = self.rows(env.result)
            if rows:
                yield rows
            if env.next is None or not rows:
                return
            env = self.call(method, {**params, "start": env.next})

    def batch(self, commands: dict[str, tuple[str, dict]]) -> dict[str, _Envelope]:
        """Run up to 50 commands in one request; a failed command raises with its error."""
        if len(commands) > MAX_BATCH:
            raise ValueError(f"a Bitrix24 batch takes at most {MAX_BATCH} commands")
        cmd = {name: f"{method}?{php_query(params)}" for name, (method, params) in commands.items()}
        env = self.call("batch", {"halt": 0, "cmd": cmd})
        try:
            res = _batch.decode(env.result)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise SourceUnavailable(f"{SYSTEM} at {mask(self.base)}: unexpected batch answer ({exc})") from exc
        errors = res.result_error if isinstance(res.result_error, dict) else {}
        out = {}
        for name in commands:
            if name in errors:
                err = msgspec.json.decode(errors[name])
                code = err.get("error") if isinstance(err, dict) else err
                if code == "QUERY_LIMIT_EXCEEDED":
                    raise SourceUnavailable(f"{SYSTEM}: batch command {name} hit QUERY_LIMIT_EXCEEDED")
                raise SourceRequestError(f"{SYSTEM} at {mask(self.base)} refused batch command {name} "
                                         f"({commands[name][0]}): {err}")
            results = res.result if isinstance(res.result, dict) else {}
            nexts = res.result_next if isinstance(res.result_next, dict) else {}
            totals = res.result_total if isinstance(res.result_total, dict) else {}
            out[name] = _Envelope(result=results.get(name, NULL), next=nexts.get(name), total=totals.get(name))
        return out
