"""Whether today's batch waits for a person: the rule and the plan `nps_send_surveys` records for each run.

A batch waits for approval in the Airflow UI (Required actions; rejected when nobody answers in time) when it is
unusually large, more than LARGE_FACTOR x the median daily send of the last HISTORY_DAYS days, or, with under
MIN_SENDING_DAYS sending days of history, more than the configured ceiling (NPS_SEND_APPROVAL_CEILING); or when it is
the first run after the eligibility settings changed since the last batch that went out.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

import psycopg

from nps.config import settings
from nps.connections import warehouse_dsn
from nps.surveys import sender

log = logging.getLogger(__name__)

ELIGIBILITY = ("survey_delay_days", "throttle_days", "reminder_after_days", "catch_up_days")
HISTORY_DAYS = 28
LARGE_FACTOR = 3
MIN_SENDING_DAYS = 7  # under a week of sending days a median says little: the configured ceiling applies instead


@dataclass(frozen=True)
class Plan:
    run_id: str
    day: date
    would_send: int
    median_daily: int | None
    sending_days: int
    eligibility: dict[str, int]
    approval_reason: str | None

    def summary(self) -> str:
        history = (f"median daily send {self.median_daily} over {self.sending_days} sending days of the last "
                   f"{HISTORY_DAYS}" if self.sending_days else "no send history")
        verdict = f"waits for approval: {self.approval_reason}" if self.approval_reason else "goes without approval"
        return f"surveys for {self.day}: {self.would_send} to send ({history}); {verdict}"


def eligibility() -> dict[str, int]:
    current = settings()
    return {name: getattr(current, name) for name in ELIGIBILITY}


def approval_reason(would_send: int, median_daily: int | None, sending_days: int, ceiling: int,
                    current: dict[str, int], last_sent: dict[str, int] | None) -> str | None:
    """Why this batch needs a person's approval, or None (the one rule)."""
    if would_send == 0:
        return None
    if last_sent is not None and last_sent != current:
        changed = ", ".join(f"{k} {last_sent.get(k)} -> {v}" for k, v in current.items() if last_sent.get(k) != v)
        return f"first batch after the eligibility settings changed ({changed})"
    if sending_days < MIN_SENDING_DAYS:
        if would_send > ceiling:
            return (f"{would_send} surveys exceed the ceiling of {ceiling} (NPS_SEND_APPROVAL_CEILING), applied while "
                    f"there are under {MIN_SENDING_DAYS} sending days of history")
        return None
    if median_daily is not None and would_send > LARGE_FACTOR * median_daily:
        return (f"{would_send} surveys are more than {LARGE_FACTOR}x the median daily send of the last "
                f"{HISTORY_DAYS} days ({median_daily})")
    return None


HISTORY = """
select count(*)::int as sending_days, round(percentile_cont(0.5) within group (order by sends))::int as median_daily
from (
    select (claimed_at at time zone %(tz)s)::date as send_day, count(*) as sends
    from raw.survey_sends
    where status in ('sent', 'unknown') and not dry_run
      and claimed_at >= (%(day)s::date - %(days)s)::timestamp at time zone %(tz)s
      and claimed_at < %(day)s::timestamp at time zone %(tz)s
    group by 1
) as daily
"""


def plan(day: date, issued_at: datetime, run_id: str, limit: int | None = None, dsn: str | None = None) -> Plan:
    """Count what this run would send (the sender's own plan, nothing written), judge it, record it."""
    would = sender.send_due_surveys(day, issued_at, limit=limit, run_id=run_id, dsn=dsn,
                                    report_only="planning the batch").would_send
    current = eligibility()
    with psycopg.connect(dsn or warehouse_dsn(), autocommit=True) as conn:
        sending_days, median_daily = conn.execute(
            HISTORY, {"tz": settings().timezone, "day": day, "days": HISTORY_DAYS}).fetchone()
        last = conn.execute("select eligibility from raw.survey_send_plans where sent_at is not null and run_id <> %s"
                            " order by sent_at desc limit 1", (run_id,)).fetchone()
        result = Plan(run_id, day, would, median_daily, sending_days, current,
                      approval_reason(would, median_daily, sending_days, settings().send_approval_ceiling, current,
                                      last[0] if last else None))
        row = asdict(result) | {"eligibility": json.dumps(current)}
        conn.execute("""
            insert into raw.survey_send_plans
                (run_id, day, would_send, median_daily, sending_days, eligibility, approval_reason)
            values (%(run_id)s, %(day)s, %(would_send)s, %(median_daily)s, %(sending_days)s, %(eligibility)s,
                    %(approval_reason)s)
            on conflict (run_id) do update set planned_at = now(), day = excluded.day,
                would_send = excluded.would_send, median_daily = excluded.median_daily,
                sending_days = excluded.sending_days, eligibility = excluded.eligibility,
                approval_reason = excluded.approval_reason
            where raw.survey_send_plans.sent_at is null
        """, row)
    log.info(result.summary())
    return result


def mark_sent(run_id: str, dsn: str | None = None) -> None:
    """This run's batch went out: its eligibility settings become the ones the next run is compared with."""
    with psycopg.connect(dsn or warehouse_dsn(), autocommit=True) as conn:
        conn.execute("update raw.survey_send_plans set sent_at = now() where run_id = %s and sent_at is null",
                     (run_id,))


def approval_timeout() -> timedelta:
    return timedelta(hours=settings().send_approval_timeout_hours)
