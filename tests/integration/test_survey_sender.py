"""nps.surveys.sender against the fake SendGrid (which validates every request with SendGrid's OpenAPI schema).

The due queue is the dbt model's job; here a plain table with the model's columns is the sender's INPUT.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from nps import tokens
from nps.surveys import render, sender, suppressions
from nps.surveys.sender import OutcomeUnknown, SendGridUnavailable, send_due_surveys
from nps_dev.fakes.sendgrid import SendGridFake

KYIV = ZoneInfo("Europe/Kyiv")
DAY = date(2026, 3, 2)
ISSUED = datetime(2026, 3, 2, 10, 0, tzinfo=KYIV)
KEY = "SG.test-key"
BASE = "https://nps.example.com"
SECRET = "sender-test-secret"
QUEUE = "sender_test.due_queue"
COLUMNS = ("survey_id", "kind", "purchase_id", "customer_ref", "email", "language", "customer_name", "due_date",
           "days_late")


@pytest.fixture
def queue(db):
    """An empty due queue and empty send / suppression tables; returns `add(rows)`."""
    db.execute("create schema if not exists sender_test")
    db.execute(f"drop table if exists {QUEUE}")
    db.execute(f"""create table {QUEUE} (survey_id text, kind text, purchase_id text, customer_ref text, email text,
                   language text, customer_name text, due_date date, days_late int)""")
    db.execute("truncate raw.survey_sends, raw.sendgrid_suppressions, raw.sendgrid_events")

    def add(rows: list[dict]) -> None:
        with db.cursor().copy(f"copy {QUEUE} ({', '.join(COLUMNS)}) from stdin") as copy:
            for row in rows:
                copy.write_row([row.get(c) for c in COLUMNS])

    return add


@pytest.fixture
def fake(monkeypatch):
    sg = SendGridFake(api_keys=(KEY,)).start()
    monkeypatch.setenv("AIRFLOW_CONN_NPS_SENDGRID", json.dumps({"conn_type": "http", "host": sg.base_url,
                                                                "password": KEY}))
    monkeypatch.setenv("NPS_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("NPS_COLLECTOR_BASE_URL", "https://nps.example.com")
    yield sg
    sg.stop()


def rows(n: int, language: str = "uk", kind: str = "invite", start: int = 0, **extra) -> list[dict]:
    return [{"survey_id": f"s{i:05d}", "kind": kind, "purchase_id": f"p{i:05d}", "customer_ref": f"c{i:05d}",
             "email": f"customer{i}@example.com", "language": language, "customer_name": f"Клієнт {i}",
             "due_date": DAY, "days_late": 0, **extra} for i in range(start, start + n)]


def send(**options):
    return send_due_surveys(DAY, ISSUED, queue_relation=QUEUE, **options)


def statuses(db) -> Counter:
    return Counter(dict(db.execute("select status, count(*) from raw.survey_sends group by status").fetchall()))


def sent_ids(fake: SendGridFake) -> list[str]:
    return [p["custom_args"]["survey_id"] for m in fake.messages() for p in m["body"]["personalizations"]]


def assert_schema_valid(fake: SendGridFake) -> None:
    for message in fake.messages():
        assert list(fake.validator.iter_errors(message["body"])) == []


def test_2500_due_surveys_go_out_in_3_requests(db, queue, fake):
    queue(rows(2500))
    report = send()
    messages = fake.messages()
    assert len(messages) == 3 and report.requests == 3
    assert sorted(len(m["body"]["personalizations"]) for m in messages) == [500, 1000, 1000]
    ids = sent_ids(fake)
    assert len(ids) == len(set(ids)) == 2500
    assert statuses(db) == {"sent": 2500}
    assert report.sent == 2500 and report.due == 2500 and report.by_language["uk"]["sent"] == 2500
    xcom = json.loads(json.dumps(report.as_dict()))  # what the task returns
    assert xcom["by_kind"] == {"invite": {"sent": 2500}} and len(xcom["message_ids"]) == 3
    # every row carries its request's X-Message-Id, the prefix of sg_message_id in SendGrid's events
    per_message = dict(db.execute("select message_id, count(*) from raw.survey_sends group by 1").fetchall())
    assert per_message == {m["message_id"]: len(m["body"]["personalizations"]) for m in messages}
    row = db.execute("select attempts, claimed_at <= sent_at, logical_date, run_id is not null "
                     "from raw.survey_sends limit 1").fetchone()
    assert row == (1, True, DAY, True)
    # re-running the day doubles nothing
    again = send()
    assert again.requests == 0 and again.already_recorded == 2500 and len(fake.messages()) == 3


def language_of(db, survey_id: str) -> str:
    return db.execute("select language from raw.survey_sends where survey_id = %s", (survey_id,)).fetchone()[0]


def test_full_batches_of_one_language_then_the_remainders_share_requests(db, queue, fake):
    # batch size 3: uk/invite 7 = 3 + 3 + 1, ru/invite 4 = 3 + 1, pl/invite 1, en/reminder 2
    queue(rows(7, "uk") + rows(4, "ru", start=10) + rows(1, "pl", start=20) + rows(2, "en", "reminder", start=30))
    report = send(batch_size=3)
    assert report.sent == 14 and report.requests == 5 == -(-14 // 3)  # ceil(14 / 3): no request is wasted
    assert report.by_kind == {"invite": {"sent": 12}, "reminder": {"sent": 2}}
    assert_schema_valid(fake)
    strings = render.strings()
    shapes = []
    for message in fake.messages():
        body = message["body"]
        pers = body["personalizations"]
        groups = sorted({(p["custom_args"]["kind"], language_of(db, p["custom_args"]["survey_id"])) for p in pers})
        kinds = sorted({k for k, _ in groups})
        shapes.append((len(pers), groups))
        assert body["categories"] == (["nps", f"nps-{kinds[0]}"] if len(kinds) == 1 else ["nps"])
        assert body["asm"] == {"group_id": 1001}
        assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
        assert body["tracking_settings"]["click_tracking"]["enable"] is False
        assert body["mail_settings"]["sandbox_mode"]["enable"] is False
        for p in pers:
            assert set(p["custom_args"]) == {"survey_id", "kind"}
            assert p["to"][0]["email"].startswith("customer")
        if len(groups) == 1:  # one language: its e-mail is the content, the message-level subject and sender
            (kind, lang), = groups
            assert body["subject"] == strings[lang][f"subject_{kind}"]
            assert body["from"] == {"email": "nps@example.com", "name": strings[lang]["sender_name"]}
            assert all(set(p) == {"to", "substitutions", "custom_args"} for p in pers)
            assert "-nps_" not in body["content"][1]["value"]
        else:  # shared: the skeleton, and each recipient's own subject, sender name and strings
            assert "subject" not in body and body["content"][1]["value"] == render.skeleton(BASE).html
            for p in pers:
                kind, lang = p["custom_args"]["kind"], language_of(db, p["custom_args"]["survey_id"])
                assert p["subject"] == strings[lang][f"subject_{kind}"]
                assert p["from"] == {"email": "nps@example.com", "name": strings[lang]["sender_name"]}
                assert p["substitutions"]["-nps_question-"] == strings[lang]["question"]
    assert shapes == [(3, [("invite", "ru")]), (3, [("invite", "uk")]), (3, [("invite", "uk")]),
                      (3, [("invite", "pl"), ("invite", "ru"), ("invite", "uk")]),
                      (2, [("reminder", "en")])]


def test_mixed_languages_in_one_request_each_recipient_reads_their_own_language(db, queue, fake):
    names = {"uk": "Олена", "ru": "Ольга", "en": "Helen", "pl": "Helena"}
    due = []
    for n, (lang, kind) in enumerate((lang, kind) for lang in render.LANGUAGES for kind in render.KINDS):
        due += rows(2, lang, kind, start=10 * n, customer_name=names[lang] if kind == "invite" else None)
    queue(due)
    report = send()
    assert report.requests == 1 and report.sent == 16 and len(fake.messages()) == 1
    assert fake.messages()[0]["body"]["categories"] == ["nps"]  # both kinds in one request
    assert_schema_valid(fake)
    seen = set()
    for mail in fake.deliveries():  # rendered by the fake as SendGrid renders: from / subject / substitutions
        survey_id, kind = mail["custom_args"]["survey_id"], mail["custom_args"]["kind"]
        lang = language_of(db, survey_id)
        seen.add((lang, kind))
        token = re.search(r"/s/([^/\s]+)/0\b", mail["text"]).group(1)
        assert tokens.verify(token, now=ISSUED + timedelta(days=1)).survey_id == survey_id
        expected = render.render_for(lang, kind, BASE, token, names[lang] if kind == "invite" else None)
        assert mail["subject"] == expected.subject == render.strings()[lang][f"subject_{kind}"]
        assert mail["from"] == {"email": "nps@example.com", "name": expected.from_name}
        assert mail["html"] == expected.html and mail["text"] == expected.text  # byte for byte, no tag left
        assert "-nps_" not in mail["html"] + mail["text"] and "-token-" not in mail["html"]
        assert f'<html lang="{lang}"' in mail["html"] and render.strings()[lang]["question"] in mail["text"]
        assert mail["html"].count(f"/s/{token}/") == 11
    assert seen == {(lang, kind) for lang in render.LANGUAGES for kind in render.KINDS}


def test_requests_are_ceil_of_surveys_over_batch_size_for_any_mix(db, queue, fake):
    import random

    rng = random.Random(7)
    groups = [(lang, kind) for lang in render.LANGUAGES for kind in render.KINDS]
    start = 0
    due = []
    for lang, kind in groups:
        n = rng.randint(0, 40)
        due += rows(n, lang, kind, start=start)
        start += n
    queue(due)
    batches = sender.Sender(DAY, ISSUED, queue_relation=QUEUE, batch_size=7).plan(db)
    assert len(batches) == -(-len(due) // 7)
    assert all(0 < len(b.rows) <= 7 for b in batches) and sum(len(b.rows) for b in batches) == len(due)
    assert len({(r.survey_id, r.kind) for b in batches for r in b.rows}) == len(due)
    assert sum(b.shared for b in batches) <= len(groups) - 1  # at most one shared request per group boundary


def test_a_shared_personalization_stays_within_sendgrid_limits_in_the_worst_case(fake, monkeypatch):
    # the largest personalization: a 64-character survey id, a 100-character name of 4-byte characters (cut
    # there), the longest language; 1000 of them, serialized as the sendgrid client does (json.dumps, ASCII)
    monkeypatch.setenv("NPS_TOKEN_SECRET", SECRET)
    longest = max(((lang, kind) for lang in render.LANGUAGES for kind in render.KINDS),
                  key=lambda g: len(json.dumps(dict(render.localized(*g, BASE)))))
    email = "a" * 64 + "@" + ".".join(("b" * 63, "c" * 63, "d" * 57, "com"))  # 254 characters, valid
    due = [sender.DueSurvey(f"{i:04d}" + "x" * 60, longest[1], "p", "c", email, longest[0], "\U0001F600" * 500)
           for i in range(1000)]
    token = tokens.mint(due[0].survey_id, issued_at=ISSUED)
    items = [sender.personalization(r, token, shared=True, base_url=BASE, from_email="nps@example.com")
             for r in due]
    sizes = {sum(len(k.encode()) + len(v.encode()) for k, v in p["substitutions"].items()) for p in items}
    assert max(sizes) <= sender.MAX_SUBSTITUTION_BYTES == 10_000
    body = sender.build_body(due, items, shared=True, dry_run=False)
    assert len(json.dumps(body).encode()) < 30 * 1024 * 1024
    assert fake.validate(body) == []
    for lang in render.LANGUAGES:
        for kind in render.KINDS:
            assert sender.shareable(lang, kind, BASE)


def test_a_language_too_large_to_share_goes_in_requests_of_its_own(db, queue, fake, monkeypatch):
    en, uk = (sender.worst_substitution_bytes(lang, "invite", BASE) for lang in ("en", "uk"))
    assert en < uk <= 10_000
    monkeypatch.setattr(sender, "MAX_SUBSTITUTION_BYTES", (en + uk) // 2)  # en still fits, uk does not
    sender.shareable.cache_clear()
    try:
        queue(rows(2, "uk") + rows(2, "en", start=10) + rows(1, "en", "reminder", start=20))
        report = send()
    finally:
        sender.shareable.cache_clear()
    assert report.sent == 5 and report.requests == 2
    by_message = sorted(sorted(language_of(db, p["custom_args"]["survey_id"]) for p in m["body"]["personalizations"])
                        for m in fake.messages())
    assert by_message == [["en", "en", "en"], ["uk", "uk"]]


class LinkParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])


def test_delivered_email_has_11_working_links_the_collector_accepts(db, queue, fake):
    queue(rows(4, "en") + rows(1, "ru", "reminder", start=9))
    send()
    checked = 0
    for message in fake.messages():
        html = next(c["value"] for c in message["body"]["content"] if c["type"] == "text/html")
        text = next(c["value"] for c in message["body"]["content"] if c["type"] == "text/plain")
        for p in message["body"]["personalizations"]:
            survey_id = p["custom_args"]["survey_id"]
            parser = LinkParser()
            parser.feed(render.apply_substitutions(html, p["substitutions"]))  # what SendGrid does
            score_links = [h for h in parser.hrefs if re.fullmatch(r"https://nps\.example\.com/s/[^/]+/\d+", h)]
            assert len(score_links) == 11
            for score, href in enumerate(score_links):
                token = href.split("/")[-2]
                assert href.endswith(f"/{score}")
                # the collector's check (contract §6); tokens live for the configured 60 days from the run
                assert tokens.verify(token, now=ISSUED + timedelta(days=59)).survey_id == survey_id
            assert f"https://nps.example.com/s/{token}" in parser.hrefs
            assert render.apply_substitutions(text, p["substitutions"]).count(f"/s/{token}/") == 11
            language = "ru" if p["custom_args"]["kind"] == "reminder" else "en"
            assert p["substitutions"]["-greeting-"] == render.greeting(language, f"Клієнт {int(survey_id[1:])}")
            assert p["to"][0]["name"] == f"Клієнт {int(survey_id[1:])}"
            checked += 1
    assert checked == 5


class Killed(BaseException):
    """Stands in for SIGKILL / an OOM kill: nothing after the request runs, not even `except Exception`."""


def test_task_killed_mid_batch_and_retried_sends_nothing_twice(db, queue, fake, monkeypatch):
    queue(rows(3500))
    real_record = sender.record
    calls = {"n": 0}

    def record_then_die(conn, batch, status, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the second batch went out (202): the process dies before recording it
            raise Killed()
        return real_record(conn, batch, status, **kw)

    monkeypatch.setattr(sender, "record", record_then_die)
    with pytest.raises(Killed):
        send(run_id="scheduled__2026-03-02T08:00:00+00:00")
    assert len(fake.messages()) == 2
    assert statuses(db) == {"sent": 1000, "claimed": 1000}  # at most one batch claimed and not recorded
    monkeypatch.setattr(sender, "record", real_record)

    retry = send(run_id="scheduled__2026-03-02T08:00:00+00:00")  # Airflow's retry of the same task
    assert retry.orphans_marked_unknown == 1000
    assert retry.sent == 1500 and retry.requests == 2
    ids = sent_ids(fake)
    assert len(ids) == len(set(ids)) == 3500  # the 1000 'unknown' ones really went out, once
    assert statuses(db) == {"sent": 2500, "unknown": 1000}
    assert db.execute("select count(*) from raw.survey_sends where status = 'unknown' and error like "
                      "'claimed by an attempt%%'").fetchone()[0] == 1000
    assert "left claimed by a crashed attempt" in retry.summary()
    assert send().requests == 0 and len(fake.messages()) == 4


def test_an_error_before_a_claim_leaves_that_batch_to_the_next_run(db, queue, fake, monkeypatch):
    queue(rows(2500))
    real_prepare = sender.Sender.prepare
    calls = {"n": 0}

    def prepare_fails_on_the_third_batch(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom while preparing")
        return real_prepare(self, batch)

    monkeypatch.setattr(sender.Sender, "prepare", prepare_fails_on_the_third_batch)
    with pytest.raises(RuntimeError, match="boom"):
        send()
    assert len(fake.messages()) == 2
    assert statuses(db) == {"sent": 2000}  # the third batch was never claimed: nothing stranded as unknown
    monkeypatch.setattr(sender.Sender, "prepare", real_prepare)
    assert send().sent == 500 and len(set(sent_ids(fake))) == 2500


def test_429_waits_until_rate_limit_reset_and_resends_the_same_batch(db, queue, fake):
    fake.rate_limit, fake.rate_window = 2, 1.0
    fake._window_start, fake._window_count = time.time(), 0
    queue(rows(30))
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        time.sleep(seconds)

    report = send(batch_size=10, sleep=sleep)
    assert report.sent == 30 and len(fake.messages()) == 3
    assert report.rate_limited >= 1 and report.requests == 3 + report.rate_limited
    assert all(0 < w <= 1.5 for w in waits)
    ids = sent_ids(fake)
    assert len(ids) == len(set(ids)) == 30
    assert db.execute("select max(attempts) from raw.survey_sends").fetchone()[0] >= 2


def test_429_that_never_lifts_releases_the_claims(db, queue, fake):
    fake.rate_limit, fake.rate_window = 0, 3600.0
    queue(rows(5))
    with pytest.raises(SendGridUnavailable, match="rate limited"):
        send(max_rate_limited=2, sleep=lambda s: None)
    assert statuses(db) == {}  # certainly not sent: a later run may send them
    fake.rate_limit = 100
    assert send().sent == 5


def test_rejected_recipient_fails_alone_and_the_rest_goes_out(db, queue, fake):
    batch = rows(5)
    batch[2]["email"] = "broken@"
    queue(batch)
    report = send()
    assert report.failed == 1 and report.sent == 4 and report.requests == 2
    error = db.execute("select error from raw.survey_sends where status = 'failed'").fetchone()[0]
    assert "HTTP 400" in error and "valid address" in error
    assert sorted(sent_ids(fake)) == ["s00000", "s00001", "s00003", "s00004"]
    assert send().requests == 0  # failed ones are not retried either


def test_rejected_batch_marks_every_row_failed_with_the_reason(db, queue, fake, monkeypatch):
    monkeypatch.setenv("NPS_SENDGRID_ASM_GROUP_ID", "4242")  # a group SendGrid does not know
    queue(rows(3))
    report = send()
    assert report.failed == 3 and fake.messages() == []
    errors = {r[0] for r in db.execute("select error from raw.survey_sends").fetchall()}
    assert len(errors) == 1 and "asm.group_id" in errors.pop()


def test_timeout_leaves_unknown_never_resent(db, queue, fake):
    queue(rows(3, "en") + rows(2, "uk", start=10))
    fake.faults.latency = 1.0
    with pytest.raises(OutcomeUnknown):
        send(timeout=0.3, batch_size=3)  # a full en batch, then the uk one
    assert statuses(db) == {"unknown": 3}  # the en batch; the run stopped before the uk one
    deadline = time.time() + 5
    while not fake.messages() and time.time() < deadline:  # SendGrid did get it after all
        time.sleep(0.05)
    assert len(fake.messages()) == 1
    fake.faults.latency = 0.0
    report = send(batch_size=3)
    assert report.sent == 2 and report.already_recorded == 3
    ids = sent_ids(fake)
    assert len(ids) == len(set(ids)) == 5
    assert statuses(db) == {"unknown": 3, "sent": 2}


def test_server_error_is_unknown(db, queue, fake):
    fake.faults.fail_next = 1
    queue(rows(2))
    with pytest.raises(OutcomeUnknown, match="HTTP 500"):
        send()
    assert statuses(db) == {"unknown": 2}


def test_unknown_sends_that_sendgrid_took_become_sent_from_its_events(db, queue, fake):
    fake.faults.fail_next = 1
    queue(rows(3))
    with pytest.raises(OutcomeUnknown):
        send()
    now = datetime.now(KYIV)  # and one left 'claimed' by a killed task: unknown at the next start, then reconciled
    db.execute("""insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language, status,
                  logical_date, claimed_at) values ('k1', 'invite', 'p', 'c', 'e@x.com', 'uk', 'claimed', %s, %s)""",
               (DAY, now))
    first = datetime(2026, 3, 2, 10, 0, 5, tzinfo=KYIV)
    events = [("e1", "delivered", "s00000", "invite", first + timedelta(seconds=3)),
              ("e2", "processed", "s00000", "invite", first),
              ("e3", "open", "s00001", "invite", first + timedelta(hours=2)),
              ("e4", "processed", "s00002", "reminder", first),  # another send of that survey: not this one
              ("e5", "bounce", "k1", "invite", first)]
    with db.cursor() as cur:
        cur.executemany("insert into raw.sendgrid_events (sg_event_id, event, survey_id, kind, occurred_at, payload) "
                        "values (%s, %s, %s, %s, %s, '{}')", events)
    before = len(fake.messages())
    report = send()
    assert (report.unknown_reconciled, report.orphans_marked_unknown) == (3, 1)
    assert report.requests == 0 and len(fake.messages()) == before  # never re-sent
    assert dict((r[0], r[1:]) for r in db.execute("select survey_id, status, sent_at from raw.survey_sends")) == {
        "s00000": ("sent", first), "s00001": ("sent", first + timedelta(hours=2)), "s00002": ("unknown", None),
        "k1": ("sent", first)}
    assert db.execute("select error from raw.survey_sends where survey_id = 'k1'").fetchone()[0] == (
        f"{sender.RECONCILED_NOTE}: {sender.ORPHAN_ERROR}")
    assert send().unknown_reconciled == 0


def test_bad_api_key_sends_nothing_and_releases(db, queue, fake, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NPS_SENDGRID", json.dumps({"conn_type": "http", "host": fake.base_url,
                                                                "password": "SG.wrong"}))
    queue(rows(2))
    with pytest.raises(SendGridUnavailable, match="HTTP 401"):
        send()
    assert statuses(db) == {}


def test_sendgrid_unreachable_sends_nothing_and_releases(db, queue, monkeypatch):
    from conftest import free_port

    monkeypatch.setenv("AIRFLOW_CONN_NPS_SENDGRID", json.dumps({"conn_type": "http", "password": KEY,
                                                                "host": f"http://127.0.0.1:{free_port()}"}))
    monkeypatch.setenv("NPS_TOKEN_SECRET", SECRET)
    queue(rows(2))
    with pytest.raises(SendGridUnavailable, match="no answer from SendGrid"):  # connection refused: never left
        send()
    assert statuses(db) == {}


def test_dry_run_uses_sandbox_and_a_real_run_still_sends(db, queue, fake):
    queue(rows(4))
    report = send(dry_run=True)
    assert report.sandbox == 4 and report.sent == 0
    assert fake.messages() == [] and fake.sandbox_count == 1
    assert statuses(db) == {"sandbox": 4}
    assert send(dry_run=True).sandbox == 4  # a dry run may be repeated
    real = send()
    assert real.sent == 4 and len(sent_ids(fake)) == 4
    assert statuses(db) == {"sent": 4}
    assert send(dry_run=True).requests == 0  # a dry run never touches a real send


def test_limit_sends_the_oldest_first_and_the_rest_next_time(db, queue, fake):
    queue(rows(6) + [{**r, "due_date": DAY - timedelta(days=2), "days_late": 2} for r in rows(2, start=50)])
    first = send(limit=3)
    assert first.sent == 3 and first.skipped_by_limit == 5
    assert set(sent_ids(fake)) >= {"s00050", "s00051"}  # the oldest due first
    rest = send()
    assert rest.sent == 5 and send(limit=0).skipped_by_limit == 0


def test_invalid_rows_are_skipped_and_counted(db, queue, fake):
    # how late a survey may go out is the due queue's rule (int_survey_due_queue, catch_up_days): the sender sends it
    queue(rows(1) + rows(1, start=5, days_late=8) + rows(1, start=7, language="de")
          + rows(1, start=8, email="a" * 250 + "@example.com")  # longer than any deliverable address
          + rows(1, start=9, survey_id="not url-safe"))  # cannot go into a token
    report = send()
    assert (report.sent, report.invalid) == (2, 3)


def test_orphaned_claims(db, queue, fake):
    now = datetime.now(KYIV)
    for survey_id, dry in (("o1", False), ("o2", True)):
        db.execute("""insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language,
                      status, logical_date, claimed_at, dry_run) values (%s, 'invite', 'p', 'c', 'e@x.com', 'uk',
                      'claimed', %s, %s, %s)""", (survey_id, DAY, now, dry))
    queue(rows(1, survey_id="o1") + rows(1, start=3, survey_id="o2"))
    report = send()
    assert (report.orphans_marked_unknown, report.orphans_dry_run_released) == (1, 1)
    assert dict(db.execute("select survey_id, status from raw.survey_sends").fetchall()) == {"o1": "unknown",
                                                                                              "o2": "sent"}


def test_report_only_counts_what_would_go_and_touches_nothing(db, queue, fake):
    queue(rows(5) + rows(2, "en", "reminder", start=10))
    send(limit=1)
    db.execute("""insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language, status,
                  logical_date, claimed_at) values ('busy', 'invite', 'p', 'c', 'e@x.com', 'uk', 'claimed', %s,
                  now())""", (DAY,))  # another sender's claim in flight: a report must not touch it
    reason = "logical date 2026-03-02 is not today (2026-03-20): reported, nothing sent"
    report = send(report_only=reason)
    assert (report.would_send, report.already_recorded, report.requests, report.sent) == (6, 1, 0, 0)
    assert report.by_kind == {"invite": {"would_send": 4}, "reminder": {"would_send": 2}}
    assert report.as_dict()["reported_only"] == reason and report.summary().startswith(reason)
    assert len(fake.messages()) == 1 and fake.sandbox_count == 0
    assert statuses(db) == {"sent": 1, "claimed": 1}


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        sender.Sender(DAY, datetime(2026, 3, 2, 10))
    with pytest.raises(ValueError, match="limit"):
        sender.Sender(DAY, ISSUED, limit=-1)
    with pytest.raises(ValueError, match="batch_size"):
        sender.Sender(DAY, ISSUED, batch_size=1001)


def test_suppression_sync_copies_every_list_and_drops_what_sendgrid_dropped(db, queue, fake):
    fake.add_group(2002, "Marketing")
    fake.unsubscribe("Global@Example.com", created=1_700_000_000)
    fake.unsubscribe("group@example.com", group_id=1001)
    fake.unsubscribe("marketing-only@example.com", group_id=2002)  # not our group: still gets surveys
    fake.bounce("bounced@example.com")
    for i in range(1100):  # three pages of 500
        fake.unsubscribe(f"bulk{i}@example.com")
    counts = suppressions.sync()
    assert counts == {"unsubscribes": 1101, "bounces": 1, "spam_reports": 0, "group_unsubscribes": 1}
    got = dict(db.execute("select email, list from raw.sendgrid_suppressions where email not like 'bulk%%'"))
    assert got == {"global@example.com": "unsubscribes", "group@example.com": "group_unsubscribes",
                   "bounced@example.com": "bounces"}
    created = db.execute("select created_at from raw.sendgrid_suppressions where email = 'global@example.com'")
    assert created.fetchone()[0].timestamp() == 1_700_000_000
    fake.global_unsubscribes.pop("global@example.com")  # resubscribed in SendGrid
    suppressions.sync()
    assert db.execute("select count(*) from raw.sendgrid_suppressions where email = 'global@example.com'"
                      ).fetchone()[0] == 0


SENDER_SCRIPT = """
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo
from nps.surveys.sender import send_due_surveys
send_due_surveys(date(2026, 3, 2), datetime(2026, 3, 2, 10, tzinfo=ZoneInfo("Europe/Kyiv")),
                 queue_relation=sys.argv[1], batch_size=100, run_id="killed-run")
