"""Load test of the survey collector on loopback (contract goal: >= 2,000 answers/s, p99 < 50 ms on 2 cores, 0 lost).

    . .nps/env && .venv/bin/python -m bench.collector_load            # 20,000 answers over 32 connections
    . .nps/env && .venv/bin/python -m bench.collector_load --quick    # 3,000 answers (a smoke run)

Starts `nps collector --workers 2` against a throwaway database on the project's Postgres, POSTs every answer the
way the survey page does on load (form body, `Accept: application/json`) over keep-alive connections from a light
raw-socket asyncio client, then counts the rows in `landing.responses`: lost = sent - stored (spooled rows count as
stored only after the collector replays them). The client shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from nps import tokens, warehouse
from nps.config import REPO_ROOT

BENCH_PASSWORD = "nps-collector-bench-pw"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _collector_url(db_url: str) -> str:
    """nps_collector on the bench database (see nps.warehouse.collector_dsn)."""
    return warehouse.collector_dsn(db_url, BENCH_PASSWORD)


async def _worker(port: int, requests: list[bytes], next_index: list[int], latencies: list[float],
                  errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while next_index[0] < len(requests):
            i = next_index[0]
            next_index[0] += 1
            started = time.perf_counter()
            writer.write(requests[i])
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            latencies.append(time.perf_counter() - started)
            if not status_line.startswith(b"HTTP/1.1 200") or b'"ok":true' not in body:
                errors.append(f"{status_line.decode().strip()} {body[:200]!r}")
    finally:
        writer.close()


def _requests(n: int, secret: str) -> tuple[list[bytes], list[str]]:
    run = secrets.token_hex(3)
    ids = [f"bench-{run}-{i}" for i in range(n)]
    out = []
    for i, survey in enumerate(ids):
        token = tokens.mint(survey, ttl=timedelta(days=60), secret=secret)
        body = f"score={i % 11}&lang=uk".encode()
        out.append(
            f"POST /s/{token}?lang=uk HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
            f"User-Agent: nps-bench\r\n\r\n".encode() + body)
    return out, ids


async def _drive(port: int, requests: list[bytes], concurrency: int) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    next_index = [0]
    started = time.perf_counter()
    await asyncio.gather(*(_worker(port, requests, next_index, latencies, errors) for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


def _wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"collector exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("collector did not become healthy")


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a process and its children; 0 when unknown."""
    if not pid:
        return 0.0
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def _postmaster_pid() -> int | None:
    """Our own Postgres (when the bench runs on the project's embedded server), to count its CPU too."""
    from nps_dev.pgserver import external_warehouse_url, local_postgres

    if external_warehouse_url():
        return None
    pid_file = local_postgres().data_dir / "postmaster.pid"
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def run(n: int, concurrency: int, workers: int, warmup: int = 500) -> dict:
    server_url = os.environ.get("NPS_WAREHOUSE_URL")
    if not server_url:
        raise SystemExit("NPS_WAREHOUSE_URL is not set: `. .nps/env` first (make db-up starts Postgres)")
    name = f"nps_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    db_url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    port = _free_port()
    secret = secrets.token_urlsafe(24)
    proc = None
    try:
        warehouse.bootstrap(db_url)
        spool_dir = Path(tempfile.mkdtemp(prefix="nps-bench-spool-"))
        env = {**os.environ, "NPS_COLLECTOR_DB_URL": _collector_url(db_url), "NPS_TOKEN_SECRET": secret,
               "NPS_COLLECTOR_RATE_LIMIT": "0", "NPS_SPOOL_DIR": str(spool_dir), "NPS_SIMULATION": "0",
               "NPS_COLLECTOR_POOL_MAX": os.environ.get("NPS_COLLECTOR_POOL_MAX", "8")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "nps.collector.cli", "--port", str(port), "--workers", str(workers),
             "--no-access-log", "--log-level", "warning"], env=env, cwd=REPO_ROOT, start_new_session=True)
        _wait_healthy(port, proc)
        warm, _ = _requests(warmup, secret)
        asyncio.run(_drive(port, warm, concurrency))  # connection pools filled, statements prepared
        requests, ids = _requests(n, secret)
        pg_pid = _postmaster_pid()
        cpu_before = (_tree_cpu(proc.pid), _tree_cpu(pg_pid), time.process_time())
        latencies, errors, elapsed = asyncio.run(_drive(port, requests, concurrency))
        cpu_after = (_tree_cpu(proc.pid), _tree_cpu(pg_pid), time.process_time())
        server_cpu, pg_cpu, client_cpu = (after - before for before, after in zip(cpu_before, cpu_after, strict=True))
        deadline = time.monotonic() + 30
        with psycopg.connect(db_url) as conn:
            while True:  # spooled answers (if any) arrive when the collector replays them
                stored = conn.execute("select count(distinct survey_id) from landing.responses "
                                      "where survey_id = any(%s)", (ids,)).fetchone()[0]
                if stored == n or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            spooled = conn.execute("select count(*) from landing.responses where source = 'spool'").fetchone()[0]
        latencies.sort()

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

        return {"answers": n, "concurrency": concurrency, "workers": workers, "seconds": round(elapsed, 2),
                "answers_per_s": round(n / elapsed), "p50_ms": round(pct(0.50), 1), "p95_ms": round(pct(0.95), 1),
                "p99_ms": round(pct(0.99), 1), "max_ms": round(latencies[-1] * 1000, 1),
                "mean_ms": round(statistics.fmean(latencies) * 1000, 1), "errors": len(errors),
                "stored": stored, "spooled_then_replayed": spooled, "lost": n - stored, "cpus": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                # CPU per answer, so a run on a busy shared machine still tells what 2 dedicated cores would do
                "cpu_ms_per_answer": {"collector": round(server_cpu / n * 1000, 3),
                                      "postgres": round(pg_cpu / n * 1000, 3),
                                      "client": round(client_cpu / n * 1000, 3)},
                "capacity_2_dedicated_cores_per_s": round(2 / ((server_cpu + pg_cpu + client_cpu) / n))
                if pg_pid and server_cpu + pg_cpu + client_cpu > 0 else None,
                "first_errors": errors[:3]}
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 answers: a smoke run")
    parser.add_argument("-n", type=int, default=20_000, help="answers to send")
    parser.add_argument("-c", "--concurrency", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args(argv)
    n = 3_000 if args.quick else args.n
    result = run(n, args.concurrency, args.workers)
    for key, value in result.items():
        print(f"{key:>22}: {value}")
    ok = result["lost"] == 0 and result["errors"] == 0
    goal = result["answers_per_s"] >= 2000 and result["p99_ms"] < 50
    print(f"{'verdict':>22}: {'0 lost' if ok else 'LOST OR FAILED ANSWERS'}; "
          f"goal (>= 2,000/s, p99 < 50 ms) {'met' if goal else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
