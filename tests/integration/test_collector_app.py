"""The collector on a real Postgres: tokens, pages, answers, clicks, limits and the signed SendGrid webhook."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from collector_support import PRIVATE_KEY, collector_url, count, serve, settings, signed, token
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from nps import clock, tokens
from nps.collector.app import create_app
from nps.collector.webhook import WebhookRejected, WebhookVerifier
from nps_dev.fakes.sendgrid import EVENT_TYPES, SendGridFake


@pytest.fixture(scope="module")
def collector_dsn(warehouse_url):
    return collector_url(warehouse_url)


@pytest.fixture
def client(collector_dsn, tmp_path):
    with TestClient(create_app(settings(collector_dsn, tmp_path / "spool")), follow_redirects=False) as c:
        yield c


def sid() -> str:
    return "s-" + uuid.uuid4().hex[:12]


def test_collector_does_not_import_airflow():
    code = "import sys, nps.collector.app, nps.collector.cli; print('airflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_collector_role_can_only_insert(collector_dsn):
    import psycopg

    with psycopg.connect(collector_dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from landing.responses")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into raw.survey_responses (survey_id, score, responded_at) values ('x', 1, now())")


def test_get_from_email_button_shows_score_but_records_nothing(client, db):
    survey = sid()
    r = client.get(f"/s/{token(survey)}/9?lang=en", headers={"User-Agent": "LinkScanner/1.0"})
    assert r.status_code == 200
    assert 'value="9" checked' in r.text
    for reason in ("Delivery speed", "Delivery accuracy", "Product quality", "Price", "Manager / service", "Other"):
        assert reason in r.text
    assert '<textarea id="comment" name="comment"' in r.text
    assert count(db, "landing.responses", survey) == 0  # a GET alone never records an answer
    click = db.execute("select score, user_agent from landing.clicks where survey_id = %s", (survey,)).fetchall()
    assert click == [(9, "LinkScanner/1.0")]
    assert "script-src 'sha256-" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "http://" not in r.text and "https://" not in r.text  # no external assets


def test_survey_page_links_every_score(client, db):
    survey = sid()
    tok = token(survey)
    r = client.get(f"/s/{tok}?lang=uk")
    assert r.status_code == 200 and '<html lang="uk">' in r.text
    for n in range(11):
        assert f'href="/s/{tok}/{n}?lang=uk"' in r.text
    assert count(db, "landing.responses", survey) == 0


def test_on_load_post_then_submit_with_comment(client, db, tmp_path, monkeypatch):
    clock_file = tmp_path / "clock"
    simulated = datetime(2026, 3, 5, 12, 30, tzinfo=UTC)
    clock.set_simulated_now(clock_file, simulated)
    monkeypatch.setenv("NPS_SIMULATION", "1")
    monkeypatch.setenv("NPS_CLOCK_FILE", str(clock_file))
    survey = sid()
    tok = token(survey, issued_at=simulated)
    r = client.post(f"/s/{tok}?lang=en", data={"score": "3", "lang": "en"}, headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json() == {"ok": True, "stored": "db"}
    clock.set_simulated_now(clock_file, simulated + timedelta(minutes=2))
    comment = "<script>alert('x')</script> Доставка запізнилась\r\nна 3 дні & ще"
    r = client.post(f"/s/{tok}?lang=en", data={"score": "4", "comment": comment, "lang": "uk",
                                               "reasons": ["delivery_speed", "price", "price"]})
    assert r.status_code == 303
    assert r.headers["location"] == f"/s/{tok}?lang=uk&thanks=1"
    rows = db.execute("select score, comment, reasons, language, responded_at, source from landing.responses "
                      "where survey_id = %s order by id", (survey,)).fetchall()
    assert rows == [(3, None, [], "en", simulated, "web"),
                    (4, comment, ["delivery_speed", "price"], "uk", simulated + timedelta(minutes=2), "web")]
    thanks = client.get(r.headers["location"])
    assert thanks.status_code == 200 and "Дякуємо!" in thanks.text
    assert "<script>alert" not in thanks.text


@pytest.mark.parametrize("lang,word", [("uk", "порекомендуєте"), ("ru", "порекомендуете"),
                                       ("en", "recommend"), ("pl", "polecisz")])
def test_pages_are_localized(client, lang, word):
    r = client.get(f"/s/{token(sid())}/10?lang={lang}")
    assert r.status_code == 200 and f'<html lang="{lang}">' in r.text and word in r.text


def test_accept_language_fallback(client):
    r = client.get(f"/s/{token(sid())}", headers={"Accept-Language": "de-DE,de;q=0.9,ru;q=0.8,en;q=0.5"})
    assert '<html lang="ru">' in r.text


def test_forged_token_is_404_and_writes_nothing(client, db):
    survey = sid()
    good = token(survey)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_secret = good.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
    for bad in (forged, other_secret, "not-a-token", f"{survey}.zzzz.sig"):
        assert client.get(f"/s/{bad}/5").status_code == 404
        assert client.get(f"/s/{bad}").status_code == 404
        assert client.post(f"/s/{bad}", data={"score": "5"}).status_code == 404
    assert count(db, "landing.responses", survey) == 0
    assert count(db, "landing.clicks", survey) == 0


def test_expired_token_is_410_with_friendly_page(client, db):
    survey = sid()
    old = token(survey, issued_at=datetime.now(UTC) - timedelta(days=61))
    r = client.get(f"/s/{old}/7?lang=en")
    assert r.status_code == 410 and "This survey has closed" in r.text
    r = client.post(f"/s/{old}?lang=pl", data={"score": "7"})
    assert r.status_code == 410 and "Ankieta zakończona" in r.text
    assert client.post(f"/s/{old}", data={"score": "7"}, headers={"Accept": "application/json"}).json() == {
        "error": "expired"}
    assert count(db, "landing.responses", survey) == 0 and count(db, "landing.clicks", survey) == 0


def test_bad_input_is_refused_and_writes_nothing(client, db):
    survey = sid()
    tok = token(survey)
    assert client.post(f"/s/{tok}", data={"score": "11"}).status_code == 422
    assert client.post(f"/s/{tok}", data={"score": "-1"}).status_code == 422
    assert client.post(f"/s/{tok}", data={"comment": "no score"}).status_code == 422
    assert client.post(f"/s/{tok}", data={"score": "5", "reasons": "bribery"}).status_code == 422
    assert client.post(f"/s/{tok}", data={"score": "5", "comment": "x" * 2001}).status_code == 422
    assert client.post(f"/s/{tok}", content=b"score=5&comment=" + b"y" * 20_000,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413
    assert client.post(f"/s/{tok}", files={"score": (None, "5")}).status_code == 415
    assert client.get(f"/s/{tok}/11").status_code == 404
    assert count(db, "landing.responses", survey) == 0


def test_answer_keeps_its_audit_trail(client, collector_dsn, tmp_path, db):
    """Signal, webdriver flag, user agent and a keyed hash of the client address (never the address) go with it."""
    survey = sid()
    tok = token(survey)
    phone = {"Accept": "application/json", "User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 7)"}
    assert client.post(f"/s/{tok}", data={"score": "9", "signal": "touch", "webdriver": "0"}, headers=phone).json()[
        "ok"]
    assert client.post(f"/s/{tok}", data={"score": "6"}, headers=phone).json()["ok"]  # the form itself: a submit
    assert client.post(f"/s/{tok}", data={"score": "6", "signal": "load"}, headers=phone).status_code == 422
    rows = db.execute("select signal, webdriver, user_agent, client_hash from landing.responses where survey_id = %s "
                      "order by id", (survey,)).fetchall()
    assert [r[:3] for r in rows] == [("touch", False, phone["User-Agent"]), ("submit", None, phone["User-Agent"])]
    assert rows[0][3] == rows[1][3] and len(rows[0][3]) == 32 and "testclient" not in rows[0][3]
    # keyed: another secret, another hash of the same address
    other = settings(collector_dsn, tmp_path / "other", token_secret="another-secret")
    with TestClient(create_app(other), follow_redirects=False) as c:
        assert c.post(f"/s/{tokens.mint(survey, secret='another-secret')}", data={"score": "6"}).status_code == 303
    assert db.execute("select client_hash from landing.responses where survey_id = %s order by id desc limit 1",
                      (survey,)).fetchone()[0] not in (rows[0][3], None)


# "07": refused, the pages only ever send "7" and one spelling per score keeps the page URLs canonical.
@pytest.mark.parametrize("bad", ["²", "٥", "１０", " 7", "7 ", "+7", "07", "11", "-1", "7.0", ""])
def test_score_is_ascii_0_to_10_only(client, db, bad):
    survey = sid()
    tok = token(survey)
    assert client.post(f"/s/{tok}", data={"score": bad}).status_code == 422
    assert client.post(f"/s/{tok}", data={"score": bad}, headers={"Accept": "application/json"}).json() == {
        "error": "invalid"}
    if bad.strip():  # an empty path segment is another route
        assert client.get(f"/s/{tok}/{quote(bad)}").status_code == 404
    assert count(db, "landing.responses", survey) == 0 and count(db, "landing.clicks", survey) == 0


@pytest.mark.parametrize("score", [0, 10])
def test_score_bounds_are_accepted(client, db, score):
    survey = sid()
    tok = token(survey)
    assert client.get(f"/s/{tok}/{score}").status_code == 200
    assert client.post(f"/s/{tok}", data={"score": str(score)}, headers={"Accept": "application/json"}).json() == {
        "ok": True, "stored": "db"}
    assert db.execute("select score from landing.responses where survey_id = %s", (survey,)).fetchall() == [
        (score,)]
    assert db.execute("select score from landing.clicks where survey_id = %s", (survey,)).fetchall() == [(score,)]


def test_comment_that_is_not_utf8_is_refused(client, db):
    survey = sid()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for body in (b"score=5&comment=%FF%FE", b"score=5&comment=ok%C3", b"score=5&comment=\xff"):
        assert client.post(f"/s/{token(survey)}", content=body, headers=form).status_code == 422
    assert count(db, "landing.responses", survey) == 0


def test_rate_limit_per_ip(collector_dsn, tmp_path):
    app = create_app(settings(collector_dsn, tmp_path / "spool", rate_limit_per_minute=3))
    with TestClient(app) as c:
        codes = [c.get(f"/s/{token(sid())}").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["database"] is True


def _event(survey: str, kind: str = "delivered") -> dict:
    return {"email": "anna@example.com", "event": kind, "timestamp": int(datetime.now(UTC).timestamp()),
            "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
            "sg_message_id": "msg-1.filter", "smtp-id": "<x@y>", "survey_id": survey, "kind": "invite",
            "category": ["nps"]}


def test_signed_webhook_good_duplicate_bad_stale(client, db):
    survey = sid()
    events = [_event(survey, "processed"), _event(survey, "delivered"), _event(survey, "open")]
    body = json.dumps(events).encode() + b"\r\n"
    r = client.post("/webhooks/sendgrid", content=body, headers=signed(body))
    assert r.status_code == 200 and r.json() == {"received": 3, "accepted": 3}
    stored = db.execute("select sg_event_id, event, payload from landing.sendgrid_events "
                        "where payload->>'survey_id' = %s order by id", (survey,)).fetchall()
    assert [(s, e) for s, e, _ in stored] == [(ev["sg_event_id"], ev["event"]) for ev in events]
    assert stored[0][2] == events[0]
    # SendGrid retries: the same batch again is acknowledged and not stored twice
    r = client.post("/webhooks/sendgrid", content=body, headers=signed(body))
    assert r.status_code == 200 and r.json()["accepted"] == 0
    # tampered body, wrong key, stale and future timestamps, missing headers: 403, nothing written
    other = [_event(survey, "bounce")]
    other_body = json.dumps(other).encode()
    tampered = signed(body)
    stranger = ec.generate_private_key(ec.SECP256R1())
    now = int(datetime.now(UTC).timestamp())
    for headers in (tampered, signed(other_body, key=stranger), signed(other_body, timestamp=now - 900),
                    signed(other_body, timestamp=now + 900), {"Content-Type": "application/json"}):
        assert client.post("/webhooks/sendgrid", content=other_body, headers=headers).status_code == 403
    assert db.execute("select count(*) from landing.sendgrid_events where payload->>'survey_id' = %s",
                      (survey,)).fetchone()[0] == 3


def test_webhook_without_configured_key_refuses(collector_dsn, tmp_path, db):
    with TestClient(create_app(settings(collector_dsn, tmp_path / "s", webhook_public_key=""))) as c:
        body = json.dumps([_event("s-nokey")]).encode()
        assert c.post("/webhooks/sendgrid", content=body, headers=signed(body)).status_code == 403
    assert db.execute("select count(*) from landing.sendgrid_events where payload->>'survey_id' = 's-nokey'"
                      ).fetchone()[0] == 0


def test_webhook_rejects_non_array_json(client):
    body = b'{"event":"open"}'
    assert client.post("/webhooks/sendgrid", content=body, headers=signed(body)).status_code == 400


def test_fake_sendgrids_webhook_test_lands_over_http(collector_dsn, tmp_path, db):
    """POST /v3/user/webhooks/event/test on the fake SendGrid signs a sample batch to the live collector's URL."""
    fake = SendGridFake(api_keys=("SG.k",)).start()
    last = db.execute("select coalesce(max(id), 0) from landing.sendgrid_events").fetchone()[0]
    try:
        with serve(create_app(settings(collector_dsn, tmp_path / "spool", webhook_public_key=fake.public_key))) as base:
            r = httpx.post(f"{fake.base_url}/v3/user/webhooks/event/test", json={"url": f"{base}/webhooks/sendgrid"},
                           headers={"Authorization": "Bearer SG.k"}, timeout=10)
    finally:
        fake.stop()
    assert r.status_code == 204 and r.content == b""
    rows = db.execute("select sg_event_id, event, payload from landing.sendgrid_events where id > %s order by id",
                      (last,)).fetchall()
    assert [e for _, e, _ in rows] == list(EVENT_TYPES)
    assert all(p["email"] == "example@test.com" and p["sg_event_id"] == s and p["category"] == ["cat facts"]
               for s, _, p in rows)


