"""Sending the day's due surveys at most once: claim -> request -> record, the one place for send semantics.

For one sending day (the run's logical date in Europe/Kyiv) the sender reads `intermediate.int_survey_due_queue`
(the dbt model that decides eligibility), drops what `raw.survey_sends` already holds, applies the rollout `limit`,
and sends the rest in batches. Each batch is one SendGrid request for up to 1000 recipients of ONE (kind, language):

1. claim: insert the batch's rows into `raw.survey_sends` with status `claimed` and commit, BEFORE the request;
   a row that exists already (any status but `sandbox`) is not claimed, so nothing is ever sent twice;
2. request: `POST /v3/mail/send` (see `build_body`);
3. record: 202 -> `sent` + the request's `X-Message-Id` (SendGrid's `sg_message_id` in events starts with it, and
   events carry our `custom_args.survey_id`); 200 in sandbox mode (`dry_run`) -> `sandbox`; 400 -> `failed` with
   SendGrid's reason (when the errors name single personalizations, only those fail and the rest is retried at
   once: a 400 means SendGrid accepted nothing); 429 -> wait until `X-RateLimit-Reset` (capped) and retry the same
   batch; 5xx, timeout or a dropped connection -> `unknown`, never re-sent, and the run stops (the task fails, so
   Airflow retries later and the retry carries on with what is still unsent).

A crash or kill between claim and record leaves rows `claimed`; the next start (a task retry or a re-run) turns
them into `unknown` before anything else, under an advisory lock that keeps two senders from running at once.
Dry-run claims are deleted instead (sandbox mode never delivers), and a real send may take over a `sandbox` row.

Batching choice: the HTML and text parts are rendered in this repository (templates/) once per (language, kind)
and the per-recipient bits go in per-personalization `substitutions` (`-token-`, `-greeting-`, `-greeting_html-`),
instead of `dynamic_template_data` with a `d-...` template that would live in SendGrid's UI rather than in git.
Because a request has one `content`, a batch holds one language and kind: a day with mixed languages costs at most
8 partial requests more than the minimum.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta

import psycopg
from psycopg import sql

from nps import clock, tokens
from nps.config import settings
from nps.connections import warehouse_dsn
from nps.surveys import render
from nps.surveys.sendgrid_api import Outcome, PostResult, make_client, post_mail

log = logging.getLogger(__name__)

DUE_QUEUE = "intermediate.int_survey_due_queue"  # the dbt model: eligibility lives there, not here
MAX_PERSONALIZATIONS = 1000  # SendGrid's limit per request
ADVISORY_LOCK = 0x6E7073_53454E44 & 0x7FFFFFFFFFFFFFFF  # "npsSEND": one sender per warehouse at a time
ORPHAN_ERROR = "claimed by an attempt that ended before its outcome was recorded (crash or kill): never re-sent"
_PERSONALIZATION_FIELD = re.compile(r"^personalizations\.(\d+)\b")


class SendAborted(RuntimeError):
    """The run stopped; the report (logged) says what was sent before. Airflow retries the task."""


class OutcomeUnknown(SendAborted):
    """A batch may or may not have gone out: its rows are `unknown`."""


class SendGridUnavailable(SendAborted):
    """Nothing was sent (bad key/host, connection refused, rate limit never lifted); the claims were released."""


@dataclass(frozen=True)
class DueSurvey:
    survey_id: str
    kind: str
    purchase_id: str
    customer_ref: str
    email: str
    language: str
    customer_name: str | None = None
    due_date: date | None = None
    days_late: int | None = None


@dataclass
class SendReport:
    """Counts of one run, logged and returned to the task (XCom)."""

    day: str
    dry_run: bool
    limit: int | None
    run_id: str | None = None
    due: int = 0
    already_recorded: int = 0
    too_late: int = 0
    invalid: int = 0
    skipped_by_limit: int = 0
    claimed: int = 0
    sent: int = 0
    sandbox: int = 0
    failed: int = 0
    unknown: int = 0
    released: int = 0
    orphans_marked_unknown: int = 0
    orphans_dry_run_released: int = 0
    requests: int = 0
    rate_limited: int = 0
    rate_limit_wait_s: float = 0.0
    message_ids: list[str] = field(default_factory=list)
    by_language: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(Counter))
    by_kind: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(Counter))
    aborted: str | None = None

    def count(self, status: str, rows: Iterable[DueSurvey]) -> None:
        n = 0
        for row in rows:
            self.by_language[row.language][status] += 1
            self.by_kind[row.kind][status] += 1
            n += 1
        setattr(self, status, getattr(self, status) + n)

    def as_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("by_language", "by_kind")}
        data["message_ids"] = list(self.message_ids)
        data["by_language"] = {k: dict(v) for k, v in sorted(self.by_language.items())}
        data["by_kind"] = {k: dict(v) for k, v in sorted(self.by_kind.items())}
        data["rate_limit_wait_s"] = round(self.rate_limit_wait_s, 3)
        return data

    def summary(self) -> str:
        mode = "DRY RUN (sandbox) " if self.dry_run else ""
        langs = ", ".join(f"{k} {dict(v)}" for k, v in sorted(self.by_language.items())) or "-"
        kinds = ", ".join(f"{k} {dict(v)}" for k, v in sorted(self.by_kind.items())) or "-"
        return (f"{mode}surveys for {self.day}: due {self.due}, sent {self.sent}, sandbox {self.sandbox}, "
                f"failed {self.failed}, unknown {self.unknown} (+{self.orphans_marked_unknown} left claimed by a "
                f"crashed attempt), skipped: by limit {self.skipped_by_limit}, already recorded "
                f"{self.already_recorded}, too late {self.too_late}, invalid {self.invalid}; released {self.released}; "
                f"requests {self.requests}, 429s {self.rate_limited} ({self.rate_limit_wait_s:.1f} s waited); "
                f"per language: {langs}; per kind: {kinds}")


# --- database -------------------------------------------------------------------------------------------------------

def read_due_queue(conn: psycopg.Connection, day: date, relation: str = DUE_QUEUE) -> list[DueSurvey]:
    """The dbt view for `day`: `nps.as_of_date` is a transaction-local setting the view reads."""
    schema, _, name = relation.rpartition(".")
    table = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    with conn.transaction():
        conn.execute("select set_config('nps.as_of_date', %s, true)", (day.isoformat(),))
        rows = conn.execute(sql.SQL("""
            select survey_id, kind, purchase_id, customer_ref, email, language, customer_name, due_date, days_late
            from {}""").format(table)).fetchall()
    return [DueSurvey(*row) for row in rows]


def recover_orphans(conn: psycopg.Connection) -> tuple[int, int]:
    """Rows still `claimed` belong to an attempt that died between claim and record (we hold the lock)."""
    with conn.transaction():
        released = conn.execute(
            "delete from raw.survey_sends where status = 'claimed' and dry_run").rowcount
        unknown = conn.execute(
            "update raw.survey_sends set status = 'unknown', error = %s where status = 'claimed'",
            (ORPHAN_ERROR,)).rowcount
    if unknown:
        log.warning("%d survey(s) were left 'claimed' by an earlier attempt: marked 'unknown', never re-sent",
                    unknown)
    return unknown, released


def recorded_keys(conn: psycopg.Connection, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """(survey_id, kind) pairs that already have a real (non-sandbox) send record."""
    if not keys:
        return set()
    rows = conn.execute("""
        select s.survey_id, s.kind from raw.survey_sends s
        join unnest(%s::text[], %s::text[]) as k(survey_id, kind) using (survey_id, kind)
        where s.status <> 'sandbox'""", ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
    return {(r[0], r[1]) for r in rows}


def claim(conn: psycopg.Connection, rows: list[DueSurvey], day: date, run_id: str | None,
          dry_run: bool) -> list[DueSurvey]:
    """Insert `claimed` rows and commit; returns the rows this call owns (others exist already)."""
    if not rows:
        return []
    now = clock.now()
    cols = list(zip(*[(r.survey_id, r.kind, r.purchase_id, r.customer_ref, r.email, r.language, r.due_date)
                      for r in rows], strict=True))
    claimed = conn.execute("""
        insert into raw.survey_sends as s (survey_id, kind, purchase_id, customer_ref, email, language, status,
                                           due_date, logical_date, claimed_at, run_id, dry_run, attempts)
        select u.survey_id, u.kind, u.purchase_id, u.customer_ref, u.email, u.language, 'claimed',
               u.due_date, %s, %s, %s, %s, 0
        from unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::date[])
             as u(survey_id, kind, purchase_id, customer_ref, email, language, due_date)
        on conflict (survey_id, kind) do update set
            purchase_id = excluded.purchase_id, customer_ref = excluded.customer_ref, email = excluded.email,
            language = excluded.language, status = 'claimed', message_id = null, error = null,
            due_date = excluded.due_date, logical_date = excluded.logical_date, claimed_at = excluded.claimed_at,
            sent_at = null, run_id = excluded.run_id, dry_run = excluded.dry_run, attempts = 0,
            last_attempt_at = null
        where s.status = 'sandbox'
        returning s.survey_id, s.kind""", (day, now, run_id, dry_run, *[list(c) for c in cols])).fetchall()
    owned = {(r[0], r[1]) for r in claimed}
    return [r for r in rows if (r.survey_id, r.kind) in owned]


def _keys(rows: list[DueSurvey]) -> tuple[list[str], list[str]]:
    return [r.survey_id for r in rows], [r.kind for r in rows]


_MATCH_CLAIMED = """
    (survey_id, kind) in (select * from unnest(%s::text[], %s::text[])) and status = 'claimed'"""


def mark_attempt(conn: psycopg.Connection, rows: list[DueSurvey]) -> None:
    conn.execute(f"update raw.survey_sends set attempts = attempts + 1, last_attempt_at = %s where {_MATCH_CLAIMED}",
                 (clock.now(), *_keys(rows)))


def record(conn: psycopg.Connection, rows: list[DueSurvey], status: str, *, message_id: str | None = None,
           error: str | None = None) -> int:
    sent_at = clock.now() if status in ("sent", "sandbox") else None
    updated = conn.execute(
        f"update raw.survey_sends set status = %s, message_id = %s, error = %s, sent_at = %s where {_MATCH_CLAIMED}",
        (status, message_id, error, sent_at, *_keys(rows))).rowcount
    if updated != len(rows):
        log.warning("recording %s: %d of %d claimed rows updated", status, updated, len(rows))
    return updated


def release(conn: psycopg.Connection, rows: list[DueSurvey]) -> int:
    """Undo claims of a batch SendGrid certainly did not take (so a later run may send it)."""
    return conn.execute(f"delete from raw.survey_sends where {_MATCH_CLAIMED}", _keys(rows)).rowcount


# --- the request ----------------------------------------------------------------------------------------------------

def _display_name(name: str | None) -> str | None:
    # SendGrid rejects a `to.name` holding ',' or ';' and control characters garble headers.
    clean = " ".join(re.sub(r"[,;\x00-\x1f\x7f\"]", " ", name or "").split())[:100]
    return clean or None


def build_body(template: render.Email, rows: list[DueSurvey], survey_tokens: dict[str, str], *,
               dry_run: bool) -> dict:
    """The `POST /v3/mail/send` body of one batch (valid against SendGrid's tsg_mail_v3.json)."""
    if not 0 < len(rows) <= MAX_PERSONALIZATIONS:
        raise ValueError(f"a batch holds 1..{MAX_PERSONALIZATIONS} surveys, got {len(rows)}")
    cfg = settings()
    personalizations = []
    for row in rows:
        to = {"email": row.email}
        name = _display_name(row.customer_name)
        if name:
            to["name"] = name
        personalizations.append({
            "to": [to],
            "substitutions": render.substitutions(row.language, survey_tokens[row.survey_id], row.customer_name),
            "custom_args": {"survey_id": row.survey_id, "kind": row.kind},
        })
    return {
        "personalizations": personalizations,
        "from": {"email": cfg.sendgrid_from_email, "name": template.from_name},
        "subject": template.subject,
        # text/plain must come before text/html
        "content": [{"type": "text/plain", "value": template.text}, {"type": "text/html", "value": template.html}],
        "categories": ["nps", f"nps-{template.kind}"],
        "asm": {"group_id": cfg.sendgrid_asm_group_id},
        "mail_settings": {"sandbox_mode": {"enable": bool(dry_run)}},
        # Links carry signed tokens and the collector records clicks itself: no SendGrid link rewriting.
        "tracking_settings": {"click_tracking": {"enable": False, "enable_text": False},
                              "open_tracking": {"enable": True}},
    }


def rejected_indexes(result: PostResult, size: int) -> set[int] | None:
    """Personalizations a 400 blames, or None when an error is about the whole request."""
    if not result.errors:
        return None
    bad = set()
    for err in result.errors:
        match = _PERSONALIZATION_FIELD.match(str(err.get("field") or ""))
        if not match or int(match.group(1)) >= size:
            return None
        bad.add(int(match.group(1)))
    return bad


# --- the run --------------------------------------------------------------------------------------------------------

@dataclass
class Sender:
    """One sending run. `sleep` and `wall_clock` are injectable so tests need not wait for real rate limits."""

    day: date
    issued_at: datetime
    dry_run: bool = False
    limit: int | None = None
    run_id: str | None = None
    dsn: str | None = None
    client: object | None = None
    queue_relation: str = DUE_QUEUE
    batch_size: int = MAX_PERSONALIZATIONS
    timeout: float = 30.0
    max_rate_limit_wait: float = 60.0  # per 429
    max_rate_limited: int = 8  # 429s per batch before giving up (the claims are released)
    sleep: Callable[[float], None] = time.sleep
    wall_clock: Callable[[], float] = time.time
    report: SendReport = field(init=False)

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware (the run's logical instant)")
        if self.limit is not None and (isinstance(self.limit, bool) or int(self.limit) < 0):
            raise ValueError(f"limit must be a non-negative integer or None, got {self.limit!r}")
        if not 0 < self.batch_size <= MAX_PERSONALIZATIONS:
            raise ValueError(f"batch_size must be 1..{MAX_PERSONALIZATIONS}, got {self.batch_size}")
        self.run_id = self.run_id or f"manual__{uuid.uuid4().hex[:12]}"
        self.report = SendReport(day=self.day.isoformat(), dry_run=self.dry_run, limit=self.limit,
                                 run_id=self.run_id)

    def run(self) -> SendReport:
        tokens.mint("probe", issued_at=self.issued_at)  # fail before claiming anything if no signing secret
        client = self.client or make_client()
        try:
            with psycopg.connect(self.dsn or warehouse_dsn(), autocommit=True) as conn:
                conn.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK,))  # released when the session ends
                (self.report.orphans_marked_unknown,
                 self.report.orphans_dry_run_released) = recover_orphans(conn)
                for (kind, language), batch in self.plan(conn):
                    self.send_batch(conn, client, kind, language, batch)
        except SendAborted as exc:
            self.report.aborted = str(exc)
            raise
        finally:
            log_fn = log.warning if (self.report.unknown or self.report.orphans_marked_unknown
                                     or self.report.aborted) else log.info
            log_fn(self.report.summary())
        return self.report

    def plan(self, conn: psycopg.Connection) -> list[tuple[tuple[str, str], list[DueSurvey]]]:
        """The day's batches: deduplicated, not yet recorded, within catch-up, oldest due first, limited."""
        cfg = settings()
        due = read_due_queue(conn, self.day, self.queue_relation)
        self.report.due = len(due)
        seen, valid = set(), []
        for row in due:
            key = (row.survey_id, row.kind)
            if key in seen:
                continue
            seen.add(key)
            if row.language not in render.LANGUAGES or row.kind not in render.KINDS or not row.email:
                log.warning("due queue row %s/%s is invalid (language %r, kind %r): skipped", row.survey_id,
                            row.kind, row.language, row.kind)
                self.report.invalid += 1
            elif row.days_late is not None and row.days_late > cfg.catch_up_days:
                self.report.too_late += 1
            else:
                valid.append(row)
        done = recorded_keys(conn, [(r.survey_id, r.kind) for r in valid])
        todo = [r for r in valid if (r.survey_id, r.kind) not in done]
        self.report.already_recorded = len(valid) - len(todo)
        todo.sort(key=lambda r: (r.due_date or date.max, r.kind != "invite", r.survey_id))
        if self.limit is not None and len(todo) > self.limit:
            self.report.skipped_by_limit = len(todo) - self.limit
            todo = todo[: self.limit]
        groups: dict[tuple[str, str], list[DueSurvey]] = defaultdict(list)
        for row in todo:
            groups[(row.kind, row.language)].append(row)
        batches = []
        for key in sorted(groups):
            rows = groups[key]
            batches += [(key, rows[i: i + self.batch_size]) for i in range(0, len(rows), self.batch_size)]
        return batches

    def send_batch(self, conn: psycopg.Connection, client, kind: str, language: str, rows: list[DueSurvey]) -> None:
        # settings() re-reads the environment on each call: resolved once per batch, not twice per token (profiled)
        cfg = settings()
        ttl = timedelta(days=cfg.token_ttl_days)
        survey_tokens = {r.survey_id: tokens.mint(r.survey_id, issued_at=self.issued_at, ttl=ttl,
                                                  secret=cfg.token_secret) for r in rows}
        template = render.render_template(language, kind, cfg.collector_base_url)
        pending = claim(conn, rows, self.day, self.run_id, self.dry_run)
        self.report.claimed += len(pending)
        self.report.already_recorded += len(rows) - len(pending)
        rate_limited = rejections = 0
        while pending:
            body = build_body(template, pending, survey_tokens, dry_run=self.dry_run)
            mark_attempt(conn, pending)
            self.report.requests += 1
            result = post_mail(client, body, self.timeout)
            if result.outcome is Outcome.ACCEPTED:
                status = "sandbox" if self.dry_run else "sent"
                record(conn, pending, status, message_id=result.message_id)
                self.report.count(status, pending)
                if result.message_id:
                    self.report.message_ids.append(result.message_id)
                return
            if result.outcome is Outcome.RATE_LIMITED:
                rate_limited += 1
                self.report.rate_limited += 1
                if rate_limited > self.max_rate_limited:
                    self._give_up(conn, pending, f"still rate limited after {self.max_rate_limited} waits")
                self._wait_for_reset(result, rate_limited)
                continue
            if result.outcome is Outcome.REJECTED:
                bad = rejected_indexes(result, len(pending))
                if bad and len(bad) < len(pending) and rejections < 3:
                    rejections += 1
                    failed = [r for i, r in enumerate(pending) if i in bad]
                    for i in sorted(bad):
                        reasons = [e for e in result.errors if str(e.get("field", "")).startswith(
                            f"personalizations.{i}")]
                        record(conn, [pending[i]], "failed",
                               error=f"HTTP {result.status}: " + "; ".join(str(e.get("message")) for e in reasons))
                    self.report.count("failed", failed)
                    pending = [r for i, r in enumerate(pending) if i not in bad]
                    log.warning("SendGrid rejected %d recipient(s) of a %s/%s batch; retrying the other %d",
                                len(failed), kind, language, len(pending))
                    continue
                record(conn, pending, "failed", error=result.error)
                self.report.count("failed", pending)
                log.error("SendGrid rejected a %s/%s batch of %d: %s", kind, language, len(pending), result.error)
                return
            if result.outcome is Outcome.NOT_SENT:
                self._give_up(conn, pending, result.error or "not sent")
            # UNKNOWN: it may have gone out, so it never goes again; stop before more batches end up like it.
            record(conn, pending, "unknown", error=result.error)
            self.report.count("unknown", pending)
            raise OutcomeUnknown(f"{len(pending)} {kind}/{language} survey(s) in an unknown state: {result.error}")

    def _wait_for_reset(self, result: PostResult, streak: int) -> None:
        wait = result.rate_limit_reset - self.wall_clock() if result.rate_limit_reset is not None else 0.0
        if wait <= 0:  # no header, or a reset already past (whole seconds): back off a little more each time
            wait = min(0.25 * 2 ** (streak - 1), 8.0)
        wait = min(wait + 0.05, self.max_rate_limit_wait)
        log.info("SendGrid answered 429: waiting %.2f s until X-RateLimit-Reset", wait)
        self.report.rate_limit_wait_s += wait
        self.sleep(wait)

    def _give_up(self, conn: psycopg.Connection, pending: list[DueSurvey], reason: str) -> None:
        self.report.released += release(conn, pending)
        raise SendGridUnavailable(f"SendGrid took nothing of a batch of {len(pending)}: {reason}")


def send_due_surveys(day: date, issued_at: datetime, **options) -> SendReport:
    """Send the surveys due on `day` (Europe/Kyiv); `issued_at` (the run's logical instant) starts token lifetimes."""
    return Sender(day=day, issued_at=issued_at, **options).run()
