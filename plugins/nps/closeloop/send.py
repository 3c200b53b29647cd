"""Send the digests through SendGrid, at most once per manager and day: claim -> send -> record.

A digest row (ops.digests, unique per manager and day) is claimed and its cases tied to it before the request, then
`nps.sendgrid_client`'s one rule decides: sent records 'sent' with X-Message-Id and stamps the cases notified;
refused (SendGrid answered 4xx, or no connection at all: nothing went out) is 'failed', the cases are released and a
retry sends them; unknown (5xx, timeout, a dropped connection) stays 'unknown' and is never re-sent. A stale claim
found by a later attempt (the worker died after claiming) becomes 'unknown' too, and its cases are reported, not
repeated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from nps import clock, sendgrid_client
from nps.closeloop.business_days import BusinessCalendar
from nps.closeloop.cases import RunDay
from nps.closeloop.digest import Digest, render
from nps.sendgrid_client import Outcome

log = logging.getLogger(__name__)


@dataclass
class SendResult:
    sent: int = 0
    already: int = 0        # a digest for this manager and day exists (sent / unknown): nothing sent again
    failed: int = 0
    unknown: int = 0
    stale_claims: int = 0


def build_message(digest: Digest, digest_id: int, from_email: str, calendar: BusinessCalendar,
                  timezone: str) -> dict:
    subject, text, html = render(digest, calendar, timezone)
    # no survey_id in custom_args: the event loader must not take a digest's events for a survey's
    return sendgrid_client.message([{"email": digest.manager_email, "name": digest.manager_name}], subject, text,
                                   html, from_email=from_email, from_name="NPS", categories=["nps-close-loop"],
                                   custom_args={"kind": "digest", "digest_id": str(digest_id)})


def expire_stale_claims(conn: psycopg.Connection, run: RunDay) -> int:
    """Claims left by an earlier attempt that died mid-send: the request may have gone out, so never resend."""
    cur = conn.execute("""
        update ops.digests set status = 'unknown', error = coalesce(error, 'claim left by an interrupted attempt')
         where status = 'claimed' and claim_token is distinct from %s
    """, (run.token,))
    if cur.rowcount:
        log.warning("%d digest(s) were claimed by an interrupted attempt: marked unknown, not resent", cur.rowcount)
    return cur.rowcount


def claim(conn: psycopg.Connection, digest: Digest, run: RunDay) -> int | None:
    """Claim today's digest for this manager, tying its new cases to it. None when one exists already."""
    now = clock.now()
    with conn.transaction():
        row = conn.execute("""
            insert into ops.digests (manager_email, logical_date, language, status, claim_token, claimed_at)
            values (%s, %s, %s, 'claimed', %s, %s)
            on conflict (manager_email, logical_date) do update
               set status = 'claimed', claim_token = excluded.claim_token, claimed_at = excluded.claimed_at,
                   language = excluded.language, error = null
             where ops.digests.status = 'failed'
            returning digest_id
        """, (digest.manager_email, digest.day, digest.language, run.token, now)).fetchone()
        if row is None:
            return None
        digest_id = row[0]
        tied = {r[0] for r in conn.execute("""
            update ops.case_state set digest_id = %s, updated_at = now()
             where survey_id = any(%s) and digest_id is null and notified_at is null
            returning survey_id
        """, (digest_id, digest.new_ids))}
        # a case another digest took meanwhile is not repeated here
        digest.new = [c for c in digest.new if c["survey_id"] in tied]
        digest.passives = [c for c in digest.passives if c["survey_id"] in tied]
        conn.execute("update ops.digests set survey_ids = %s, overdue_ids = %s where digest_id = %s",
                     (digest.new_ids, digest.overdue_ids, digest_id))
    return digest_id


def send_one(conn: psycopg.Connection, client, digest: Digest, digest_id: int, from_email: str,
             calendar: BusinessCalendar, timezone: str) -> str:
    """Send one claimed digest and record the outcome: 'sent' | 'failed' | 'unknown'."""
    if not (digest.new or digest.passives or digest.overdue):
        # everything was taken by another digest meanwhile: nothing to say, and nothing was sent
        conn.execute("delete from ops.digests where digest_id = %s and status = 'claimed'", (digest_id,))
        return "already"
    result = sendgrid_client.send(client, build_message(digest, digest_id, from_email, calendar, timezone))
    if result.outcome is not Outcome.SENT:
        status = "failed" if result.outcome is Outcome.REFUSED else "unknown"
        with conn.transaction():
            conn.execute("update ops.digests set status = %s, error = %s where digest_id = %s",
                         (status, result.error[:1000], digest_id))
            if status == "failed":
                conn.execute("update ops.case_state set digest_id = null, updated_at = now() "
                             "where digest_id = %s and notified_at is null", (digest_id,))
        log.error("digest %s to %s: %s (%s)", digest_id, digest.manager_email, status, result.error)
        return status
    now = clock.now()
    with conn.transaction():
        conn.execute("update ops.digests set status = 'sent', message_id = %s, sent_at = %s, error = null "
                     "where digest_id = %s", (result.message_id, now, digest_id))
        conn.execute("update ops.case_state set notified_at = %s, updated_at = now() where digest_id = %s",
                     (now, digest_id))
        if digest.overdue_ids:
            conn.execute("update ops.case_state set last_listed_overdue_on = %s, updated_at = now() "
                         "where survey_id = any(%s)", (digest.day, digest.overdue_ids))
    log.info("digest %s to %s sent: %d new, %d overdue, %d passive (message %s)", digest_id, digest.manager_email,
             len(digest.new), len(digest.overdue), len(digest.passives), result.message_id)
    return "sent"


def release(conn: psycopg.Connection, digest_id: int) -> int:
    """Operator's tool for an 'unknown' digest known NOT to have left (SendGrid's activity shows nothing): mark it
    failed and free its cases for the next run's digest. Returns the number of cases freed."""
    with conn.transaction():
        row = conn.execute("update ops.digests set status = 'failed', error = coalesce(error, '') || ' [released]' "
                           "where digest_id = %s and status in ('unknown', 'failed') returning digest_id",
                           (digest_id,)).fetchone()
        if row is None:
            raise ValueError(f"digest {digest_id} does not exist or is not unknown/failed (sent ones stay sent)")
        return conn.execute("update ops.case_state set digest_id = null, updated_at = now() "
                            "where digest_id = %s and notified_at is null", (digest_id,)).rowcount


def send_digests(conn: psycopg.Connection, client, digests: list[Digest], run: RunDay,
                 from_email: str, calendar: BusinessCalendar, timezone: str) -> SendResult:
    result = SendResult(stale_claims=expire_stale_claims(conn, run))
    for digest in digests:
        digest_id = claim(conn, digest, run)
        if digest_id is None:
            result.already += 1
            continue
        outcome = send_one(conn, client, digest, digest_id, from_email, calendar, timezone)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result