def test_sendgrid_official_test_vector():
    """The vector from sendgrid-python's test_eventwebhook.py (reference/protocols.md §3.2)."""
    key = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpi"
           "glSI8eNEc6wEA3F+g==")
    signature = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
    body = (json.dumps([{"email": "hello@world.com", "event": "dropped", "reason": "Bounced Address",
                         "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                         "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
                         "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                         "timestamp": 1600112492}], sort_keys=True, separators=(",", ":")) + "\r\n").encode()
    verifier = WebhookVerifier(key, max_age_s=600)
    at = datetime.fromtimestamp(1600112502 + 5, UTC)
    verifier.verify(body, signature, "1600112502", at)
    with pytest.raises(WebhookRejected, match="bad signature"):
        verifier.verify(body.rstrip(b"\r\n"), signature, "1600112502", at)
    with pytest.raises(WebhookRejected, match="stale"):
        verifier.verify(body, signature, "1600112502", at + timedelta(hours=1))


def test_public_key_is_checked():
    from nps.collector.webhook import public_key_b64

    with pytest.raises(ValueError, match="P-256"):
        WebhookVerifier(public_key_b64(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(ValueError, match="base64 DER"):
        WebhookVerifier("bm90IGEga2V5")
    assert WebhookVerifier(public_key_b64(PRIVATE_KEY)).key.curve.name == "secp256r1"


def test_group_commit_batch_keeps_every_field_and_isolates_a_bad_row(collector_dsn, tmp_path, db):
    """Concurrent answers share one INSERT (jsonb_to_recordset); a row the DB refuses fails alone."""
    import asyncio

    from nps.collector.spool import Spool
    from nps.collector.store import Store

    survey = sid()
    at = datetime(2026, 3, 1, 8, 15, 30, 123456, tzinfo=UTC)
    rows = [
        {"survey_id": survey, "score": 0, "comment": "«Лапки» \"quotes\" \\ back\nslash 😀", "reasons": ["price", "other"],
         "language": "uk", "responded_at": at, "source": "web"},
        {"survey_id": survey, "score": 10, "comment": None, "reasons": [], "language": None,
         "responded_at": at + timedelta(seconds=1), "source": "web"},
        {"survey_id": survey, "score": 11, "comment": None, "reasons": [], "language": "en",
         "responded_at": at, "source": "web"},  # violates the check constraint
    ]

    async def go():
        store = Store(collector_dsn, Spool(tmp_path / "spool"))
        await store.open()
        try:
            return await store.write_now("responses", rows)
        finally:
            await store.close()

    outcomes = asyncio.run(go())
    assert outcomes[:2] == ["db", "db"] and isinstance(outcomes[2], Exception)
    stored = db.execute("select score, comment, reasons, language, responded_at from landing.responses "
                        "where survey_id = %s order by score", (survey,)).fetchall()
    assert stored == [(r["score"], r["comment"], r["reasons"], r["language"], r["responded_at"]) for r in rows[:2]]


def test_rate_limiter_refills():
    from nps.collector.app import RateLimiter

    limiter = RateLimiter(per_minute=2)
    assert [limiter.allow("1.2.3.4") for _ in range(3)] == [True, True, False]
    assert limiter.allow("5.6.7.8")  # per client
    ip_tokens, last = limiter._buckets["1.2.3.4"]
    limiter._buckets["1.2.3.4"] = (ip_tokens, last - 30)  # half a minute later: one more request
    assert limiter.allow("1.2.3.4") and not limiter.allow("1.2.3.4")
