"""Workload 4: the collector under answer POSTs (bench/collector_load.py) next to a bare uvicorn "hello" anchor.

The anchor gets the same client, the same requests, the same concurrency and the same number of uvicorn workers:
what is left between the two is the collector's own work (token check, validation, the insert).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys

from bench import collector_load
from bench.common import Result, Row, RssSampler, fmt, stop_process, verdict
from nps.config import REPO_ROOT

SIZES = {"full": 20_000, "quick": 3_000}


def hello(n: int, concurrency: int, workers: int) -> dict:
    port = collector_load._free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.hello_app:app", "--port", str(port),
                             "--host", "127.0.0.1", "--workers", str(workers), "--no-access-log",
                             "--log-level", "warning"], cwd=REPO_ROOT, start_new_session=True)
    try:
        _wait(port, proc)
        secret = secrets.token_urlsafe(24)
        warm, _ = collector_load._requests(500, secret)
        asyncio.run(collector_load._drive(port, warm, concurrency))
        requests, _ = collector_load._requests(n, secret)
        latencies, errors, elapsed = asyncio.run(collector_load._drive(port, requests, concurrency))
    finally:
        stop_process(proc)
    latencies.sort()
    return {"answers_per_s": round(n / elapsed), "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1),
            "errors": len(errors)}


def _wait(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn hello exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("uvicorn hello did not start")


def run(quick: bool = False, n: int | None = None, concurrency: int = 32, workers: int = 2) -> Result:
    n = n or SIZES["quick" if quick else "full"]
    result = Result("collector answers", f"{n:,} POSTs over {concurrency} keep-alive connections, "
                                         f"{workers} uvicorn workers")
    with RssSampler() as rss:
        ours = collector_load.run(n, concurrency, workers)
        anchor = hello(n, concurrency, workers)
    result.rows.append(Row("answers/s", fmt(ours["answers_per_s"]), f"{fmt(anchor['answers_per_s'])} (hello)",
                           f"{ours['answers_per_s'] / anchor['answers_per_s']:.0%} of hello", ">= 2,000/s",
                           verdict(ours["answers_per_s"] >= 2000)))
    result.rows.append(Row("p99 latency", f"{ours['p99_ms']} ms", f"{anchor['p99_ms']} ms (hello)",
                           f"{ours['p99_ms'] / max(anchor['p99_ms'], 0.01):.1f}x", "< 50 ms",
                           verdict(ours["p99_ms"] < 50)))
    result.rows.append(Row("lost / errors", f"{ours['lost']} / {ours['errors']}", f"- / {anchor['errors']}", "-",
                           "0 lost", verdict(ours["lost"] == 0 and ours["errors"] == 0)))
    cap = ours.get("capacity_2_dedicated_cores_per_s")
    if cap:
        result.rows.append(Row("CPU-based capacity, 2 dedicated cores", f"{fmt(cap)}/s",
                               "-", "-", ">= 2,000/s", verdict(cap >= 2000)))
    result.notes.append(f"load average at the end: {ours['load_avg_1m']}; CPU ms per answer: "
                        f"{ours['cpu_ms_per_answer']}")
    result.peak_rss_mib = rss.peaks
    result.raw = {"ours": ours, "hello": anchor}
    return result
