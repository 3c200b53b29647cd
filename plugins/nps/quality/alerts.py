"""Alerts: the failure callback every DAG uses, and the e-mail path shared with the daily data-quality summary.

Every alert is logged loudly and recorded in `quality.alerts`; it is e-mailed to the data team through SendGrid (the
`nps_sendgrid` connection) when `NPS_ALERT_EMAILS` is set. A callback must never fail the thing it reports on, so
recording and e-mailing errors are logged and kept on the alert row, not raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date

import psycopg

from nps import clock, connections
from nps.config import settings
from nps.quality.settings import quality_settings

log = logging.getLogger(__name__)


def send_email(to: Sequence[str], subject: str, text: str, html: str | None = None) -> str | None:
    """One message to the data team through SendGrid; returns the X-Message-Id."""
    if not to:
        raise ValueError("no recipients: set NPS_ALERT_EMAILS / NPS_DQ_SUMMARY_EMAILS")
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import Mail

    conn = connections.get("nps_sendgrid")
    if not conn.password:
        raise RuntimeError("connection nps_sendgrid has no API key (password)")
    client = SendGridAPIClient(api_key=conn.password, host=conn.base_url.rstrip("/"))
    mail = Mail(from_email=settings().sendgrid_from_email, to_emails=list(to), subject=subject,
                plain_text_content=text, html_content=html)
    response = client.send(mail)
    headers = getattr(response, "headers", None) or {}
    return headers.get("X-Message-Id")


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
            send_email(recipients, f"[NPS {kind}] {message[:150]}", body)
        except Exception as exc:  # the alert is still recorded, with why the mail did not go out
            email_error = f"{type(exc).__name__}: {exc}"
            log.error("alert e-mail failed: %s", email_error)
    try:
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
        what = f"{dag_id}.{task_id}" if task_id else f"{dag_id}"
        message = f"{what} failed (run {run_id})"
        if exception is not None:
            message += f": {type(exception).__name__}: {str(exception).splitlines()[0] if str(exception) else ''}"
        elif reason:
            message += f": {reason}"
        details = {"exception": None if exception is None else str(exception)[:4000],
                   "try_number": getattr(ti, "try_number", None), "log_url": getattr(ti, "log_url", None)}
        logical_day = None
        if logical is not None:
            from nps.quality.gate import as_day

            logical_day = as_day(logical)
        raise_alert(None, "task_failure", message, dag_id=dag_id, task_id=task_id, run_id=run_id,
                    logical_date=logical_day, details=details)
    except Exception:  # a callback that raises hides the original failure
        log.exception("on_failure_callback could not report the failure")
