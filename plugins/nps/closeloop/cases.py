"""Open cases: each new row of the dbt model (detractors; passives with a comment by setting) into ops.case_state.

Input contract: the relation `NPS_CLOSELOOP_CASES_RELATION` (default the dbt model ops.detractor_cases) has the
columns of INPUT_COLUMNS and one row per answer that makes a case. Customer PII is read from it when a digest is
rendered and never copied into case_state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from nps import clock, warehouse
from nps.closeloop import owners
from nps.closeloop.business_days import BusinessCalendar
from nps.closeloop.settings import CloseLoopSettings

log = logging.getLogger(__name__)

INPUT_COLUMNS = (
    "survey_id", "purchase_id", "customer_ref", "region", "segment", "customer_name", "company_name", "phone",
    "email", "language", "crm_assigned_by_id", "score", "reasons", "comment", "themes", "responded_at", "order_number",
    "delivered_at", "promised_date", "delay_days", "is_in_full", "nps_category", "history_days", "orders_before",
    "revenue_before", "location_name",
)


@dataclass(frozen=True)
class RunDay:
    """What a run works as of: its day in Europe/Kyiv and the instant nothing after which is considered."""
    day: date
    cutoff: datetime
    token: str                   # run id + try number: marks this attempt's claims

    @classmethod
    def of(cls, instant: datetime, timezone: str, token: str) -> RunDay:
        return cls(clock.local_day(instant, timezone), instant, token)


def check_input(conn: psycopg.Connection, relation: str) -> None:
    if not owners.relation_exists(conn, relation):
        raise RuntimeError(f"{relation} does not exist: build the dbt models (nps_transform) before nps_close_loop")
    schema, table = relation.split(".")
    present = {row[0] for row in conn.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, table))}
    missing = [c for c in INPUT_COLUMNS if c not in present]
    if missing:
        raise RuntimeError(f"{relation} lacks the input columns {', '.join(missing)} (close-loop input contract)")


def open_cases(conn: psycopg.Connection, run: RunDay, s: CloseLoopSettings) -> dict:
    """Insert new cases, re-resolve owners of cases not yet notified, drop un-notified cases that vanished.

    Idempotent: a re-run of the same day changes nothing; nothing answered after the run's cutoff is considered.
    """
    check_input(conn, s.cases_relation)
    calendar = BusinessCalendar(s.holidays)
    directory = owners.load_directory(conn, s.managers_relation, s.fallback_email, s.default_language)
    tz = ZoneInfo(s.timezone)
    oldest = run.cutoff - timedelta(days=s.max_case_age_days)
    summary = {"opened": 0, "reassigned": 0, "withdrawn": 0, "too_old": 0, "unowned": 0}
    with conn.transaction():
        # which answers make a case is the model's rule (ops.detractor_cases): every row as of the cutoff is one
        query = sql.SQL("select survey_id::text, nps_category, region, crm_assigned_by_id::text, responded_at "
                        "from {} where responded_at < %s").format(warehouse.relation(s.cases_relation))
        rows = conn.execute(query, (run.cutoff,)).fetchall()
        known = {r[0]: r for r in conn.execute(
            "select survey_id, owner_email, owner_source, notified_at, digest_id from ops.case_state")}
        current = {r[0] for r in rows}
        for survey_id, category, region, assigned_by, responded_at in rows:
            owner = owners.resolve(assigned_by, region, directory)
            state = known.get(survey_id)
            if state is None:
                if responded_at < oldest:
                    summary["too_old"] += 1
                    continue
                kind = "passive" if category == "passive" else "detractor"
                opened_day = responded_at.astimezone(tz).date()
                conn.execute("""
                    insert into ops.case_state (survey_id, kind, region, owner_email, owner_name, owner_language,
                        owner_source, owner_crm_user_id, opened_at, sla_due_date, first_seen_on, status)
                    values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    on conflict (survey_id) do nothing
                """, (survey_id, kind, region, owner.email, owner.name, owner.language, owner.source,
                      owner.crm_user_id, responded_at, calendar.add_business_days(opened_day, s.sla_business_days),
                      run.day, "open" if kind == "detractor" else "info"))
                summary["opened"] += 1
            elif state[3] is None and state[4] is None and (state[1], state[2]) != (owner.email, owner.source):
                # not yet in any digest: follow the CRM / seed as they change (e.g. a fixed seed picks up 'none')
                conn.execute("""
                    update ops.case_state set owner_email = %s, owner_name = %s, owner_language = %s,
                           owner_source = %s, owner_crm_user_id = %s, region = %s, updated_at = now()
                     where survey_id = %s and notified_at is null and digest_id is null
                """, (owner.email, owner.name, owner.language, owner.source, owner.crm_user_id, region, survey_id))
                summary["reassigned"] += 1
        # an answer replaced by a better one before anyone was told: no case any more
        vanished = [sid for sid, st in known.items() if sid not in current and st[3] is None and st[4] is None]
        if vanished:
            deleted = conn.execute("delete from ops.case_state where survey_id = any(%s) and notified_at is null "
                                   "and digest_id is null and crm_task_state is null", (vanished,))
            summary["withdrawn"] = deleted.rowcount
        unowned = [r[0] for r in conn.execute(
            "select survey_id from ops.case_state where owner_source = 'none' and status <> 'closed' order by 1")]
    summary["unowned"] = len(unowned)
    if unowned:
        log.warning("%d case(s) have no owner (no CRM user, no seed manager for the region, no fallback): %s",
                    len(unowned), ", ".join(unowned[:50]))
    summary["unowned_ids"] = unowned[:200]
    return summary


def forget_kiosk_contacts(conn: psycopg.Connection, run: RunDay, s: CloseLoopSettings) -> int:
    """Erase the phones and e-mails kiosk customers left (ops.kiosk_contacts) `kiosk_contact_days` after their case
    closed, or after their consent when no case is open or was closed since: the consent was to be called back about
    that answer, nothing longer. The case itself (ops.case_state) and the marts keep everything else."""
    return conn.execute("""
        delete from ops.kiosk_contacts k
         where k.consented_at < %(before)s
           and not exists (select 1 from ops.case_state c
                            where c.survey_id = k.answer_id
                              and (c.status <> 'closed' or c.closed_at >= %(before)s))
    """, {"before": run.cutoff - timedelta(days=s.kiosk_contact_days)}).rowcount
