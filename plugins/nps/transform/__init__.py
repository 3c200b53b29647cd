"""Runs the dbt project (dbt_project/) in-process with dbtRunner, credentials from the `nps_warehouse` connection.

Two paths build the same thing: Airflow's `nps_transform` renders one Cosmos task per model (nps.transform.dbt_group),
and `build()` runs the same cadence in ONE `dbt build` (the cheap path for replays and the demo).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from nps.config import REPO_ROOT, dbt_env, settings, state_dir

log = logging.getLogger(__name__)

PROJECT_DIR = REPO_ROOT / "dbt_project"
MANIFEST_PATH = PROJECT_DIR / "target" / "manifest.json"
# The cadences (dbt_project/selectors.yml): `nightly` builds everything after a 1C / CRM load, `answers` the answer
# side and every mart after a responses load, on the purchase side the last nightly run built.
NIGHTLY, ANSWERS = "nightly", "answers"
CADENCES = (NIGHTLY, ANSWERS)
# Unit tests check the models' logic on fixed inputs and cannot change between runs: left to CI (make dbt-build).
PIPELINE_ENV = {"DBT_EXCLUDE_RESOURCE_TYPES": "unit_test"}  # dbt's --exclude-resource-type (snapshot has no such flag)
PROFILE_ENV = ("NPS_WAREHOUSE_HOST", "NPS_WAREHOUSE_PORT", "NPS_WAREHOUSE_USER", "NPS_WAREHOUSE_PASSWORD",
               "NPS_WAREHOUSE_DB")
_lock = threading.Lock()  # dbtRunner is not re-entrant within one process


class DbtError(RuntimeError):
    """A dbt command failed; the message names the failing nodes."""


@dataclass
class DbtRun:
    command: str
    success: bool
    statuses: dict[str, str] = field(default_factory=dict)  # unique_id -> status
    messages: dict[str, str] = field(default_factory=dict)  # unique_id -> message (failures only)

    def count(self, *statuses: str) -> int:
        return sum(1 for s in self.statuses.values() if s in statuses)

    @property
    def failures(self) -> dict[str, str]:
        return {k: self.messages.get(k, s) for k, s in self.statuses.items()
                if s in ("error", "fail", "runtime error")}


def cadence_for(triggered_by: Sequence[str], responses_uri: str, asked: str = "auto") -> str:
    """The cadence of an nps_transform run: `answers` when only the responses load triggered it, else `nightly`
    (a 1C / CRM load, a manual or a scheduled run); a cadence asked for by the run's params wins."""
    if asked != "auto":
        if asked not in CADENCES:
            raise ValueError(f"unknown cadence {asked!r}: auto or one of {', '.join(CADENCES)}")
        return asked
    return ANSWERS if triggered_by and set(triggered_by) == {responses_uri} else NIGHTLY


def profile_env() -> dict[str, str]:
    """profiles.yml's env vars, from the `nps_warehouse` connection (Airflow connection or AIRFLOW_CONN_* env var)."""
    from nps.connections import get

    conn = get("nps_warehouse")
    if not conn.host or not conn.schema:
        raise DbtError("connection nps_warehouse needs a host and a database (schema field)")
    return {"NPS_WAREHOUSE_HOST": conn.host, "NPS_WAREHOUSE_PORT": str(conn.port or 5432),
            "NPS_WAREHOUSE_USER": conn.login, "NPS_WAREHOUSE_PASSWORD": conn.password,
            "NPS_WAREHOUSE_DB": conn.schema}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def snapshot_at(moment: datetime | None) -> str | None:
    """The snapshot validity stamp for a run as of `moment`: Europe/Kyiv wall time, like 1C's timestamps."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("snapshot_at needs a timezone-aware datetime")
    return moment.astimezone(ZoneInfo(settings().timezone)).strftime("%Y-%m-%dT%H:%M:%S")


def session_env(as_of: datetime | None = None) -> dict[str, str]:
    """libpq options for dbt's sessions: the run's instant as `nps.snapshot_at` (macros/snapshot_time.sql)."""
    stamp = snapshot_at(as_of)
    return {"PGOPTIONS": f"-c nps.snapshot_at={stamp}"} if stamp else {}


def default_target_path() -> Path:
    """Where Airflow tasks and replays keep dbt's artifacts: not dbt_project/target (the manifest Cosmos renders)."""
    return state_dir() / "dbt-target"


