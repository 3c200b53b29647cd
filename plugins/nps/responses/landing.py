"""landing.* -> raw.*: answers (only those a person gave: `COUNTS`; the latest wins, `nps.responses.latest`), clicks,
SendGrid events and the spool's bad lines, with quarantine."""

from __future__ import annotations

import logging
import os

import psycopg

from nps.collector.pages import HUMAN_SIGNALS
from nps.config import settings
from nps.responses import latest
from nps.responses.known import UNKNOWN_SURVEY, unknown_surveys
from nps.tokens import SURVEY_ID

log = logging.getLogger(__name__)

# Mail security gateways open the e-mail's links in a browser that runs the page's script (issue 25 #4).
SCANNER_AGENTS = r"bot\M|crawl|spider|scan|headless|preview|proofpoint|mimecast|barracuda|safelinks"
BURST_S = 30  # other scores of one survey opened from one client within this many seconds: every link was opened
# A QR answer can come before the night's extract brings its sale: it stays in landing (the watermark waits) and is
# read again each run, for as long as missed runs are caught up (NPS_CATCH_UP_DAYS); then it is an unknown survey.
WAITING = "waiting for its 1C sale"
UNKNOWN_ORDER = "unknown order number (no 1C order with a sale)"

# A widget answer with the order number the shop's site passed answers that order's survey: the survey of its sale
# (the first, when 1C shipped it in parts; the latest order, when 1C's yearly numbering reused the number), like a QR
# answer. Without a sale yet it waits like a QR answer.
BIND_ORDER = """
    update _answers a set survey_id = bound.survey_id
    from (
        select distinct on (o.number) o.number, s.survey_id
        from raw.onec_orders o
        inner join raw.onec_sales s on s.order_ref = o.ref_key and s.posted and not s.deletion_mark
        where not o.deletion_mark and o.number = any(%(numbers)s)
        order by o.number, o.order_date desc, s.sale_date, s.ref_key
    ) bound
    where a.order_number = bound.number and a.problem is null
"""

# The one rule for whether a landing answer `l` counts: a person was seen (a human signal), the agent is no known
# scanner, and it is no burst (a submit is judged alone: a person may change the score on the form).
COUNTS = """
    coalesce(l.signal = any(%(human)s), false) and coalesce(l.user_agent, '') !~* %(scanner)s
    and (l.signal = 'submit' or not exists (
        select 1 from landing.responses o
        where o.survey_id = l.survey_id and o.client_hash = l.client_hash and o.score <> l.score
          and o.signal is distinct from 'submit'
          and abs(extract(epoch from o.responded_at - l.responded_at)) <= %(burst)s))
"""


def settle_seconds() -> int:
    """Rows younger than this are re-read next run too: a bigserial id can commit after a larger one."""
    return int(os.environ.get("NPS_LANDING_SETTLE_S", "300"))


def _watermark(conn: psycopg.Connection, source: str) -> int:
    conn.execute("insert into raw.load_state (source, watermark) values (%s, '0') on conflict (source) do nothing",
                 (source,))
    row = conn.execute("select watermark from raw.load_state where source = %s for update", (source,)).fetchone()
    return int(row[0] or 0)


def _advance(conn: psycopg.Connection, source: str, table: str, old: int, hold: int | None = None) -> int:
    """Move the watermark past what settled, but not past `hold` (a row to read again next run)."""
    new = conn.execute(
        f"select coalesce(max(id), 0) from {table} where id > %s and received_at < now() - make_interval(secs => %s)",
        (old, settle_seconds())).fetchone()[0]
    new = max(old, new if hold is None else min(new, hold - 1))
    conn.execute("update raw.load_state set watermark = %s, updated_at = now() where source = %s", (str(new), source))
    return new


def load_responses(conn: psycopg.Connection, run_id: str | None = None) -> dict:
    source = "landing.responses"
    with conn.transaction():
        wm = _watermark(conn, source)
        conn.execute(f"""
            create temp table _answers on commit drop as
            select l.*, {COUNTS} as counts,
                   case when l.survey_id !~ %(re)s then 'survey_id is not a survey id' end as problem
            from landing.responses l where l.id > %(wm)s
        """, {"wm": wm, "re": SURVEY_ID.pattern, "human": list(HUMAN_SIGNALS), "scanner": SCANNER_AGENTS,
              "burst": BURST_S})
        numbers = [r[0] for r in conn.execute("select distinct order_number from _answers "
                                              "where order_number is not null and problem is null")]
        if numbers:
            conn.execute(BIND_ORDER, {"numbers": numbers})
            conn.execute("""
                update _answers set problem = case
                    when received_at > now() - make_interval(days => %(wait)s) then %(waiting)s else %(unknown)s end
                where order_number is not null and problem is null and survey_id like 'wq%%'
            """, {"wait": settings().catch_up_days, "waiting": WAITING, "unknown": UNKNOWN_ORDER})
        ids = [r[0] for r in conn.execute("select distinct survey_id from _answers where problem is null")]
        conn.execute("""
            update _answers set problem = case
                when channel = 'qr' and received_at > now() - make_interval(days => %(wait)s) then %(waiting)s
                else %(unknown)s end
            where problem is null and survey_id = any(%(ids)s)
        """, {"wait": settings().catch_up_days, "waiting": WAITING, "unknown": UNKNOWN_SURVEY,
              "ids": list(unknown_surveys(conn, ids))})
        quarantined = conn.execute("""
            insert into raw.quarantine (source, source_key, reason, payload, run_id)
            select %(source)s, a.id::text, a.problem, to_jsonb(a) - 'problem' - 'counts', %(run_id)s from _answers a
            where a.problem is not null and a.problem <> %(waiting)s
              and not exists (select 1 from raw.quarantine q where q.source = %(source)s and q.source_key = a.id::text)
        """, {"source": source, "run_id": run_id, "waiting": WAITING}).rowcount
        not_counted = conn.execute("select count(*) from _answers where problem is null and not counts").fetchone()[0]
        waiting, hold = conn.execute("select count(*), min(id) from _answers where problem = %s",
                                     (WAITING,)).fetchone()
        answers = conn.execute("""
            select coalesce(jsonb_agg(to_jsonb(a) order by a.id), '[]') from _answers a
            where a.problem is null and a.counts
        """).fetchone()[0]
        upserted = latest.upsert(conn, answers)
        new = _advance(conn, source, "landing.responses", wm, hold)
    return {"responses_upserted": upserted, "responses_quarantined": quarantined,
            "responses_not_counted": not_counted, "responses_waiting": waiting, "responses_watermark": new}


