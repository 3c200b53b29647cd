"""What the `nps_send_surveys` tasks call: the run's day from its Airflow context, then the package's logic."""

from __future__ import annotations

from datetime import date, datetime

from nps import clock
from nps.surveys import approval, sender, suppressions


def run_instant(context) -> datetime:
    """The run's logical instant: logical date, else the data interval's end, else when the run was due."""
    for key in ("logical_date", "data_interval_end"):
        value = context.get(key)
        if value is not None:
            return value
    dag_run = context.get("dag_run")
    if dag_run is not None and getattr(dag_run, "run_after", None) is not None:
        return dag_run.run_after
    raise ValueError("the task context has no logical date, data interval or run_after")


def sending_day(instant: datetime) -> date:
    """The day a run sends for: its logical instant's day in the project timezone (Europe/Kyiv)."""
    return clock.local_day(instant)


def not_today(day: date, now: datetime) -> str | None:
    """Why a run for `day` must not e-mail anyone, or None: only a run for today (by nps.clock, in the send timezone)
    sends, so a backfill, a cleared run of an earlier day or an old `airflow dags test` date never reaches customers
    weeks late; the days a run missed are sent by today's run (the due queue's catch-up window)."""
    today = sending_day(now)
    return None if day == today else f"logical date {day} is not today ({today}): reported, nothing sent"


def parse_limit(value) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"limit must be an integer or null, got {value!r}")
    limit = int(value)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return limit


def parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no", ""):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"dry_run must be a boolean, got {value!r}")


def sync_suppressions_task() -> dict[str, int]:
    return suppressions.sync()


def _run(context) -> tuple[dict, datetime, date, str | None]:
    instant = run_instant(context)
    run_id = getattr(context.get("dag_run"), "run_id", None) or context.get("run_id")
    return context.get("params") or {}, instant, sending_day(instant), run_id


def check_batch_task(context) -> str:
    """The task to run next: `send_surveys`, or `approve_large_batch` when the batch needs a person (approval.py).
    A run that sends nothing to anyone (not today, sandbox mode) never waits."""
    params, instant, day, run_id = _run(context)
    if not_today(day, clock.now()) or parse_bool(params.get("dry_run", False)):
        return "send_surveys"
    plan = approval.plan(day, instant, run_id, limit=parse_limit(params.get("limit")))
    context["ti"].xcom_push(key="plan", value=plan.summary())
    return "approve_large_batch" if plan.approval_reason else "send_surveys"


def send_surveys_task(context, **options) -> dict:
    params, instant, day, run_id = _run(context)
    dry_run, report_only = parse_bool(params.get("dry_run", False)), not_today(day, clock.now())
    report = sender.send_due_surveys(day, instant, dry_run=dry_run, limit=parse_limit(params.get("limit")),
                                     run_id=run_id, report_only=report_only, **options)
    if run_id and not (dry_run or report_only):
        approval.mark_sent(run_id, dsn=options.get("dsn"))
    return report.as_dict()
