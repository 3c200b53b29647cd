"""Issue 23, the shop kiosk and the website widget over real HTTP: a kiosk token opens its page until revoked, a
resent answer lands once, the per-location rate limit, the widget's CORS (an allowed site vs a foreign one), and an
order-bound widget answer loading onto that purchase's survey only with the shop's signature of the order number
(unsigned or forged: 403, nothing stored); anonymous answers reach raw with their location; a kiosk customer's phone or
e-mail reaches ops only with consent and a low score, and never landing or raw."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest
from collector_support import collector_url, serve, settings
from psycopg.types.json import Jsonb

from nps import tokens, warehouse
from nps.collector import kiosk
from nps.collector.app import create_app
from nps.responses.landing import load_landing

SITE = "http://shop.example.test"
ORDER_SECRET = "shop-backend-order-secret"


@pytest.fixture(scope="module")
def kw_warehouse(server_url: str):
    with warehouse.throwaway(server_url, "nps_kiosk") as url:
        yield url


@pytest.fixture(scope="module")
def live(kw_warehouse, tmp_path_factory):
    cfg = settings(collector_url(kw_warehouse), tmp_path_factory.mktemp("spool"), widget_origins=(SITE,),
                   kiosk_rate_limit_per_minute=5, widget_order_secret=ORDER_SECRET)
    with serve(create_app(cfg)) as base:
        yield base


@pytest.fixture
def kdb(kw_warehouse):
    with psycopg.connect(kw_warehouse, autocommit=True) as conn:
        yield conn


def answer_id() -> str:
    return uuid.uuid4().hex


def test_kiosk_token_opens_the_page_until_revoked_and_a_resend_lands_once(live, kdb, kw_warehouse, tmp_path):
    location = "shop-" + uuid.uuid4().hex[:6]
    token = kiosk.add(kdb, location, "Магазин на Хрещатику", "Київ")
    page = httpx.get(f"{live}/k/{token}?lang=pl", timeout=10)
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/kiosk.js">' in page.text and "Polski" in page.text
    assert httpx.get(f"{live}/k/{'x' * 32}", timeout=10).status_code == 404
    aid = answer_id()
    body = {"id": aid, "score": 4, "reasons": ["price"], "comment": "Дорого", "lang": "uk", "signal": "touch"}
    for _ in range(2):  # the kiosk lost the first reply and sends again
        r = httpx.post(f"{live}/k/{token}/answers", json=body, timeout=10)
        assert r.status_code == 200 and r.json()["ok"]
    assert httpx.post(f"{live}/k/{token}/sessions", json={"id": aid}, timeout=10).status_code == 200
    rows = kdb.execute("select survey_id, channel, location_id, score from landing.responses where answer_id = %s",
                       ("kq" + aid,)).fetchall()
    assert rows == [("kq" + aid, "kiosk", location, 4)]
    assert kdb.execute("select channel, location_id from landing.page_views where view_id = %s",
                       ("kq" + aid,)).fetchall() == [("kiosk", location)]
    load_landing(kw_warehouse)
    assert kdb.execute("select score, comment, channel, location_id from raw.survey_responses where survey_id = %s",
                       ("kq" + aid,)).fetchall() == [(4, "Дорого", "kiosk", location)]

    assert kiosk.revoke(kdb, location)
    # the live collector caches a token for kiosk.CACHE_S; a freshly started one sees the revocation at once
    with serve(create_app(settings(collector_url(kw_warehouse), tmp_path / "spool"))) as fresh:
        off = httpx.get(f"{fresh}/k/{token}?lang=en", timeout=10)
        assert off.status_code == 410 and "switched off" in off.text
        assert httpx.post(f"{fresh}/k/{token}/answers", json={**body, "id": answer_id()},
                          timeout=10).status_code == 410


@pytest.fixture
def roomy(kw_warehouse, tmp_path):
    """A collector whose kiosks may post more than `live`'s five a minute."""
    with serve(create_app(settings(collector_url(kw_warehouse), tmp_path / "spool"))) as base:
        yield base


