"""One Bitrix24 task per detractor case, assigned to its owner with the SLA as deadline; statuses read back nightly.

Creation is at most once, like the digests: the case is claimed before tasks.task.add, the task id stored after.
A refused call ('failed') is retried on the next run; an ambiguous one (timeout, crash) stays 'unknown' and is
reported instead of risking a second task.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

import msgspec
import psycopg
from psycopg.rows import dict_row

from nps import clock
from nps.bitrix_client import BitrixClient, Unconfirmed
from nps.closeloop.business_days import BusinessCalendar
from nps.closeloop.cases import RunDay
from nps.closeloop.digest import case_details, task_fields
from nps.closeloop.settings import CloseLoopSettings
from nps.sources import SourceError, SourceRequestError

log = logging.getLogger(__name__)
_NOT_FOUND = re.compile(r"не найден|not found|access denied|доступ запрещен", re.IGNORECASE)

# Bitrix24 task status -> case status (2 pending, 3 in progress, 4 awaiting control, 5 completed, 6 deferred)
STATUS_MAP = {"5": "closed", "3": "in_progress", "4": "in_progress"}


def case_status(task_status: str | None) -> str:
    return STATUS_MAP.get(str(task_status or ""), "open")


@dataclass
class TaskResult:
    created: int = 0
    failed: int = 0
    unknown: int = 0
    no_user: int = 0
    stale_claims: int = 0


def add_task(client: BitrixClient, fields: dict) -> str:
    """tasks.task.add, never repeated by the client: a second try after an unclear failure could make two tasks."""
    result = msgspec.json.decode(client.call("tasks.task.add", {"fields": fields}, idempotent=False).result)
    task = result.get("task") if isinstance(result, dict) else None
    if not isinstance(task, dict) or not task.get("id"):
        raise SourceRequestError(f"Bitrix24 tasks.task.add answered no task id: {result!r}"[:200])
    return str(task["id"])


def get_task(client: BitrixClient, task_id: str) -> dict | None:
    """The task (camelCase fields) or None when it does not exist / is not visible: Bitrix24 answers
    `"result": []`, some portals a 400 "Задача не найдена или доступ запрещен"."""
    try:
        env = client.call("tasks.task.get", {"taskId": int(task_id),
                                             "select": ["ID", "STATUS", "CLOSED_DATE", "RESPONSIBLE_ID"]})
    except SourceRequestError as exc:
        if exc.status == 400 and _NOT_FOUND.search(str(exc)):
            return None
        raise
    result = msgspec.json.decode(env.result)
    task = result.get("task") if isinstance(result, dict) else None
    return task if isinstance(task, dict) else None


def _refused(exc: BaseException) -> bool:
    """Bitrix24 answered with an error or the connection never opened: no task was made, a later run may try."""
    return isinstance(exc, SourceError) and not isinstance(exc, Unconfirmed)


def create_tasks(conn: psycopg.Connection, client: BitrixClient, run: RunDay, s: CloseLoopSettings) -> TaskResult:
    result = TaskResult()
    stale = conn.execute("""
        update ops.case_state set crm_task_state = 'unknown', updated_at = now(),
               crm_task_error = 'claim left by an interrupted attempt'
         where crm_task_state = 'claimed' and crm_task_claim is distinct from %s
    """, (run.token,))
    result.stale_claims = stale.rowcount
    with conn.cursor(row_factory=dict_row) as cur:
        todo = cur.execute("""
            select * from ops.case_state
             where kind = 'detractor' and status <> 'closed' and owner_source <> 'none' and crm_task_id is null
               and (crm_task_state is null or crm_task_state in ('failed', 'no_user'))
             order by opened_at, survey_id
        """).fetchall()
    details = case_details(conn, s.cases_relation, [c["survey_id"] for c in todo])
    calendar = BusinessCalendar(s.holidays)
    tz = ZoneInfo(s.timezone)
    for case in todo:
        if not case["owner_crm_user_id"]:
            if case["crm_task_state"] != "no_user":
                conn.execute("update ops.case_state set crm_task_state = 'no_user', updated_at = now() "
                             "where survey_id = %s", (case["survey_id"],))
            result.no_user += 1
            continue
        detail = details.get(case["survey_id"])
        if detail is None:
            continue
        deadline = datetime.combine(case["sla_due_date"], time(s.task_deadline_hour), tz).isoformat()
        fields = task_fields(case["owner_language"] or s.default_language, {**case, **detail},
                             case["owner_crm_user_id"], deadline, calendar, run.day, s.timezone)
        claimed = conn.execute("""
            update ops.case_state set crm_task_state = 'claimed', crm_task_claim = %s, updated_at = now()
             where survey_id = %s and crm_task_id is null
               and (crm_task_state is null or crm_task_state in ('failed', 'no_user'))
        """, (run.token, case["survey_id"])).rowcount
        if not claimed:
            continue
        try:
            task_id = add_task(client, fields)
        except Exception as exc:
            state = "failed" if _refused(exc) else "unknown"
            conn.execute("update ops.case_state set crm_task_state = %s, crm_task_error = %s, updated_at = now() "
                         "where survey_id = %s", (state, f"{type(exc).__name__}: {exc}"[:1000], case["survey_id"]))
            setattr(result, state, getattr(result, state) + 1)
            log.error("tasks.task.add for case %s: %s (%s)", case["survey_id"], state, exc)
            continue
        conn.execute("""
            update ops.case_state set crm_task_id = %s, crm_task_state = 'created', crm_task_status = '2',
                   crm_task_error = null, updated_at = now()
             where survey_id = %s
        """, (task_id, case["survey_id"]))
        result.created += 1
    return result


def _parse_ts(value) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def read_back(conn: psycopg.Connection, client: BitrixClient) -> dict:
    """tasks.task.get for every case with a task that is not closed: status and closed_at into ops.case_state."""
    summary = {"checked": 0, "closed": 0, "in_progress": 0, "reopened": 0, "missing": 0, "errors": 0}
    rows = conn.execute("""
        select survey_id, crm_task_id, status from ops.case_state
         where crm_task_id is not null and crm_task_state = 'created' and status <> 'closed'
         order by survey_id
    """).fetchall()
    for survey_id, task_id, old_status in rows:
        try:
            task = get_task(client, task_id)
        except SourceRequestError as exc:  # one refused task must not stop the others; an unreachable portal does
            log.warning("tasks.task.get %s (case %s): %s", task_id, survey_id, exc)
            summary["errors"] += 1
            continue
        summary["checked"] += 1
        if task is None:
            conn.execute("update ops.case_state set crm_task_state = 'missing', updated_at = now(), "
                         "crm_task_error = 'task not found or not visible to the webhook user' "
                         "where survey_id = %s", (survey_id,))
            summary["missing"] += 1
            continue
        code = str(task.get("status") or "")
        status = case_status(code)
        closed_at = (_parse_ts(task.get("closedDate")) or clock.now()) if status == "closed" else None
        conn.execute("""
            update ops.case_state set crm_task_status = %s, status = %s, closed_at = %s, last_synced_at = %s,
                   updated_at = now()
             where survey_id = %s
        """, (code, status, closed_at, clock.now(), survey_id))
        if status in ("closed", "in_progress"):
            summary[status] += 1
        elif old_status == "in_progress":
            summary["reopened"] += 1
    return summary
