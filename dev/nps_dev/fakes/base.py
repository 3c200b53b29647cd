"""A small threaded HTTP server base shared by the fakes (stdlib only, loopback, HTTP/1.1 keep-alive).

Each fake implements `handle(req) -> Response`; the base does the socket work, optional injected faults
(latency, a fraction of 500s, or the next N requests failing) and a clean stop.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from nps_dev.fakes import fastjson

log = logging.getLogger("nps_dev.fakes")


@dataclass
class Request:
    method: str
    path: str  # percent-decoded (UTF-8)
    raw_path: str
    query: str  # raw query string (still encoded)
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client: str = "127.0.0.1"

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data, status: int = 200, headers: dict | None = None) -> Response:
        return cls(status, fastjson.dumps(data), {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": content_type})


@dataclass
class Faults:
    """Injected faults: every request waits `latency` s; a fraction `error_rate` answers 500; `fail_next` forces it."""

    latency: float = 0.0
    error_rate: float = 0.0
    fail_next: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def should_fail(self) -> bool:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return self.error_rate > 0 and self._rng.random() < self.error_rate


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nps-fake/1.0"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, 40 ms per keep-alive request

    def log_message(self, fmt, *args):  # quiet by default; debug logging on demand
        log.debug("%s %s", self.address_string(), fmt % args)

    def _serve(self) -> None:
        fake: FakeServer = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        req = Request(self.command, unquote(parts.path, encoding="utf-8"), parts.path, parts.query,
                      {k.lower(): v for k, v in self.headers.items()}, body, self.client_address[0])
        try:
            if fake.faults.latency:
                time.sleep(fake.faults.latency)
            if fake.faults.should_fail():
                resp = fake.fault_response(req)
            else:
                resp = fake.handle(req)
        except Exception:  # a fake must answer, never hang the client
            log.exception("fake %s failed on %s %s", type(fake).__name__, self.command, self.path)
            resp = fake.fault_response(req)
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        if self.command != "HEAD" and len(resp.body) < 65536:  # one write for headers and a small body
            self._headers_buffer.append(b"\r\n" + resp.body)
            self.flush_headers()
            return
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class FakeServer:
    """Base: subclasses implement `handle`; `start()` binds 127.0.0.1:port (0 = free port) in a daemon thread."""

    name = "fake"

    def __init__(self, *, latency: float = 0.0, error_rate: float = 0.0, seed: int = 0) -> None:
        self.faults = Faults(latency=latency, error_rate=error_rate, seed=seed)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def handle(self, req: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def fault_response(self, req: Request) -> Response:
        return Response.json({"error": "internal server error"}, 500)

    def start(self, port: int = 0, host: str = "127.0.0.1") -> FakeServer:
        self._server = _Server((host, port), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextlib.contextmanager
def gc_paused(freeze: bool = False):
    """Millions of small dicts are built at once: the cyclic GC would rescan them again and again for nothing.
    `freeze=True` (a server's data, kept for its lifetime) also keeps them out of every later collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        if freeze:
            gc.freeze()


def load_json_array(path) -> list:
    data = fastjson.loads(path.read_bytes())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of objects")
    return data