def test_a_kiosk_contact_reaches_ops_only_with_consent_and_never_landing(roomy, kdb, kw_warehouse):
    location = "cb-" + uuid.uuid4().hex[:6]
    token = kiosk.add(kdb, location, "Магазин на Подолі", "Київська")
    page = httpx.get(f"{roomy}/k/{token}?lang=uk", timeout=10).text
    assert "Я згоден(на), щоб компанія зв" in page and '"contact_max_score": 6' in page

    def post(score: int, **extra) -> tuple[str, dict]:
        aid = answer_id()
        body = {"id": aid, "score": score, "reasons": [], "comment": "Чекав дві години", "lang": "uk", **extra}
        for _ in range(2):  # a resend after a lost reply: one answer, one contact
            r = httpx.post(f"{roomy}/k/{token}/answers", json=body, timeout=10)
            assert r.status_code == 200, r.text
        return "kq" + aid, r.json()

    consented, reply = post(2, contact="067 123 45 67", consent=True)
    assert reply["contact"] == "stored"
    by_mail, _ = post(5, contact=" olena@example.com ", consent=True)
    no_consent, reply = post(3, contact="0671234567")
    assert reply["contact"] == "refused"
    promoter, reply = post(10, contact="0671234567", consent=True)  # no case to call back on: nothing kept
    assert reply["contact"] == "refused"
    garbled, reply = post(1, contact="дзвоніть", consent=True)
    assert reply["contact"] == "refused"
    assert "contact" not in post(4)[1]

    rows = kdb.execute("select answer_id, location_id, phone, email, language, consent_text from ops.kiosk_contacts "
                       "where location_id = %s order by phone nulls last", (location,)).fetchall()
    consent = "Я згоден(на), щоб компанія зв'язалася зі мною щодо цієї відповіді за залишеним контактом."
    assert rows == [(consented, location, "+380671234567", None, "uk", consent),
                    (by_mail, location, None, "olena@example.com", "uk", consent)]
    load_landing(kw_warehouse)
    for table in ("landing.responses", "raw.survey_responses"):
        text = kdb.execute(f"select string_agg(t::text, ' ') from {table} t where survey_id = any(%s)",
                           ([consented, by_mail, no_consent, promoter, garbled],)).fetchone()[0]
        assert "Чекав дві години" in text and "1234567" not in text and "olena" not in text
    with psycopg.connect(collector_url(kw_warehouse)) as collector, pytest.raises(psycopg.errors.InsufficientPrivilege):
        collector.execute("select * from ops.kiosk_contacts")


def test_kiosk_contact_rule():
    assert kiosk.contact_of("+48 601-234-567") == {"phone": "+48601234567", "email": None}
    assert kiosk.contact_of("(067) 123-45-67") == {"phone": "+380671234567", "email": None}
    assert kiosk.contact_of("380671234567") == {"phone": "+380671234567", "email": None}
    assert kiosk.contact_of("a.b@firma.com.ua") == {"phone": None, "email": "a.b@firma.com.ua"}
    for bad in ("", "12345", "067 123 45 6x", "a@b", "@firma.ua", "a@@b.ua", "٠٦٧١٢٣٤٥٦٧٨", "1" * 16,
                "x@y." + "a" * 260):
        assert kiosk.contact_of(bad) is None, bad
    answer = {"survey_id": "kq" + "0" * 32, "location_id": "shop", "score": 6, "language": "pl", "responded_at": 1}
    given = {"contact": "0671234567", "consent": True}
    assert kiosk.consented_contact(given, answer, "zgoda")["phone"] == "+380671234567"
    assert kiosk.consented_contact({"contact": "0671234567", "consent": "true"}, answer, "zgoda") is None
    assert kiosk.consented_contact({"contact": "0671234567", "consent": True}, {**answer, "score": 7}, "zgoda") is None


