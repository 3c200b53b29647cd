"""landing.* -> raw.*: answers (latest per survey wins), clicks and SendGrid events, with quarantine."""

from __future__ import annotations

import logging
import os

import psycopg

log = logging.getLogger(__name__)

SURVEY_ID_RE = "^[A-Za-z0-9_-]{1,64}$"


def settle_seconds() -> int:
    """Rows younger than this are re-read next run too: a bigserial id can commit after a larger one."""
    return int(os.environ.get("NPS_LANDING_SETTLE_S", "300"))


def _watermark(conn: psycopg.Connection, source: str) -> int:
    conn.execute("insert into raw.load_state (source, watermark) values (%s, '0') on conflict (source) do nothing",
                 (source,))
    row = conn.execute("select watermark from raw.load_state where source = %s for update", (source,)).fetchone()
    return int(row[0] or 0)


def _advance(conn: psycopg.Connection, source: str, table: str, old: int) -> int:
    new = conn.execute(
        f"select coalesce(max(id), 0) from {table} where id > %s and received_at < now() - make_interval(secs => %s)",
        (old, settle_seconds())).fetchone()[0]
    new = max(old, new)
    conn.execute("update raw.load_state set watermark = %s, updated_at = now() where source = %s", (str(new), source))
    return new


def load_responses(conn: psycopg.Connection, run_id: str | None = None) -> dict:
    source = "landing.responses"
    with conn.transaction():
        wm = _watermark(conn, source)
        quarantined = conn.execute("""
            insert into raw.quarantine (source, source_key, reason, payload, run_id)
            select %(source)s, l.id::text, 'survey_id is not a survey id', to_jsonb(l), %(run_id)s
            from landing.responses l
            where l.id > %(wm)s and l.survey_id !~ %(re)s
              and not exists (select 1 from raw.quarantine q where q.source = %(source)s and q.source_key = l.id::text)
        """, {"source": source, "run_id": run_id, "wm": wm, "re": SURVEY_ID_RE}).rowcount
        upserted = conn.execute("""
            with latest as (
                select distinct on (survey_id) survey_id, score, comment, reasons, language, responded_at
                from landing.responses
                where id > %(wm)s and survey_id ~ %(re)s
                order by survey_id, responded_at desc, id desc
            )
            insert into raw.survey_responses as r (survey_id, score, comment, reasons, language, channel,
                                                   responded_at, _loaded_at)
            select survey_id, score, comment, reasons, language, 'web', responded_at, now() from latest
            on conflict (survey_id) do update
                set score = excluded.score, comment = excluded.comment, reasons = excluded.reasons,
                    language = excluded.language, channel = excluded.channel, responded_at = excluded.responded_at,
                    _loaded_at = excluded._loaded_at
                where excluded.responded_at >= r.responded_at
                  and (r.score, r.comment, r.reasons, r.language, r.channel, r.responded_at)
                      is distinct from (excluded.score, excluded.comment, excluded.reasons, excluded.language,
                                        excluded.channel, excluded.responded_at)
        """, {"wm": wm, "re": SURVEY_ID_RE}).rowcount
        new = _advance(conn, source, "landing.responses", wm)
    return {"responses_upserted": upserted, "responses_quarantined": quarantined, "responses_watermark": new}


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


def load_landing(dsn: str, run_id: str | None = None) -> dict:
    with psycopg.connect(dsn) as conn:
        stats = {**load_responses(conn, run_id), **load_clicks(conn, run_id), **load_events(conn, run_id)}
    log.info("landing -> raw: %s", stats)
    return stats