"""


def test_sender_process_sigkilled_mid_run_then_retried_sends_nothing_twice(db, queue, fake):
    import os
    import signal
    import subprocess
    import sys

    queue(rows(500))
    fake.faults.latency = 1.0  # each request takes a second: time to kill the sender mid-request
    proc = subprocess.Popen([sys.executable, "-c", SENDER_SCRIPT, QUEUE], env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        # kill it once the first batch is recorded and the second is claimed, its request in flight
        while time.time() < deadline and proc.poll() is None and statuses(db) != {"sent": 100, "claimed": 100}:
            time.sleep(0.01)
        assert proc.poll() is None, "the sender finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    time.sleep(1.2)  # a request in flight still lands at the fake
    fake.faults.latency = 0.0
    before = len(sent_ids(fake))
    retry = send(run_id="killed-run")
    ids = sent_ids(fake)
    assert len(ids) == len(set(ids))  # nothing twice
    counts = statuses(db)
    assert counts["sent"] + counts["unknown"] == 500 and set(counts) <= {"sent", "unknown"}
    assert retry.orphans_marked_unknown == counts["unknown"] == 100  # the batch cut off between claim and record
    assert len(ids) - before == retry.sent
    # the cut-off batch reached SendGrid once or not at all (killed before its request left): never twice
    assert len(ids) in (400, 500)
