"""Send the digests through SendGrid, at most once per manager and day: claim -> send -> record.

A digest row (ops.digests, unique per manager and day) is claimed and its cases tied to it before the request; 202
records 'sent' with X-Message-Id and stamps the cases notified. A refused request (an HTTP error answer, or no
connection at all) is 'failed': nothing went out, the cases are released and a retry sends them. Anything else
after the request may have left (timeout, crash) stays 'unknown' and is never re-sent: a stale claim found by a
later attempt becomes 'unknown' too, and its cases are reported, not repeated.
"""

from __future__ import annotations

import logging
import socket
import urllib.error
from dataclasses import dataclass

import psycopg
from python_http_client.exceptions import HTTPError as SendGridHTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Category, Content, CustomArg, From, Mail, MimeType, To

from nps import clock
from nps.closeloop.business_days import BusinessCalendar
from nps.closeloop.cases import RunDay
from nps.closeloop.digest import Digest, render

log = logging.getLogger(__name__)


@dataclass
class SendResult:
    sent: int = 0
    already: int = 0        # a digest for this manager and day exists (sent / unknown): nothing sent again
    failed: int = 0
    unknown: int = 0
    stale_claims: int = 0


def sendgrid_client(base_url: str, api_key: str, timeout: float = 30.0) -> SendGridAPIClient:
    if not api_key:
        raise RuntimeError("the nps_sendgrid connection has no API key (password)")
    client = SendGridAPIClient(api_key=api_key, host=base_url.rstrip("/"))
    client.client.timeout = timeout
    return client


def build_message(digest: Digest, digest_id: int, from_email: str, calendar: BusinessCalendar,
                  timezone: str) -> Mail:
    subject, text, html = render(digest, calendar, timezone)
    mail = Mail(from_email=From(from_email, "NPS"), to_emails=To(digest.manager_email, digest.manager_name),
                subject=subject)
    mail.add_content(Content(MimeType.text, text))
    mail.add_content(Content(MimeType.html, html))
    mail.add_category(Category("nps-close-loop"))
    # no survey_id here: the event loader must not take a digest's events for a survey's
    mail.add_custom_arg(CustomArg("kind", "digest"))
    mail.add_custom_arg(CustomArg("digest_id", str(digest_id)))
    return mail


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


def _refused(exc: BaseException) -> bool:
    """True when the request certainly did not reach SendGrid (so a retry cannot duplicate the e-mail)."""
    if isinstance(exc, SendGridHTTPError):
        return True  # SendGrid answered with an error: the message was not accepted
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return isinstance(exc.reason, ConnectionRefusedError | socket.gaierror)
    return isinstance(exc, ConnectionRefusedError)


def send_one(conn: psycopg.Connection, client: SendGridAPIClient, digest: Digest, digest_id: int, from_email: str,
             calendar: BusinessCalendar, timezone: str) -> str:
    """Send one claimed digest and record the outcome: 'sent' | 'failed' | 'unknown'."""
    if not (digest.new or digest.passives or digest.overdue):
        # everything was taken by another digest meanwhile: nothing to say, and nothing was sent
        conn.execute("delete from ops.digests where digest_id = %s and status = 'claimed'", (digest_id,))
        return "already"
    message = build_message(digest, digest_id, from_email, calendar, timezone)
    try:
        response = client.send(message)
    except Exception as exc:
        status = "failed" if _refused(exc) else "unknown"
        detail = getattr(exc, "body", b"") or b""
        error = f"{type(exc).__name__}: {getattr(exc, 'status_code', '')} {detail[:300]!r} {exc}"[:1000]
        with conn.transaction():
            conn.execute("update ops.digests set status = %s, error = %s where digest_id = %s",
                         (status, error, digest_id))
            if status == "failed":
                conn.execute("update ops.case_state set digest_id = null, updated_at = now() "
                             "where digest_id = %s and notified_at is null", (digest_id,))
        log.error("digest %s to %s: %s (%s)", digest_id, digest.manager_email, status, error)
        return status
    message_id = response.headers.get("X-Message-Id") if response.headers else None
    now = clock.now()
    with conn.transaction():
        conn.execute("update ops.digests set status = 'sent', message_id = %s, sent_at = %s, error = null "
                     "where digest_id = %s", (message_id, now, digest_id))
        conn.execute("update ops.case_state set notified_at = %s, updated_at = now() where digest_id = %s",
                     (now, digest_id))
        if digest.overdue_ids:
            conn.execute("update ops.case_state set last_listed_overdue_on = %s, updated_at = now() "
                         "where survey_id = any(%s)", (digest.day, digest.overdue_ids))
    log.info("digest %s to %s sent: %d new, %d overdue, %d passive (message %s)", digest_id, digest.manager_email,
             len(digest.new), len(digest.overdue), len(digest.passives), message_id)
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


def send_digests(conn: psycopg.Connection, client: SendGridAPIClient, digests: list[Digest], run: RunDay,
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
