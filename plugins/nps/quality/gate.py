"""The gates `nps_transform` and `nps_extract` call: GX on raw, row counts (the marts' rules are dbt's).

Each gate writes one row per expectation to `quality.expectation_results`, rebuild Data Docs, and raise an alert
(recorded, and e-mailed when NPS_ALERT_EMAILS is set) for warnings. Critical failures are returned, not raised:
the task calls `result.raise_if_critical()` so the failure callback alerts and the swap never happens.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg

from nps import clock
from nps.config import settings
from nps.quality import alerts, gx_runner, rowcounts, suites
from nps.quality.result import QualityResult, describe, write_rows
from nps.quality.settings import quality_settings

log = logging.getLogger(__name__)


def as_day(logical_date) -> date:
    """The run's day in the project's timezone, from a date, datetime (aware or not), ISO string or None (clock)."""
    if logical_date is None:
        return clock.local_day(clock.now())
    if isinstance(logical_date, str):
        try:
            logical_date = datetime.fromisoformat(logical_date)
        except ValueError as exc:
            raise ValueError(f"logical_date must be an ISO date or timestamp, got {logical_date!r}") from exc
    if isinstance(logical_date, datetime):
        return clock.local_day(logical_date) if logical_date.tzinfo else logical_date.date()
    if isinstance(logical_date, date):
        return logical_date
    raise TypeError(f"logical_date must be a date, datetime or ISO string, got {type(logical_date).__name__}")


def horizon(day: date, slack_hours: float) -> datetime:
    """After this instant a date is 'in the future' for the run of `day`: the end of the day plus slack (a nightly
    load runs after midnight and 1C clocks drift)."""
    tz = ZoneInfo(settings().timezone)
    return datetime.combine(day + timedelta(days=1), time(0), tz) + timedelta(hours=slack_hours)


def region_keys(dsn: str, seed) -> list[str] | None:
    """The dbt seed's spellings, normalised by the warehouse itself (same lower() and regex as dbt's macro)."""
    values = suites.seed_spellings(seed)
    if values is None:
        return None
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"select distinct {suites.normalize_spelling_sql('v')} from unnest(%s::text[]) as v",
                            (values,)).fetchall()
    return sorted(r[0] for r in rows if r[0])


def _finish(dsn: str, result: QualityResult, stage: str, day: date) -> QualityResult:
    with psycopg.connect(dsn, autocommit=True) as conn:
        write_rows(conn, result.rows)
    log.info(result.summary())
    for row in result.critical_failures:
        log.error("QUALITY CRITICAL %s", describe(row))
    for row in result.warnings:
        log.warning("QUALITY WARNING %s", describe(row))
    if result.warnings and not result.critical_failures:
        alerts.raise_alert(dsn, "quality_warning", f"{stage} gate passed with {len(result.warnings)} warning(s)",
                           run_id=result.run_id, logical_date=day,
                           details={"warnings": [describe(r) for r in result.warnings],
                                    "data_docs": result.data_docs})
    return result


def _select(all_suites: list, only) -> list:
    if only is None:
        return all_suites
    wanted = {only} if isinstance(only, str) else set(only)
    unknown = wanted - {s.name for s in all_suites}
    if unknown:
        raise ValueError(f"unknown suite(s) {sorted(unknown)}; known: {[s.name for s in all_suites]}")
    return [s for s in all_suites if s.name in wanted]


def validate_raw(dsn: str, run_id: str, logical_date=None, build_docs: bool = True,
                 row_counts: bool = True, only=None) -> QualityResult:
    """Suites on the raw landings plus (unless `row_counts=False`) the row-count checks. Call before dbt build.

    Row counts only ever warn (an empty or unusual load alerts, it never stops the answers). Pass `row_counts=False`
    for transform runs that no extraction preceded (e.g. triggered by an hourly responses load before the night's
    extraction): there the day's load has not happened yet and its 0 rows would be a false warning.
    `only`: a suite name or names to run (all by default), e.g. to re-check one suite by hand.
    """
    cfg = quality_settings()
    day = as_day(logical_date)
    checked_at = clock.now()
    regions = region_keys(dsn, cfg.region_seed)
    selected = _select(suites.raw_suites(cfg, horizon(day, cfg.future_slack_hours), regions), only)
    rows, docs, seconds = gx_runner.run_suites(dsn, selected, run_id, day, checked_at, cfg.gx_root, build_docs)
    if row_counts:
        rows += _row_count_rows(dsn, run_id, day, checked_at)
    result = QualityResult(run_id, "raw", rows, docs, seconds)
    return _finish(dsn, result, "raw", day)


def _row_count_rows(dsn: str, run_id: str, day: date, checked_at: datetime) -> list[dict]:
    cfg = quality_settings()
    with psycopg.connect(dsn, autocommit=True) as conn:
        return rowcounts.check_row_counts(conn, cfg.rowcount_tables, run_id, day, checked_at, cfg.jump_factor,
                                          cfg.baseline_weeks)


def validate_loads(dsn: str, run_id: str, logical_date=None) -> QualityResult:
    """Only the row-count checks (no GX, milliseconds): for the end of `nps_extract`, right after the loads."""
    day = as_day(logical_date)
    result = QualityResult(run_id, "loads", _row_count_rows(dsn, run_id, day, clock.now()))
    return _finish(dsn, result, "loads", day)

