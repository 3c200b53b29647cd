"""Client of 1C:Enterprise's standard OData interface (OData v3, reference/protocols.md §1).

Reads entity sets page by page with `$top`/`$skip` and a stable `$orderby` (1C sends no next link), fetching
the next page in a background thread while the caller loads the current one. Each page is split into its
objects *as 1C sent them* (msgspec `Raw`), so `payload` keeps the source text and nothing is re-encoded.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import quote

import httpx
import msgspec

from nps import connections
from nps.sources import RetryPolicy, SourceAuthError, SourceRequestError, SourceUnavailable

log = logging.getLogger(__name__)
if logging.getLogger("httpx").level == logging.NOTSET:  # one INFO line per request drowns the progress lines
    logging.getLogger("httpx").setLevel(logging.WARNING)
SYSTEM = "1C OData"
DEFAULT_PAGE_SIZE = 2000
# OData query values: keep what 1C's parser needs literally, percent-encode the rest (spaces as %20, not '+').
_SAFE = "$,'():=/-"


class _Page(msgspec.Struct):
    value: list[msgspec.Raw]


class _Error(msgspec.Struct, rename={"error": "odata.error"}):
    error: dict


_page_decoder = msgspec.json.Decoder(_Page)
_error_decoder = msgspec.json.Decoder(_Error)


def datetime_literal(value: datetime) -> str:
    """1C's literal: seconds, no time zone (the caller converts to 1C's local time first)."""
    return f"datetime'{value.replace(tzinfo=None, microsecond=0).isoformat(timespec='seconds')}'"


def guid_literal(value: str) -> str:
    return f"guid'{value}'"


def _page_size() -> int:
    raw = os.environ.get("NPS_ONEC_PAGE_SIZE")
    try:
        size = int(raw) if raw else DEFAULT_PAGE_SIZE
    except ValueError as exc:
        raise ValueError(f"setting NPS_ONEC_PAGE_SIZE must be an integer, got {raw!r}") from exc
    if size < 1:
        raise ValueError("setting NPS_ONEC_PAGE_SIZE must be positive")
    return size


class OneCClient:
    def __init__(self, service_root: str, login: str, password: str, *, conn_id: str = "nps_onec",
                 page_size: int | None = None, retry: RetryPolicy | None = None, timeout: float = 120.0,
                 prefetch: bool = True):
        if not service_root:
            raise ValueError(f"connection {conn_id} has no host: set it to the 1C OData service root")
        self.root = service_root if service_root.endswith("/") else service_root + "/"
        self.conn_id = conn_id
        self.page_size = page_size or _page_size()
        self.retry = retry or RetryPolicy.from_env()
        self.prefetch = prefetch
        self.requests = 0
        self._http = httpx.Client(auth=(login, password) if login else None, timeout=timeout,
                                  headers={"Accept": "application/json"})

    @classmethod
    def from_connection(cls, conn_id: str = "nps_onec", **kwargs) -> OneCClient:
        conn = connections.get(conn_id)
        extra = conn.extra or {}
        if "page_size" in extra and "page_size" not in kwargs:
            kwargs["page_size"] = int(extra["page_size"])
        return cls(conn.base_url if conn.host else "", conn.login, conn.password, conn_id=conn_id, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OneCClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- HTTP ------------------------------------------------------------------------------------------------

    def url(self, resource: str, params: dict[str, str | int] | None = None) -> str:
        url = self.root + quote(resource, safe="()'=-")
        query = {"$format": "json", **(params or {})}
        return url + "?" + "&".join(f"{k}={quote(str(v), safe=_SAFE)}" for k, v in query.items())

    def _get(self, resource: str, params: dict | None = None, *, allow_404: bool = False) -> bytes | None:
        url = self.url(resource, params)
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                self.requests += 1
                resp = self._http.get(url)
            except httpx.TransportError as exc:  # connection refused / reset, timeouts
                last = f"{type(exc).__name__}: {exc}"
            else:
                status = resp.status_code
                if status == 200:
                    return resp.content
                if status in (401, 403):
                    raise SourceAuthError(
                        f"{SYSTEM} at {self.root} rejected the credentials of connection {self.conn_id} "
                        f"({status}{self._error_text(resp)})")
                if status == 404 and allow_404 and self._error_code(resp) == "9":
                    return None
                if status in (400, 404):
                    raise SourceRequestError(
                        f"{SYSTEM} at {self.root} refused {resource!r} ({status}{self._error_text(resp)}): "
                        "check the names in onec_mapping.yml against the OData composition of the base")
                last = f"HTTP {status}{self._error_text(resp)}"
            if attempt < self.retry.attempts:
                delay = self.retry.delay(attempt)
                log.warning("%s: %s on %s; retry %d/%d in %.1f s", SYSTEM, last, resource, attempt,
                            self.retry.attempts - 1, delay)
                time.sleep(delay)
        raise SourceUnavailable(f"{SYSTEM} at {self.root} (connection {self.conn_id}) is unavailable: {last} "
                                f"after {self.retry.attempts} attempts")

    @staticmethod
    def _error_code(resp: httpx.Response) -> str | None:
        try:
            return str(_error_decoder.decode(resp.content).error.get("code"))
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    @staticmethod
    def _error_text(resp: httpx.Response) -> str:
        try:
            err = _error_decoder.decode(resp.content).error
            message = err.get("message")
            message = message.get("value") if isinstance(message, dict) else message
            return f", code {err.get('code')}: {message}"
        except (msgspec.DecodeError, msgspec.ValidationError):
            body = resp.text.strip().replace("\n", " ")
            return f": {body[:200]}" if body else ""

    # -- reads -----------------------------------------------------------------------------------------------

    def page(self, entity_set: str, *, filter: str | None = None, orderby: str | None = None,
             top: int | None = None, skip: int = 0) -> list[msgspec.Raw]:
        params: dict[str, str | int] = {}
        if filter:
            params["$filter"] = filter
        if orderby:
            params["$orderby"] = orderby
        if top:
            params["$top"] = top
        if skip:
            params["$skip"] = skip
        content = self._get(entity_set, params)
        try:
            return _page_decoder.decode(content).value
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise SourceRequestError(f"{SYSTEM} at {self.root}: {entity_set} did not answer with an OData JSON "
                                     f"list ({exc})") from exc

    def pages(self, entity_set: str, *, filter: str | None = None, orderby: str) -> Iterator[list[msgspec.Raw]]:
        """Every object matching `filter`, page by page. `orderby` must be unique so pages do not overlap."""
        top = self.page_size

        def fetch(skip: int) -> list[msgspec.Raw]:
            return self.page(entity_set, filter=filter, orderby=orderby, top=top, skip=skip)

        if not self.prefetch:
            skip = 0
            while True:
                rows = fetch(skip)
                yield rows
                if len(rows) < top:
                    return
                skip += top
        with ThreadPoolExecutor(1, thread_name_prefix="onec-prefetch") as pool:
            skip = 0
            future = pool.submit(fetch, 0)
            while future is not None:
                rows = future.result()
                # a full page may have a successor: ask for it while the caller loads this one
                future = pool.submit(fetch, skip + top) if len(rows) == top else None
                skip += top
                yield rows

    def get_by_key(self, entity_set: str, ref_key: str) -> msgspec.Raw | None:
        """One object by Ref_Key, or None when 1C answers 404 code 9 (no such object)."""
        content = self._get(f"{entity_set}(guid'{ref_key}')", allow_404=True)
        return None if content is None else msgspec.Raw(content)