def load_clicks(conn: psycopg.Connection, run_id: str | None = None) -> dict:
    source = "landing.clicks"
    with conn.transaction():
        wm = _watermark(conn, source)
        inserted = conn.execute("""
            with batch as (
                select distinct on (survey_id, clicked_at, score, user_agent) id, survey_id, score, clicked_at,
                       user_agent
                from landing.clicks where id > %(wm)s
                order by survey_id, clicked_at, score, user_agent, id
            )
            insert into raw.survey_clicks (landing_id, survey_id, score, clicked_at, user_agent)
            select b.id, b.survey_id, b.score, b.clicked_at, b.user_agent from batch b
            where not exists (  -- the same click replayed from the spool under another landing id
                select 1 from raw.survey_clicks c
                where c.survey_id = b.survey_id and c.clicked_at = b.clicked_at and c.landing_id <> b.id
                  and c.score is not distinct from b.score and c.user_agent is not distinct from b.user_agent)
            on conflict (landing_id) do nothing
        """, {"wm": wm}).rowcount
        new = _advance(conn, source, "landing.clicks", wm)
    return {"clicks_inserted": inserted, "clicks_watermark": new}


def load_events(conn: psycopg.Connection, run_id: str | None = None) -> dict:
    source = "landing.sendgrid_events"
    with conn.transaction():
        wm = _watermark(conn, source)
        conn.execute("""
            create temp table _events on commit drop as
            select id, sg_event_id, event, payload,
                   case when sg_event_id is null or sg_event_id = '' then 'missing sg_event_id'
                        when event is null or event = '' then 'missing event'
                        when jsonb_typeof(payload) <> 'object' then 'payload is not an object'
                        when coalesce(payload->>'timestamp', '') !~ '^[0-9]{1,11}(\\.[0-9]+)?$'
                            then 'missing or bad timestamp'
                   end as problem
            from landing.sendgrid_events where id > %(wm)s
        """, {"wm": wm})
        quarantined = conn.execute("""
            insert into raw.quarantine (source, source_key, reason, payload, run_id)
            select %(source)s, e.id::text, e.problem, e.payload, %(run_id)s from _events e
            where e.problem is not null
              and not exists (select 1 from raw.quarantine q where q.source = %(source)s and q.source_key = e.id::text)
        """, {"source": source, "run_id": run_id}).rowcount
        inserted = conn.execute("""
            insert into raw.sendgrid_events (sg_event_id, event, email, survey_id, kind, sg_message_id, occurred_at,
                                             reason, payload)
            select distinct on (sg_event_id) sg_event_id, event, payload->>'email', payload->>'survey_id',
                   payload->>'kind', payload->>'sg_message_id', to_timestamp((payload->>'timestamp')::float8),
                   payload->>'reason', payload
            from _events where problem is null
            order by sg_event_id, id
            on conflict (sg_event_id) do nothing
        """).rowcount
        new = _advance(conn, source, "landing.sendgrid_events", wm)
    return {"events_inserted": inserted, "events_quarantined": quarantined, "events_watermark": new}


def load_spool_rejects(conn: psycopg.Connection, run_id: str | None = None) -> dict:
    """The lines the spool replayer could not land (`landing.spool_files.bad_lines`) -> raw.quarantine, once each."""
    source = "landing.spool_files"
    with conn.transaction():
        wm = _watermark(conn, source)
        quarantined = conn.execute("""
            insert into raw.quarantine (source, source_key, reason, payload, run_id)
            select 'spool', f.name || ':' || b.n, b.bad->>'reason', b.bad->'line', %(run_id)s
            from landing.spool_files f, jsonb_array_elements(f.bad_lines) with ordinality as b (bad, n)
            where f.id > %(wm)s and not exists (
                select 1 from raw.quarantine q where q.source = 'spool' and q.source_key = f.name || ':' || b.n)
        """, {"wm": wm, "run_id": run_id}).rowcount
        new = _advance(conn, source, "landing.spool_files", wm)
    return {"spool_quarantined": quarantined, "spool_watermark": new}


def load_landing(dsn: str, run_id: str | None = None) -> dict:
    with psycopg.connect(dsn) as conn:
        stats = {**load_responses(conn, run_id), **load_clicks(conn, run_id), **load_events(conn, run_id),
                 **load_spool_rejects(conn, run_id)}
    log.info("landing -> raw: %s", stats)
    return stats
