"""dbt source freshness, in words: reads `target/sources.json` and fails naming each stale source and its age.

    source raw.onec_sales is stale: last loaded 3 days 4 hours ago (error after 2 days)

`dbt source freshness` runs first in `nps_transform`; its task then calls `check_sources_json()`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from nps.config import REPO_ROOT

log = logging.getLogger(__name__)


class SourceFreshnessError(RuntimeError):
    """One or more dbt sources are past their `error_after`."""


@dataclass(frozen=True)
class SourceStatus:
    source: str                       # raw.onec_sales
    status: str                       # pass | warn | error | runtime error
    age_seconds: float | None
    message: str


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def format_age(seconds: float) -> str:
    """277_200 s -> '3 days 5 hours'; under a minute -> 'less than a minute'."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = []
    if days:
        parts.append(_plural(days, "day"))
    if hours:
        parts.append(_plural(hours, "hour"))
    if minutes and not days:
        parts.append(_plural(minutes, "minute"))
    return " ".join(parts) if parts else "less than a minute"


def _threshold(criteria: dict, key: str) -> str | None:
    rule = (criteria or {}).get(key) or {}
    if rule.get("count") is None or not rule.get("period"):
        return None
    return _plural(int(rule["count"]), rule["period"])


def source_name(unique_id: str) -> str:
    """source.<project>.<source>.<table> -> <source>.<table>"""
    parts = unique_id.split(".")
    return ".".join(parts[2:]) if len(parts) >= 4 and parts[0] == "source" else unique_id


def read_statuses(data: dict) -> list[SourceStatus]:
    out = []
    for item in data.get("results") or []:
        name = source_name(item.get("unique_id", "?"))
        status = item.get("status", "?")
        age = item.get("max_loaded_at_time_ago_in_s")
        if status == "runtime error":
            message = f"source {name}: freshness could not be checked: {item.get('error') or 'unknown error'}"
        elif status in ("error", "warn"):
            limit_key = "error_after" if status == "error" else "warn_after"
            limit = _threshold(item.get("criteria") or {}, limit_key)
            when = f"last loaded {format_age(age)} ago" if age is not None else "never loaded"
            label = "stale" if status == "error" else "getting stale"
            message = f"source {name} is {label}: {when}"
            if limit:
                message += f" ({limit_key.replace('_', ' ')} {limit})"
        else:
            message = f"source {name} is fresh" + (f": last loaded {format_age(age)} ago" if age is not None else "")
        out.append(SourceStatus(name, status, age, message))
    return out


def default_path() -> Path:
    return Path(os.environ.get("DBT_PROJECT_DIR") or REPO_ROOT / "dbt_project") / "target" / "sources.json"


def check_sources_json(path: str | Path | None = None) -> list[SourceStatus]:
    """Raise SourceFreshnessError naming every stale source; log the warnings; return all statuses."""
    path = Path(path) if path else default_path()
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `dbt source freshness` first")
    statuses = read_statuses(json.loads(path.read_text()))
    for s in statuses:
        if s.status == "warn":
            log.warning(s.message)
    failed = [s for s in statuses if s.status in ("error", "runtime error")]
    if failed:
        raise SourceFreshnessError("; ".join(s.message for s in failed))
    return statuses