def run(args: Sequence[str], *, target_path: Path | str | None = None, as_of: datetime | None = None,
        dbt_vars: dict | None = None, check: bool = True, env: dict[str, str] | None = None) -> DbtRun:
    """`dbt <args>` against the nps_warehouse connection, in this process (dbt_vars: e.g. {"marts_schema": ...})."""
    import json

    from dbt.cli.main import dbtRunner

    target = Path(target_path or default_target_path())
    cli = list(args) + ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
                        "--target-path", str(target), "--log-path", str(target / "logs")]
    if dbt_vars:
        cli += ["--vars", json.dumps(dbt_vars)]
    with _lock, _environment({**profile_env(), **dbt_env(), **session_env(as_of), **(env or {})}):
        log.info("dbt %s", " ".join(args))
        result = dbtRunner().invoke(cli)
    outcome = DbtRun(command=args[0], success=bool(result.success))
    for node in getattr(result.result, "results", None) or []:
        uid = getattr(getattr(node, "node", None), "unique_id", None) or str(node)
        status = str(getattr(node.status, "value", node.status))
        outcome.statuses[uid] = status
        if status in ("error", "fail", "runtime error", "warn"):
            outcome.messages[uid] = str(getattr(node, "message", "") or status)
    if check and not outcome.success:
        detail = "; ".join(f"{k}: {v}" for k, v in list(outcome.failures.items())[:10])
        if result.exception is not None:
            detail = f"{detail}; {result.exception}" if detail else str(result.exception)
        raise DbtError(f"dbt {args[0]} failed: {detail or 'see the dbt log'}")
    return outcome


def build(as_of: datetime | None = None, *, cadence: str = NIGHTLY, full_refresh: bool = False,
          target_path: Path | str | None = None, dbt_vars: dict | None = None) -> DbtRun:
    """One `dbt build` of a cadence (dbt_project/selectors.yml): the same selection and result as nps_transform's
    Cosmos tasks. Unit tests are left to CI (PIPELINE_ENV)."""
    if cadence not in CADENCES:
        raise ValueError(f"unknown cadence {cadence!r}: one of {', '.join(CADENCES)}")
    args = ["build", "--selector", cadence, *(["--full-refresh"] if full_refresh else [])]
    outcome = run(args, target_path=target_path, as_of=as_of, dbt_vars=dbt_vars, env=PIPELINE_ENV)
    log.info("dbt build (%s): %d ok, %d warn, %d skipped", cadence,
             outcome.count("success", "pass"), outcome.count("warn"), outcome.count("skipped"))
    return outcome


def source_freshness(target_path: Path | str | None = None) -> DbtRun:
    """`dbt source freshness`: fails when a source is past error_after (or unreadable); warnings are logged.

    dbt measures age against the database's wall clock, while a replay (the demo) stamps `_loaded_at` with its
    simulated time: under `NPS_SIMULATION=1` the check is skipped, loudly, instead of failing every replayed day.
    """
    from nps import clock

    if clock.simulated():
        log.warning("simulated replay (NPS_SIMULATION=1): dbt source freshness skipped, it reads the wall clock")
        return DbtRun(command="source freshness (skipped: simulated clock)", success=True)
    outcome = run(["source", "freshness"], target_path=target_path, check=False)
    for uid, message in outcome.messages.items():
        log.warning("freshness %s: %s", uid, message)
    if outcome.failures or not outcome.success:
        raise DbtError("raw sources are stale: " + ", ".join(sorted(outcome.failures)) if outcome.failures
                       else "dbt source freshness failed")
    return outcome


def parse(target_path: Path | str | None = None) -> Path:
    """`dbt parse` (no database needed); `make dbt-manifest` does the same for Cosmos' MANIFEST_PATH."""
    target = Path(target_path or MANIFEST_PATH.parent)
    run(["parse"], target_path=target)
    return target / "manifest.json"


def manifest_is_current(manifest: Path = MANIFEST_PATH) -> bool:
    """The manifest exists and is newer than every file of the project (cheap: a stat walk, no dbt)."""
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    for path in PROJECT_DIR.rglob("*"):
        if path.is_file() and not {"target", "logs", "dbt_packages"} & set(path.relative_to(PROJECT_DIR).parts):
            if path.suffix in {".sql", ".yml", ".yaml", ".csv"} and path.stat().st_mtime > built:
                return False
    return True
