"""A local durable spool for rows the database could not take right now (JSON lines, fsync'ed before we answer).

Files move through three names, and every move is an atomic rename in one directory:

    active-<pid>-<ns>.jsonl   one per writing process, held under an exclusive flock while the process lives
    ready-<ns>-<pid>.jsonl    sealed: nobody writes to it any more; waiting for replay
    <ready name>.claimed      claimed by exactly one replayer (the rename is the claim), deleted after commit

Replay owner: whoever claims a sealed file first. Normally that is the collector's own background task (the spool
lives on the collector's disk); `nps_load_responses` sweeps the same directory when it can see it (one host, the
demo), so a collector that is not running cannot strand answers. Both run the one replayer,
`nps.collector.store.replay`. The rename makes each file have one owner; a claim left by a replayer that crashed is
released after `stale_claim_s`, and the file's name in `landing.spool_files` keeps a second replay from landing it
again.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from datetime import date, datetime
from pathlib import Path

from nps.config import state_dir

log = logging.getLogger(__name__)


def default_dir() -> Path:
    """`NPS_SPOOL_DIR`, else `.nps/spool`: the collector writes there and the loader's sweep looks there."""
    return Path(os.environ.get("NPS_SPOOL_DIR") or state_dir() / "spool")


def _default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory: Path, stale_claim_s: float = 600.0):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.stale_claim_s = stale_claim_s
        self._lock = threading.Lock()
        self._fh = None
        self._path: Path | None = None

    # --- writing ---
    def append(self, records: list[dict]) -> None:
        """Append records durably: returns only after the bytes are fsync'ed (then we may say "thank you")."""
        data = b"".join(json.dumps(r, ensure_ascii=False, separators=(",", ":"), default=_default).encode() + b"\n"
                        for r in records)
        with self._lock:
            if self._fh is None:
                self._path = self.dir / f"active-{os.getpid()}-{time.time_ns()}.jsonl"
                self._fh = open(self._path, "ab")
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                _fsync_dir(self.dir)
            self._fh.write(data)
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def has_active(self) -> bool:
        return self._fh is not None

    def seal(self) -> None:
        """Close this process's active file and make it replayable."""
        with self._lock:
            if self._fh is None:
                return
            path, self._path = self._path, None
            self._fh.close()  # also drops the flock
            self._fh = None
            self._make_ready(path)

    def _make_ready(self, path: Path) -> None:
        if path.stat().st_size == 0:
            path.unlink()
        else:
            path.rename(self.dir / f"ready-{time.time_ns()}-{os.getpid()}.jsonl")
        _fsync_dir(self.dir)

    def seal_orphans(self) -> int:
        """Seal active files whose writer died (its flock is gone). Live writers keep theirs."""
        sealed = 0
        for path in sorted(self.dir.glob("active-*.jsonl")):
            if path == self._path:
                continue
            try:
                fh = open(path, "rb")
            except FileNotFoundError:
                continue
            with fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process still writes it
                if path.exists():
                    self._make_ready(path)
                    sealed += 1
        return sealed

    # --- replaying ---
    def release_stale_claims(self) -> None:
        cutoff = time.time() - self.stale_claim_s
        for path in self.dir.glob("ready-*.jsonl.claimed"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.rename(path.with_suffix(""))
                    log.warning("spool: released stale claim %s", path.name)
            except FileNotFoundError:
                continue

    def claim(self) -> list[Path]:
        """Claim every sealed file; a rename that loses the race means another replayer owns that file."""
        self.release_stale_claims()
        claimed = []
        for path in sorted(self.dir.glob("ready-*.jsonl")):
            target = path.with_name(path.name + ".claimed")
            try:
                path.rename(target)
            except FileNotFoundError:
                continue
            os.utime(target)
            claimed.append(target)
        return claimed

    def pending(self) -> int:
        return sum(1 for _ in self.dir.glob("ready-*.jsonl")) + sum(1 for _ in self.dir.glob("active-*.jsonl"))

    @staticmethod
    def read(path: Path) -> tuple[list[dict], list[str]]:
        """Records and unreadable lines. A torn last line (crash mid-write) was never acknowledged: skipped."""
        records, bad = [], []
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        if lines and lines[-1] != b"":
            log.warning("spool: %s ends with a torn line (a write interrupted before fsync); skipped", path.name)
        for line in lines[:-1]:
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                bad.append(line.decode("utf-8", "replace"))
        return records, bad

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _fsync_dir(self.dir)

    def release(self, path: Path) -> None:
        """Give a claimed file back (the replay failed); the next replay tries again."""
        path.rename(path.with_name(path.name.removesuffix(".claimed")))
