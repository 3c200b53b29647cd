"""Alerts: the failure callback every DAG uses, and the e-mail path shared with the daily data-quality summary.

Every alert is logged loudly and recorded in `quality.alerts`; it is e-mailed to the data team through SendGrid
(`nps.sendgrid_client`, the `nps_sendgrid` connection) when `NPS_ALERT_EMAILS` is set. A callback must never fail
the thing it reports on, so recording and e-mailing errors are logged and kept on the alert row, not raised. An
e-mail is sent once: a refusal is raised (nothing left), an unknown outcome is kept, never sent again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date

from nps import clock, connections
from nps.config import settings
from nps.quality.settings import quality_settings

log = logging.getLogger(__name__)


class EmailRefused(RuntimeError):
    """SendGrid took nothing (an HTTP 4xx or no connection): sending again cannot duplicate it."""


def send_email(to: Sequence[str], subject: str, text: str, html: str | None = None):
    """One message to the data team; returns `nps.sendgrid_client.Result`, raises `EmailRefused`. An unknown outcome
    is returned, not raised, so that a retry of the caller's task does not send it twice."""
    if not to:
        raise ValueError("no recipients: set NPS_ALERT_EMAILS / NPS_DQ_SUMMARY_EMAILS")
    from nps import sendgrid_client  # lazily: DAG files import this module (DEFAULT_ARGS) and must parse fast

    body = sendgrid_client.message(list(to), subject, text, html, from_email=settings().sendgrid_from_email)
    result = sendgrid_client.send(sendgrid_client.connect(), body)
    if result.outcome is sendgrid_client.Outcome.REFUSED:
        raise EmailRefused(result.error)
    if result.outcome is sendgrid_client.Outcome.UNKNOWN:
        log.error("e-mail %r may or may not have gone out, not sent again: %s", subject, result.error)
    return result


def raise_alert(dsn: str | None, kind: str, message: str, *, dag_id: str | None = None, task_id: str | None = None,
                run_id: str | None = None, logical_date: date | None = None, details: dict | None = None,
                email: bool = True) -> int | None:
    """Log, e-mail (if recipients are configured) and record one alert; returns the alert id (None if not stored)."""
    log.error("NPS ALERT [%s] %s %s", kind, message, json.dumps(details or {}, default=str, ensure_ascii=False))
    recipients = list(quality_settings().alert_emails) if email else []
    email_error = None
    if recipients:
        body = message + "\n\n" + json.dumps(details or {}, default=str, ensure_ascii=False, indent=2)
        try:
            result = send_email(recipients, f"[NPS {kind}] {message[:150]}", body)
            if result.error:  # an unknown outcome: it may have gone out, so it is not sent again
                email_error = f"outcome unknown, not sent again: {result.error}"
        except Exception as exc:  # the alert is still recorded, with why the mail did not go out
            email_error = f"{type(exc).__name__}: {exc}"
            log.error("alert e-mail failed: %s", email_error)
    try:
        import psycopg  # lazily: DAG files import this module (DEFAULT_ARGS) and must parse fast

        dsn = dsn or connections.warehouse_dsn()
        with psycopg.connect(dsn, autocommit=True) as conn:
            return conn.execute(
                """insert into quality.alerts (kind, dag_id, task_id, run_id, logical_date, message, details,
                       emailed_to, email_error, raised_at)
                   values (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s) returning id""",
                (kind, dag_id, task_id, run_id, logical_date, message,
                 json.dumps(details or {}, default=str, ensure_ascii=False),
                 [] if email_error else recipients, email_error, clock.now())).fetchone()[0]
    except Exception:
        log.exception("could not record the alert in quality.alerts")
        return None


def _get(context, key: str):
    try:
        return context.get(key) if hasattr(context, "get") else context[key]
    except Exception:
        return None


def on_failure_callback(context) -> None:
    """`on_failure_callback` for every DAG (task- and DAG-level): record + e-mail the failure, never raise."""
    try:
        ti = _get(context, "ti") or _get(context, "task_instance")
        dag = _get(context, "dag")
        dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None)
        task_id = getattr(ti, "task_id", None)
        run_id = _get(context, "run_id") or getattr(ti, "run_id", None)
        logical = _get(context, "logical_date")
        exception = _get(context, "exception")
        reason = _get(context, "reason")
        # a DAG-level callback gets a `reason` (e.g. task_failure, timed_out) and no exception
        dag_level = exception is None and reason is not None
        kind = "dag_failure" if dag_level else "task_failure"
        if dag_level:
            message = f"DAG {dag_id} failed (run {run_id}): {reason}" + (f", last task {task_id}" if task_id else "")
        else:
            message = f"{dag_id}.{task_id} failed (run {run_id})"
            if exception is not None:
                first = str(exception).splitlines()[0] if str(exception) else ""
                message += f": {type(exception).__name__}: {first}"
        details = {"exception": None if exception is None else str(exception)[:4000],
                   "try_number": getattr(ti, "try_number", None), "log_url": getattr(ti, "log_url", None)}
        logical_day = clock.local_day(logical) if logical is not None else None  # Airflow's dates are aware
        raise_alert(None, kind, message, dag_id=dag_id, task_id=task_id, run_id=run_id,
                    logical_date=logical_day, details=details)
    except Exception:  # a callback that raises hides the original failure
        log.exception("on_failure_callback could not report the failure")