def test_kiosk_is_rate_limited_per_location(live, kdb):
    busy, calm = (kiosk.add(kdb, "rl-" + uuid.uuid4().hex[:6], "Точка", "Львівська") for _ in range(2))
    codes = [httpx.post(f"{live}/k/{busy}/sessions", json={"id": answer_id()}, timeout=10).status_code
             for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    assert httpx.post(f"{live}/k/{calm}/sessions", json={"id": answer_id()}, timeout=10).status_code == 200
    bad = httpx.post(f"{live}/k/{calm}/answers", json={"id": "nope", "score": 11}, timeout=10)
    assert bad.status_code == 422


def test_widget_answers_only_from_an_allowed_site(live, kdb):
    script = httpx.get(f"{live}/widget.js", timeout=10)
    assert script.status_code == 200 and script.headers["content-type"].startswith("application/javascript")
    assert "eval(" not in script.text and "document.cookie" not in script.text
    pre = httpx.options(f"{live}/w/answers", headers={"Origin": SITE, "Access-Control-Request-Method": "POST"},
                        timeout=10)
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == SITE
    foreign = "http://evil.example.test"
    assert "access-control-allow-origin" not in httpx.options(
        f"{live}/w/answers", headers={"Origin": foreign, "Access-Control-Request-Method": "POST"}, timeout=10).headers
    aid = answer_id()
    body = {"id": aid, "score": 10, "lang": "en", "signal": "pointer"}
    refused = httpx.post(f"{live}/w/answers", json=body, headers={"Origin": foreign}, timeout=10)
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    ok = httpx.post(f"{live}/w/answers", json=body, headers={"Origin": SITE}, timeout=10)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == SITE
    assert kdb.execute("select channel, score from landing.responses where survey_id = %s",
                       ("wq" + aid,)).fetchall() == [("web", 10)]


def test_order_bound_widget_answer_lands_on_that_purchases_survey(live, kdb, kw_warehouse, tmp_path):
    order, sale, number = str(uuid.uuid4()), str(uuid.uuid4()), "ЦБ-" + uuid.uuid4().hex[:6]
    kdb.execute("insert into raw.onec_orders (ref_key, number, order_date, posted, payload) "
                "values (%s, %s, '2026-03-01 09:00', true, '{}')", (order, number))
    kdb.execute("insert into raw.onec_sales (ref_key, number, sale_date, order_ref, posted, payload) "
                "values (%s, 'РН-9', '2026-03-02 10:00', %s, true, %s)", (sale, order, Jsonb({"Ref_Key": sale})))

    def post(base: str, score: int, **fields) -> tuple[str, httpx.Response]:
        aid = answer_id()
        body = {"id": aid, "score": score, "signal": "pointer", **fields}
        return aid, httpx.post(f"{base}/w/answers", json=body, headers={"Origin": SITE}, timeout=10)

    sig = tokens.sign_order(number, ORDER_SECRET)
    # someone who knows (or guesses) the number: no signature, a forged one, another order's, another secret's
    refused = [post(live, 0, order=number), post(live, 0, order=number, order_sig="0" * 64),
               post(live, 0, order=number, order_sig=tokens.sign_order(number + "1", ORDER_SECRET)),
               post(live, 0, order=number, order_sig=tokens.sign_order(number, "guessed")),
               post(live, 0, order=number, order_sig=None), post(live, 0, order=number, order_sig=["x"])]
    for _, r in refused:
        assert r.status_code == 403 and r.json() == {"error": "bad order signature"}
        assert r.headers["access-control-allow-origin"] == SITE  # the site's script can read the refusal
    with serve(create_app(settings(collector_url(kw_warehouse), tmp_path / "spool", widget_origins=(SITE,)))) as bare:
        unset = post(bare, 0, order=number, order_sig=sig)  # no NPS_WIDGET_ORDER_SECRET: no order-bound answers
        assert unset[1].status_code == 403 and unset[1].json() == {"error": "order signatures are not configured"}
        assert post(bare, 7)[1].status_code == 200  # anonymous answers still work there
    refused.append(unset)
    assert kdb.execute("select count(*) from landing.responses where survey_id = any(%s)",
                       (["wq" + aid for aid, _ in refused],)).fetchone()[0] == 0

    aid, r = post(live, 3, order=f" {number} ", order_sig=sig)  # the widget trims data-order; signed: the number
    assert r.status_code == 200
    assert kdb.execute("select order_number from landing.responses where survey_id = %s",
                       ("wq" + aid,)).fetchall() == [(number,)]
    # an order number 1C does not know (yet), signed: it waits like a QR answer, never lands alone
    stranger, _ = post(live, 9, order="НЕМАЄ-1", order_sig=tokens.sign_order("НЕМАЄ-1", ORDER_SECRET))
    anonymous, r = post(live, 6)  # no order: anonymous as before
    assert r.status_code == 200
    stats = load_landing(kw_warehouse)
    survey = tokens.sale_survey_id(sale)
    assert kdb.execute("select score, channel from raw.survey_responses where survey_id = %s",
                       (survey,)).fetchall() == [(3, "web")]
    assert kdb.execute("select count(*) from raw.survey_responses where survey_id in (%s, %s)",
                       ("wq" + aid, "wq" + stranger)).fetchone()[0] == 0
    assert kdb.execute("select score, channel from raw.survey_responses where survey_id = %s",
                       ("wq" + anonymous,)).fetchall() == [(6, "web")]
    assert stats["responses_waiting"] >= 1
