"""Shared bench plumbing: throwaway databases, fakes in their own process, peak-RSS sampling, result rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from nps import warehouse
from nps.config import REPO_ROOT

DATA_CACHE = REPO_ROOT / ".nps" / "bench-data"


@dataclass
class Row:
    """One line of a workload's table: what we measured, the anchor measured in the same run, and the verdict."""

    measure: str
    ours: str
    anchor: str = "-"
    ratio: str = "-"
    target: str = "-"
    verdict: str = "-"


@dataclass
class Result:
    workload: str
    scale: str
    rows: list[Row] = field(default_factory=list)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)  # process label -> peak RSS (MiB)
    notes: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def fmt(value: float, digits: int = 1) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


# ---- throwaway database ---------------------------------------------------------------------------------------------

def server_url() -> str:
    url = os.environ.get("NPS_BENCH_SERVER_URL") or os.environ.get("NPS_WAREHOUSE_URL")
    if not url:
        raise SystemExit("NPS_WAREHOUSE_URL is not set: `. .nps/env` first (make bench starts Postgres)")
    os.environ.setdefault("NPS_BENCH_SERVER_URL", url)  # workloads repoint NPS_WAREHOUSE_URL; keep the server's
    return url


@contextmanager
def throwaway_db(prefix: str = "nps_bench") -> Iterator[str]:
    """A fresh bootstrapped warehouse database (as the tests make), the env pointed at it, dropped after."""
    with warehouse.throwaway(server_url(), prefix) as url:
        yield url


# ---- generated data, cached per size --------------------------------------------------------------------------------

def generated_data(lines: int, customers: int, days: int = 77) -> Path:
    """The fake distributor at `lines` purchase lines (generated once per size under .nps/bench-data)."""
    from nps_dev.generator import GeneratorConfig, generate

    path = DATA_CACHE / f"lines{lines}-c{customers}-d{days}"
    if not (path / "meta" / "summary.json").exists():
        tmp = path.with_name(path.name + ".tmp")
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        generate(tmp, GeneratorConfig(seed=11, customers=customers, days=days, target_purchase_lines=lines))
        tmp.rename(path)
    return path


# ---- fakes in a process of their own (the client and the fake must not share one GIL) --------------------------

@contextmanager
def fake_process(kind: str, data: Path | None = None, **options) -> Iterator[str]:
    """Start bench/_fake.py serving one fake on a free port; yields its base URL (1C: the OData service root)."""
    cmd = [sys.executable, "-m", "bench._fake", kind, "--options", json.dumps(options)]
    if data is not None:
        cmd += ["--data", str(data)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("http"):
            raise RuntimeError(f"fake {kind} did not start (exit {proc.poll()}): {line!r}")
        yield line
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


# ---- peak RSS of this process and everything it started -------------------------------------------------------------

class RssSampler:
    """Samples RSS of this process and its descendants every `every` s; peak per process label (name + role)."""

    def __init__(self, every: float = 0.1):
        self.every = every
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._labels: dict[int, str] = {}

    def _label(self, proc: psutil.Process) -> str:
        if proc.pid not in self._labels:
            try:
                cmd = proc.cmdline()
            except psutil.Error:
                cmd = []
            if proc.pid == os.getpid():
                label = "bench (client + in-process work)"
            elif "bench._fake" in cmd:
                label = f"fake {cmd[cmd.index('bench._fake') + 1]}"
            elif "nps.collector.cli" in cmd:
                label = "collector"
            elif "uvicorn" in " ".join(cmd):
                label = "uvicorn hello"
            else:
                try:  # workers of a server we started (uvicorn's spawned processes, dbt's helpers) count as it
                    parent = proc.parent()
                    label = f"{self._label(parent)} worker" if parent and parent.pid != os.getpid() else None
                except psutil.Error:
                    label = None
                label = label or (proc.name() or "child")[:30]
            self._labels[proc.pid] = label
        return self._labels[proc.pid]

    def sample(self) -> None:
        me = psutil.Process()
        try:
            procs = [me, *me.children(recursive=True)]
        except psutil.Error:
            procs = [me]
        for proc in procs:
            try:
                rss = proc.memory_info().rss / 2**20
                label = self._label(proc)
            except psutil.Error:
                continue
            if rss < 1:  # short-lived helpers (uname, ...) caught mid-exec
                continue
            self.peaks[label] = max(self.peaks.get(label, 0.0), rss)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


@contextmanager
def timed() -> Iterator[list[float]]:
    box = [0.0]
    started = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - started
