"""The steps of `nps_close_loop`, each on its own connection; the DAG file only calls these."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime

import psycopg

from nps import connections, sendgrid_client
from nps.bitrix_client import BitrixClient
from nps.closeloop import cases, crm_tasks, digest, owners, send
from nps.closeloop.business_days import BusinessCalendar
from nps.closeloop.cases import RunDay
from nps.closeloop.settings import CloseLoopSettings, settings

log = logging.getLogger(__name__)


class CloseLoopError(RuntimeError):
    """Raised after a step did all it could, so Airflow retries the part that failed."""


def run_day(context: dict, timezone: str | None = None) -> RunDay:
    """The run's logical date (asset-triggered runs have none: their run_after) and this attempt's token."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    instant: datetime | None = context.get("logical_date") or getattr(dag_run, "run_after", None)
    if instant is None:
        raise CloseLoopError("the run has neither a logical date nor run_after")
    run_id = context.get("run_id") or getattr(dag_run, "run_id", "manual")
    token = f"{run_id}#{getattr(ti, 'try_number', 1)}"
    return RunDay.of(instant, timezone or settings().timezone, token)


def _connect() -> psycopg.Connection:
    return psycopg.connect(connections.warehouse_dsn(), autocommit=True)


def crm_client(s: CloseLoopSettings) -> BitrixClient | None:
    """A Bitrix24 client when tasks are on (or 'auto' and the nps_crm connection is configured)."""
    if s.crm_tasks == "off":
        return None
    try:
        conn = connections.get("nps_crm")
        base = conn.base_url if conn.host else ""
    except Exception as exc:  # not configured: Airflow raises its own not-found error type
        if s.crm_tasks == "on":
            raise CloseLoopError(f"NPS_CLOSELOOP_CRM_TASKS=on but the nps_crm connection is unusable: {exc}") from exc
        return None
    if not base:
        if s.crm_tasks == "on":
            raise CloseLoopError("NPS_CLOSELOOP_CRM_TASKS=on but the nps_crm connection has no host")
        return None
    return BitrixClient.of(conn, "nps_crm")


def open_cases(run: RunDay) -> dict:
    s = settings()
    with _connect() as conn:
        summary = cases.open_cases(conn, run, s)
    log.info("cases as of %s: %s", run.day, {k: v for k, v in summary.items() if k != "unowned_ids"})
    return summary


def read_back_task_status(run: RunDay) -> dict:
    s = settings()
    client = crm_client(s)
    if client is None:
        return {"skipped": "no CRM connection"}
    with client, _connect() as conn:
        return crm_tasks.read_back(conn, client)


def create_crm_tasks(run: RunDay) -> dict:
    s = settings()
    client = crm_client(s)
    if client is None:
        return {"skipped": "no CRM connection"}
    with client, _connect() as conn:
        result = asdict(crm_tasks.create_tasks(conn, client, run, s))
    log.info("Bitrix24 tasks: %s", result)
    if result["failed"]:
        raise CloseLoopError(f"{result['failed']} Bitrix24 task(s) could not be created (retried next attempt)")
    return result


def send_digests(run: RunDay) -> dict:
    s = settings()
    client = sendgrid_client.connect()
    calendar = BusinessCalendar(s.holidays)
    with _connect() as conn:
        directory = owners.load_directory(conn, s.managers_relation, s.fallback_email, s.default_language)
        planned = digest.plan(conn, run, s.cases_relation, directory)
        result = asdict(send.send_digests(conn, client, planned, run, s.from_email, calendar, s.timezone))
        unowned = conn.execute("select count(*) from ops.case_state where owner_source = 'none' "
                               "and status <> 'closed'").fetchone()[0]
        # cases whose digest may or may not have gone out: never resent automatically, so say so every day
        unconfirmed = conn.execute("""
            select count(*) from ops.case_state c join ops.digests d using (digest_id)
             where d.status = 'unknown' and c.notified_at is null
        """).fetchone()[0]
    result["unowned_cases"] = unowned
    result["unconfirmed_cases"] = unconfirmed
    if unconfirmed:
        log.warning("%d case(s) sit in digests whose delivery is unknown (interrupted send); check SendGrid's "
                    "activity and, if they never left, nps.closeloop.send.release(conn, digest_id) frees them", unconfirmed)
    log.info("digests for %s: %s", run.day, result)
    if unowned:
        log.warning("%d open case(s) have no owner and reach nobody: fix the region seed or set "
                    "NPS_FALLBACK_MANAGER_EMAIL", unowned)
    if result["failed"]:
        raise CloseLoopError(f"{result['failed']} digest(s) were refused by SendGrid (retried next attempt)")
    return result


def forget_kiosk_contacts(run: RunDay) -> dict:
    s = settings()
    with _connect() as conn:
        erased = cases.forget_kiosk_contacts(conn, run, s)
    log.info("kiosk contacts erased (%d days after their case closed or their consent): %d", s.kiosk_contact_days,
             erased)
    return {"erased": erased}
