"""Sending the day's due surveys at most once: claim -> request -> record, the one place for survey send semantics.

For one sending day (the run's logical date in Europe/Kyiv) the sender reads `intermediate.int_survey_due_queue`
(the dbt model that decides eligibility), drops what `raw.survey_sends` already holds, applies the rollout `limit`,
and sends the rest in batches of up to 1000 recipients, one SendGrid request each, one batch after the other:

1. claim: insert the batch's rows into `raw.survey_sends` with status `claimed` (and its first attempt) and commit,
   BEFORE the request; a row that exists already (any status but `sandbox`) is not claimed, so nothing is ever
   sent twice;
2. request: `POST /v3/mail/send` (see `build_body`) through `nps.sendgrid_client`, whose one rule says whether
   SendGrid took the batch (sent), took nothing (refused) or may have taken it (unknown);
3. record: sent -> `sent` + the request's `X-Message-Id` (SendGrid's `sg_message_id` in events starts with it, and
   events carry our `custom_args.survey_id`), `sandbox` in sandbox mode (`dry_run`); unknown (5xx, timeout, a
   dropped connection) -> `unknown`, never re-sent, and the run stops (the task fails, so Airflow retries later and
   the retry carries on with what is still unsent); refused:
   - 429: wait until `X-RateLimit-Reset` (capped) and send the same batch again;
   - 400 naming single personalizations: only those fail, the rest goes again at once;
   - any other refusal of the body (400, 413, ...): `failed` with SendGrid's reason (resending would not help);
   - a refusal of us (no connection, 401 key, 403 sender identity, 404/405/415 wrong host): the claims are
     released and the run stops; once that is fixed, a later run sends them.

So at most one batch is ever claimed but not recorded. A crash or kill between claim and record leaves its rows
`claimed`; the next start (a task retry or a re-run) turns them into `unknown` before anything else, under an
advisory lock that keeps two senders from running at once. Dry-run claims are deleted instead (sandbox mode never
delivers), and a real send may take over a `sandbox` row. Then `unknown` rows whose SendGrid events have arrived
(`raw.sendgrid_events`, by survey id and kind: they carry our custom_args) become `sent` as of their earliest
event, so the funnel counts them.

Report only (`report_only`, set for a run that is not for today: see `nps.surveys.tasks.not_today`): the plan is
made and counted (`would_send`) and nothing else happens: no lock, no SendGrid request, no row written.

Batching: the HTML and text parts are rendered in this repository (templates/, `nps.surveys.render`) into one
language-neutral skeleton, and the per-recipient bits go in per-personalization `substitutions` (`-token-`,
`-greeting-`, `-greeting_html-`) instead of `dynamic_template_data` with a `d-...` template that would live in
SendGrid's UI rather than in git. A request has one `content`, so:
- each (kind, language)'s surveys go out in full requests of 1000 whose content is that language's e-mail;
- what is left of every (kind, language) (under 1000 each) is packed into shared requests whose content is the
  skeleton; each personalization then also carries its language's strings as substitutions (`-nps_intro-` ...,
  about 2 KB; SendGrid allows 10,000 bytes per personalization), its own `subject` and `from` name.
So N surveys take ceil(N / 1000) requests whatever the mix of languages and kinds. A shared request holding one kind
has the categories `nps`, `nps-<kind>`; one holding both kinds only `nps` (`custom_args.kind` tells them apart).
SendGrid's section tags (`sections`), which could have carried the language blocks once per request, were
removed by SendGrid and are absent from tsg_mail_v3.json: not used.
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
from functools import cache

import psycopg
from psycopg import sql

from nps import clock, sendgrid_client, tokens
from nps.config import settings
from nps.connections import warehouse_dsn
from nps.sendgrid_client import Outcome, Result
from nps.surveys import render

log = logging.getLogger(__name__)

DUE_QUEUE = "intermediate.int_survey_due_queue"  # the dbt model: eligibility lives there, not here
MAX_PERSONALIZATIONS = 1000  # SendGrid's limit per request
MAX_SUBSTITUTION_BYTES = 10_000  # SendGrid's limit per personalization (keys + values, tsg_mail_v3.json)
MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit: a longer address cannot be delivered
REFUSED_US = {None, 401, 403, 404, 405, 415}  # no connection, key, sender identity, host: not these surveys' fault
ADVISORY_LOCK = 0x6E7073_53454E44 & 0x7FFFFFFFFFFFFFFF  # "npsSEND": one sender per warehouse at a time
ORPHAN_ERROR = "claimed by an attempt that ended before its outcome was recorded (crash or kill): never re-sent"
RECONCILED_NOTE = "was unknown until SendGrid's events showed it sent"
_PERSONALIZATION_FIELD = re.compile(r"^personalizations\.(\d+)\b")


class SendAborted(RuntimeError):
    """The run stopped; the report (logged) says what was sent before. Airflow retries the task."""


class OutcomeUnknown(SendAborted):
    """A batch may or may not have gone out: its rows are `unknown`."""


class SendGridUnavailable(SendAborted):
    """SendGrid took nothing (bad key/host, no connection, rate limit never lifted); the claims were released."""


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
    invalid: int = 0
    skipped_by_limit: int = 0
    sent: int = 0
    sandbox: int = 0
    failed: int = 0
    unknown: int = 0
    orphans_marked_unknown: int = 0
    orphans_dry_run_released: int = 0
    unknown_reconciled: int = 0
    would_send: int = 0
    reported_only: str | None = None  # why this run only reported what it would send
    requests: int = 0
    rate_limited: int = 0
    message_ids: list[str] = field(default_factory=list)
    by_language: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(Counter))
    by_kind: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(Counter))

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
        return data

    def summary(self) -> str:
        langs = ", ".join(f"{k} {dict(v)}" for k, v in sorted(self.by_language.items())) or "-"
        kinds = ", ".join(f"{k} {dict(v)}" for k, v in sorted(self.by_kind.items())) or "-"
        if self.reported_only:
            return (f"{self.reported_only}: surveys for {self.day}: due {self.due}, would send {self.would_send}, "
                    f"skipped: by limit {self.skipped_by_limit}, already recorded {self.already_recorded}, invalid "
                    f"{self.invalid}; per language: {langs}; per kind: {kinds}")
        mode = "DRY RUN (sandbox) " if self.dry_run else ""
        return (f"{mode}surveys for {self.day}: due {self.due}, sent {self.sent}, sandbox {self.sandbox}, "
                f"failed {self.failed}, unknown {self.unknown} (+{self.orphans_marked_unknown} left claimed by a "
                f"crashed attempt; {self.unknown_reconciled} earlier unknown shown sent by SendGrid's events), "
                f"skipped: by limit {self.skipped_by_limit}, already recorded {self.already_recorded}, invalid "
                f"{self.invalid}; requests {self.requests}, 429s {self.rate_limited}; "
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


def reconcile_unknown(conn: psycopg.Connection) -> int:
    """`unknown` rows that SendGrid's events show it took become `sent` at their earliest event (a status only:
    an `unknown` row is never re-sent either way)."""
    reconciled = conn.execute("""
        update raw.survey_sends s set status = 'sent', sent_at = e.first_event_at,
               error = %s || coalesce(': ' || s.error, '')
        from (select survey_id, kind, min(occurred_at) as first_event_at from raw.sendgrid_events
              where (survey_id, kind) in (select survey_id, kind from raw.survey_sends where status = 'unknown')
              group by survey_id, kind) e
        where s.status = 'unknown' and (s.survey_id, s.kind) = (e.survey_id, e.kind)""",
                              (RECONCILED_NOTE,)).rowcount
    if reconciled:
        log.info("%d survey(s) left 'unknown' went out after all (SendGrid's events): now 'sent'", reconciled)
    return reconciled


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
    """Insert `claimed` rows, counting the request about to carry them as their first attempt, and commit (one
    statement, autocommit); returns the rows this call owns (others exist already)."""
    if not rows:
        return []
    now = clock.now()
    cols = list(zip(*[(r.survey_id, r.kind, r.purchase_id, r.customer_ref, r.email, r.language, r.due_date)
                      for r in rows], strict=True))
    claimed = conn.execute("""
        insert into raw.survey_sends as s (survey_id, kind, purchase_id, customer_ref, email, language, status,
                                           due_date, logical_date, claimed_at, run_id, dry_run, attempts,
                                           last_attempt_at)
        select u.survey_id, u.kind, u.purchase_id, u.customer_ref, u.email, u.language, 'claimed',
               u.due_date, %s, %s, %s, %s, 1, %s
        from unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::date[])
             as u(survey_id, kind, purchase_id, customer_ref, email, language, due_date)
        on conflict (survey_id, kind) do update set
            purchase_id = excluded.purchase_id, customer_ref = excluded.customer_ref, email = excluded.email,
            language = excluded.language, status = 'claimed', message_id = null, error = null,
            due_date = excluded.due_date, logical_date = excluded.logical_date, claimed_at = excluded.claimed_at,
            sent_at = null, run_id = excluded.run_id, dry_run = excluded.dry_run, attempts = 1,
            last_attempt_at = excluded.last_attempt_at
        where s.status = 'sandbox'
        returning s.survey_id, s.kind""", (day, now, run_id, dry_run, now, *[list(c) for c in cols])).fetchall()
    owned = {(r[0], r[1]) for r in claimed}
    return [r for r in rows if (r.survey_id, r.kind) in owned]


def _keys(rows: list[DueSurvey]) -> tuple[list[str], list[str]]:
    return [r.survey_id for r in rows], [r.kind for r in rows]


_MATCH_CLAIMED = """
    (survey_id, kind) in (select * from unnest(%s::text[], %s::text[])) and status = 'claimed'"""


def mark_attempt(conn: psycopg.Connection, rows: list[DueSurvey]) -> None:
    """One more request carries these claimed rows (a retry after a 429 or a partial 400)."""
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
    clean = " ".join(re.sub(r"[,;\x00-\x1f\x7f\"]", " ", name or "").split())[:render.NAME_MAX]
    return clean or None


def _substitutions_bytes(subs) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in subs.items())


def worst_substitution_bytes(language: str, kind: str, base_url: str) -> int:
    """A shared personalization's substitutions at their largest: the language's strings plus a token for a
    64-character survey id and a greeting for a 100-character name of 4-byte characters."""
    token = "x" * (64 + 1 + 13 + 1 + 22)  # tokens.mint: id . expiry (base 36) . signature
    return _substitutions_bytes({**render.localized(language, kind, base_url),
                                 **render.substitutions(language, token, "\U0001F600" * render.NAME_MAX)})


@cache
def shareable(language: str, kind: str, base_url: str) -> bool:
    """Whether a (language, kind) may join a shared request: its worst case stays within SendGrid's 10,000
    bytes of substitutions per personalization (about 3 KB today; False only if strings.yml grows far)."""
    return worst_substitution_bytes(language, kind, base_url) <= MAX_SUBSTITUTION_BYTES


def _groups(rows: list[DueSurvey]) -> list[tuple[str, str]]:
    return sorted({(r.kind, r.language) for r in rows})


@dataclass
class Batch:
    """The surveys of one request; `shared` when they mix (kind, language): the content is then the skeleton."""

    rows: list[DueSurvey]
    shared: bool = field(init=False)
    label: str = field(init=False)  # "invite/en, reminder/uk" for logs and errors

    def __post_init__(self) -> None:
        groups = _groups(self.rows)
        self.shared = len(groups) > 1
        self.label = ", ".join(f"{kind}/{language}" for kind, language in groups)


def personalization(row: DueSurvey, token: str, *, shared: bool, base_url: str, from_email: str) -> dict:
    """One recipient's envelope; in a shared request it also carries its language's strings, subject and sender."""
    to = {"email": row.email}
    name = _display_name(row.customer_name)
    if name:
        to["name"] = name
    subs = render.substitutions(row.language, token, row.customer_name)
    item = {"to": [to], "substitutions": subs, "custom_args": {"survey_id": row.survey_id, "kind": row.kind}}
    if shared:
        template = render.render_template(row.language, row.kind, base_url)
        item["substitutions"] = {**render.localized(row.language, row.kind, base_url), **subs}
        item["subject"] = template.subject
        item["from"] = {"email": from_email, "name": template.from_name}
    return item


def build_body(rows: list[DueSurvey], personalizations: list[dict], *, shared: bool, dry_run: bool) -> dict:
    """The `POST /v3/mail/send` body of one batch (valid against SendGrid's tsg_mail_v3.json): `personalizations`
    made by `personalization(..., shared=shared)` for `rows`, in their order."""
    if not 0 < len(personalizations) <= MAX_PERSONALIZATIONS or len(rows) != len(personalizations):
        raise ValueError(f"a batch holds 1..{MAX_PERSONALIZATIONS} surveys, one personalization each, got "
                         f"{len(rows)} surveys and {len(personalizations)} personalizations")
    groups = _groups(rows)
    if len(groups) > 1 and not shared:
        raise ValueError(f"one content cannot serve {groups}: such a batch must be shared")
    cfg = settings()
    template = render.render_template(rows[0].language, rows[0].kind, cfg.collector_base_url)
    kinds = sorted({kind for kind, _ in groups})
    if shared:  # each personalization has its own subject and sender name; the content is the skeleton
        skeleton = render.skeleton(cfg.collector_base_url)
        text, html, subject = skeleton.text, skeleton.html, {}
    else:
        text, html, subject = template.text, template.html, {"subject": template.subject}
    return {
        "personalizations": personalizations,
        "from": {"email": cfg.sendgrid_from_email, "name": template.from_name},
        **subject,
        # text/plain must come before text/html
        "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": html}],
        "categories": ["nps", f"nps-{kinds[0]}"] if len(kinds) == 1 else ["nps"],
        "asm": {"group_id": cfg.sendgrid_asm_group_id},
        "mail_settings": {"sandbox_mode": {"enable": bool(dry_run)}},
        # Links carry signed tokens and the collector records clicks itself: no SendGrid link rewriting.
        "tracking_settings": {"click_tracking": {"enable": False, "enable_text": False},
                              "open_tracking": {"enable": True}},
    }


def rejected_indexes(result: Result, size: int) -> set[int] | None:
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
    """One sending run. `sleep` is injectable so tests need not wait for real rate limits."""

    day: date
    issued_at: datetime
    dry_run: bool = False
    limit: int | None = None
    run_id: str | None = None
    report_only: str | None = None  # the reason this run must not send (see tasks.not_today): plan and report only
    dsn: str | None = None
    client: object | None = None
    queue_relation: str = DUE_QUEUE
    batch_size: int = MAX_PERSONALIZATIONS
    timeout: float = 30.0
    max_rate_limit_wait: float = 60.0  # per 429
    max_rate_limited: int = 8  # 429s per batch before giving up (the claims are released)
    sleep: Callable[[float], None] = time.sleep
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
                                 run_id=self.run_id, reported_only=self.report_only)

    def run(self) -> SendReport:
        if self.report_only:
            return self.report_what_would_go()
        tokens.mint("probe", issued_at=self.issued_at)  # fail before claiming anything if no signing secret
        client = self.client or sendgrid_client.connect()
        try:
            with psycopg.connect(self.dsn or warehouse_dsn(), autocommit=True) as conn:
                conn.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK,))  # released when the session ends
                (self.report.orphans_marked_unknown,
                 self.report.orphans_dry_run_released) = recover_orphans(conn)
                self.report.unknown_reconciled = reconcile_unknown(conn)
                for batch in self.plan(conn):
                    self.send_batch(conn, client, batch)
        finally:
            log_fn = log.warning if self.report.unknown or self.report.orphans_marked_unknown else log.info
            log_fn(self.report.summary())
        return self.report

    def report_what_would_go(self) -> SendReport:
        """Read-only: the plan's counts, without the lock, orphan recovery, SendGrid or any row written."""
        with psycopg.connect(self.dsn or warehouse_dsn(), autocommit=True) as conn:
            self.report.count("would_send", [row for batch in self.plan(conn) for row in batch.rows])
        log.warning(self.report.summary())
        return self.report

    def plan(self, conn: psycopg.Connection) -> list[Batch]:
        """The day's batches: deduplicated, not yet recorded, oldest due first, limited; full
        batches of one (kind, language), then what is left of each packed into shared batches."""
        cfg = settings()
        due = read_due_queue(conn, self.day, self.queue_relation)
        self.report.due = len(due)
        seen, valid = set(), []
        for row in due:
            key = (row.survey_id, row.kind)
            if key in seen:
                continue
            seen.add(key)
            if (row.language not in render.LANGUAGES or row.kind not in render.KINDS or not row.email
                    or len(row.email) > MAX_EMAIL_LENGTH or not tokens.valid_survey_id(row.survey_id)):
                log.warning("due queue row %s/%s is invalid (language %r, kind %r, e-mail of %d characters, or a "
                            "survey id that is not URL-safe): skipped", row.survey_id, row.kind, row.language,
                            row.kind, len(row.email or ""))
                self.report.invalid += 1
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
        size = self.batch_size
        batches, left = [], []
        for kind, language in sorted(groups):
            rows = groups[(kind, language)]
            # full batches of this group alone; a group too large to share sends its remainder alone too
            full = len(rows) - len(rows) % size if shareable(language, kind, cfg.collector_base_url) else len(rows)
            batches += [Batch(rows[i: i + size]) for i in range(0, full, size)]
            left += rows[full:]
        # the remainders, in (kind, language) order: ceil(len(left) / size) requests, each mostly of one group
        batches += [Batch(left[i: i + size]) for i in range(0, len(left), size)]
        return batches

    def prepare(self, batch: Batch) -> list[dict]:
        """The personalizations of a batch (tokens minted), in its row order."""
        # settings() re-reads the environment on each call: resolved once per batch, not twice per token (profiled)
        cfg = settings()
        ttl = timedelta(days=cfg.token_ttl_days)
        return [personalization(row, tokens.mint(row.survey_id, issued_at=self.issued_at, ttl=ttl,
                                                 secret=cfg.token_secret),
                                shared=batch.shared, base_url=cfg.collector_base_url,
                                from_email=cfg.sendgrid_from_email)
                for row in batch.rows]

    def send_batch(self, conn: psycopg.Connection, client, batch: Batch) -> None:
        """claim -> request -> record for one batch, retrying what SendGrid refused in a way that a retry can fix."""
        items = self.prepare(batch)  # before the claim: an error here leaves nothing claimed
        rows = claim(conn, batch.rows, self.day, self.run_id, self.dry_run)
        self.report.already_recorded += len(batch.rows) - len(rows)
        owned = {(r.survey_id, r.kind) for r in rows}
        items = [p for r, p in zip(batch.rows, items, strict=True) if (r.survey_id, r.kind) in owned]
        rate_limited = partial_failures = 0
        while rows:
            self.report.requests += 1
            result = sendgrid_client.send(client, build_body(rows, items, shared=batch.shared, dry_run=self.dry_run),
                                          self.timeout)
            if result.outcome is Outcome.SENT:
                status = "sandbox" if self.dry_run else "sent"
                record(conn, rows, status, message_id=result.message_id)
                self.report.count(status, rows)
                self.report.message_ids += [result.message_id] if result.message_id else []
                return
            if result.outcome is Outcome.UNKNOWN:  # it may have gone out: never again, and no more batches like it
                record(conn, rows, "unknown", error=result.error)
                self.report.count("unknown", rows)
                raise OutcomeUnknown(f"{len(rows)} survey(s) ({batch.label}) in an unknown state: {result.error}")
            if result.status == 429 and rate_limited < self.max_rate_limited:
                rate_limited += 1
                self.report.rate_limited += 1
                self.sleep(self._rate_limit_wait(result, rate_limited))
            elif result.status == 429 or result.status in REFUSED_US:
                release(conn, rows)
                reason = f"still rate limited after {rate_limited} waits" if result.status == 429 else result.error
                raise SendGridUnavailable(f"SendGrid took none of {len(rows)} survey(s) ({batch.label}), "
                                          f"released for a later run: {reason}")
            else:  # SendGrid refused the body: the rows it blames fail (all, if it blames the request), the rest goes again
                bad = rejected_indexes(result, len(rows)) if partial_failures < 3 else None
                partial_failures += 1
                if not bad or len(bad) == len(rows):
                    record(conn, rows, "failed", error=result.error)
                    failed, rows = rows, []
                else:
                    failed = [rows[i] for i in sorted(bad)]
                    for i in sorted(bad):
                        reasons = [str(e.get("message")) for e in result.errors
                                   if str(e.get("field") or "").startswith(f"personalizations.{i}")]
                        record(conn, [rows[i]], "failed", error=f"HTTP {result.status}: " + "; ".join(reasons))
                    rows = [r for i, r in enumerate(rows) if i not in bad]
                    items = [p for i, p in enumerate(items) if i not in bad]
                self.report.count("failed", failed)
                log.error("SendGrid refused %d survey(s) of a batch (%s): %s", len(failed), batch.label, result.error)
            if rows:
                mark_attempt(conn, rows)

    def _rate_limit_wait(self, result: Result, streak: int) -> float:
        # no header, or a reset already past (whole seconds): back off a little more each time
        wait = result.retry_after if (result.retry_after or 0) > 0 else min(0.25 * 2 ** (streak - 1), 8.0)
        wait = min(wait + 0.05, self.max_rate_limit_wait)
        log.info("SendGrid answered 429: waiting %.2f s until X-RateLimit-Reset", wait)
        return wait


def send_due_surveys(day: date, issued_at: datetime, **options) -> SendReport:
    """Send the surveys due on `day` (Europe/Kyiv); `issued_at` (the run's logical instant) starts token lifetimes."""
    return Sender(day=day, issued_at=issued_at, **options).run()
