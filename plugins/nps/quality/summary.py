"""The daily data-quality summary e-mail to the data team: failed checks with counts and sample keys, the day's
alerts, and the NPS drift of the month so far. `send_daily_summary(dsn, day)` is what a daily DAG task calls.

"The day" is the checks stamped within that calendar day in the project's timezone (`checked_at`, from nps.clock,
so a replay summarises its simulated days).
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from nps.config import settings
from nps.quality.drift import Drift, nps_drift
from nps.quality.settings import quality_settings

log = logging.getLogger(__name__)


@dataclass
class DailySummary:
    day: date
    checks_run: int
    runs: int
    failed: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)

    @property
    def critical(self) -> list[dict]:
        return [f for f in self.failed if f["severity"] == "critical"]

    @property
    def subject(self) -> str:
        if not self.failed and not self.alerts:
            state = "all checks passed"
        else:
            state = f"{len(self.critical)} critical, {len(self.failed) - len(self.critical)} warning check(s) failed"
        return f"NPS data quality {self.day:%Y-%m-%d}: {state}"

    def _check_line(self, f: dict) -> str:
        where = f["asset"] + (f".{f['column']}" if f["column"] else "")
        text = (f"[{f['severity']}] {f['suite']} {where}: {f['description'] or f['expectation']} - failed in "
                f"{f['failed_runs']} run(s), up to {f['max_unexpected'] if f['max_unexpected'] is not None else '?'}"
                f" unexpected row(s)")
        if f["sample_keys"]:
            text += "; sample keys: " + json.dumps(f["sample_keys"][:5], default=str, ensure_ascii=False)
        elif f["observed_value"] is not None:
            text += "; observed: " + json.dumps(f["observed_value"], default=str, ensure_ascii=False)
        return text

    @property
    def text(self) -> str:
        lines = [self.subject, "", f"{self.checks_run} check result(s) from {self.runs} gate run(s)."]
        lines += ["", "Failed checks:"] + ([f"- {self._check_line(f)}" for f in self.failed] or ["- none"])
        lines += ["", "Alerts:"] + ([f"- [{a['kind']}] {a['message']}" for a in self.alerts] or ["- none"])
        lines += ["", "NPS drift (month to date vs last month, beyond the combined margin of error):"]
        lines += [f"- {d.describe()}" for d in self.drifts] or ["- none"]
        return "\n".join(lines) + "\n"

    @property
    def html(self) -> str:
        def items(values: list[str]) -> str:
            return "<ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in values) + "</ul>" if values else "<p>none</p>"

        alert_lines = [f"[{a['kind']}] {a['message']}" for a in self.alerts]
        return (f"<h2>{html.escape(self.subject)}</h2><p>{self.checks_run} check result(s) from {self.runs} gate "
                f"run(s).</p><h3>Failed checks</h3>{items([self._check_line(f) for f in self.failed])}"
                f"<h3>Alerts</h3>{items(alert_lines)}"
                f"<h3>NPS drift</h3>{items([d.describe() for d in self.drifts])}")


def build_daily_summary(dsn: str, day: date, marts_schema: str = "marts") -> DailySummary:
    tz = ZoneInfo(settings().timezone)
    start = datetime.combine(day, time(0), tz)
    end = start + timedelta(days=1)
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        totals = conn.execute(
            """select count(*) as checks, count(distinct run_id) as runs from quality.expectation_results
               where checked_at >= %s and checked_at < %s""", (start, end)).fetchone()
        failed = conn.execute(
            """select suite, asset, expectation, "column", description, severity,
                      count(distinct run_id) as failed_runs, max(unexpected_count) as max_unexpected,
                      (array_agg(sample_keys order by checked_at desc))[1] as sample_keys,
                      (array_agg(observed_value order by checked_at desc))[1] as observed_value
               from quality.expectation_results
               where checked_at >= %s and checked_at < %s and not success
               group by suite, asset, expectation, "column", description, severity
               order by severity, suite, asset, expectation, "column" """, (start, end)).fetchall()
        alerts = conn.execute(
            """select kind, dag_id, task_id, run_id, message, raised_at from quality.alerts
               where raised_at >= %s and raised_at < %s order by raised_at""", (start, end)).fetchall()
    return DailySummary(day, totals["checks"], totals["runs"], failed, alerts, nps_drift(dsn, day, marts_schema))


def send_daily_summary(dsn: str, day: date, recipients: list[str] | None = None) -> DailySummary:
    """Build and e-mail the summary (recipients: argument, else NPS_DQ_SUMMARY_EMAILS, else NPS_ALERT_EMAILS)."""
    from nps.quality.alerts import send_email

    summary = build_daily_summary(dsn, day)
    to = list(recipients or quality_settings().summary_emails)
    if not to:
        raise ValueError("no recipients for the data-quality summary: set NPS_DQ_SUMMARY_EMAILS or NPS_ALERT_EMAILS")
    send_email(to, summary.subject, summary.text, summary.html)
    log.info("data-quality summary for %s sent to %s", day, ", ".join(to))
    return summary
