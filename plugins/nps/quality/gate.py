"""The gates `nps_transform` calls: validate raw -> dbt build (into a build schema) -> validate marts -> swap in.

Both gates write one row per expectation to `quality.expectation_results`, rebuild Data Docs, and raise an alert
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
from nps.quality import gx_runner, rowcounts, suites
from nps.quality.result import QualityResult, describe, write_rows
from nps.quality.settings import quality_settings

log = logging.getLogger(__name__)


def as_day(logical_date) -> date:
    """The run's day in the project's timezone, from a date, datetime (aware or not), ISO string or None (clock)."""
    tz = ZoneInfo(settings().timezone)
    if logical_date is None:
        return clock.now().astimezone(tz).date()
    if isinstance(logical_date, str):
        try:
            logical_date = datetime.fromisoformat(logical_date)
        except ValueError as exc:
            raise ValueError(f"logical_date must be an ISO date or timestamp, got {logical_date!r}") from exc
    if isinstance(logical_date, datetime):
        return (logical_date.astimezone(tz) if logical_date.tzinfo else logical_date).date()
    if isinstance(logical_date, date):
        return logical_date
    raise TypeError(f"logical_date must be a date, datetime or ISO string, got {type(logical_date).__name__}")


def horizon(day: date, slack_hours: float) -> datetime:
    """After this instant a date is 'in the future' for the run of `day`: the end of the day plus slack (a nightly
    load runs after midnight and 1C clocks drift)."""
    tz = ZoneInfo(settings().timezone)
    return datetime.combine(day + timedelta(days=1), time(0), tz) + timedelta(hours=slack_hours)


def _finish(dsn: str, result: QualityResult, stage: str, day: date) -> QualityResult:
    with psycopg.connect(dsn, autocommit=True) as conn:
        write_rows(conn, result.rows)
    log.info(result.summary())
    for row in result.critical_failures:
        log.error("QUALITY CRITICAL %s", describe(row))
    for row in result.warnings:
        log.warning("QUALITY WARNING %s", describe(row))
    if result.warnings and not result.critical_failures:
        from nps.quality import alerts

        alerts.raise_alert(dsn, "quality_warning", f"{stage} gate passed with {len(result.warnings)} warning(s)",
                           run_id=result.run_id, logical_date=day,
                           details={"warnings": [describe(r) for r in result.warnings],
                                    "data_docs": result.data_docs})
    return result


def validate_raw(dsn: str, run_id: str, logical_date=None, build_docs: bool = True) -> QualityResult:
    """Suites on the raw landings plus the row-count checks. Call before dbt build."""
    cfg = quality_settings()
    day = as_day(logical_date)
    checked_at = clock.now()
    rows, docs, seconds = gx_runner.run_suites(dsn, suites.raw_suites(cfg, horizon(day, cfg.future_slack_hours)),
                                               run_id, day, checked_at, cfg.gx_root, build_docs)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows += rowcounts.check_row_counts(conn, cfg.rowcount_tables, run_id, day, checked_at, cfg.jump_factor,
                                           cfg.baseline_days)
    result = QualityResult(run_id, "raw", rows, docs, seconds)
    return _finish(dsn, result, "raw", day)


def validate_marts(dsn: str, run_id: str, logical_date=None, schema: str = "marts",
                   build_docs: bool = True) -> QualityResult:
    """The marts' invariants in `schema`: run it on the build schema, then `swap_in` only if it passed."""
    cfg = quality_settings()
    day = as_day(logical_date)
    rows, docs, seconds = gx_runner.run_suites(dsn, suites.mart_suites(cfg, schema), run_id, day, clock.now(),
                                               cfg.gx_root, build_docs)
    result = QualityResult(run_id, "marts", rows, docs, seconds)
    return _finish(dsn, result, "marts", day)
