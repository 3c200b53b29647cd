"""The QR code on the 1C invoice (issue 23) over real HTTP: the keyed /qr/ route, the /q/ scan pages, and a QR answer
through landing and nps_load_responses into raw, where it keeps the e-mail from inviting for that purchase."""

from __future__ import annotations

import uuid
from datetime import date
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from collector_support import TOKEN_SECRET, collector_url, count, serve, settings, token
from psycopg.types.json import Jsonb

from nps import tokens, transform, warehouse
from nps.collector.app import create_app
from nps.responses.landing import WAITING, load_landing
from nps.responses.latest import upsert

KEY = "qr-test-key"
BASE = "https://nps.example.com"
AS_OF = date(2026, 3, 20)  # the sending day the due queue is asked about
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def guid() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def qr_warehouse(server_url: str):
    """A database of its own: this module adds 1C sales and builds the due queue's models in it."""
    with warehouse.throwaway(server_url, "nps_qr") as url:
        yield url


@pytest.fixture(scope="module")
def live(qr_warehouse, tmp_path_factory):
    """The collector under a real uvicorn, with the QR key and a public base URL of its own."""
    cfg = settings(collector_url(qr_warehouse), tmp_path_factory.mktemp("spool"), qr_api_key=KEY,
                   public_base_url=BASE)
    with serve(create_app(cfg)) as base:
        yield base


@pytest.fixture
def qdb(qr_warehouse):
    with psycopg.connect(qr_warehouse, autocommit=True) as conn:
        yield conn


def on_live(live: str, link: str) -> str:
    """The printed link (on BASE) as a request to the live collector."""
    parts = urlsplit(link)
    return f"{live}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def add_purchase(conn: psycopg.Connection, sale_ref: str | None = None) -> str:
    """A customer, an order and its sale, delivered on 03-06: due on AS_OF (delivery + 14 days). The sale's ref."""
    customer, order, sale = guid(), guid(), sale_ref or guid()
    conn.execute("insert into raw.onec_customers (ref_key, code, name, legal_kind, email, region_raw, payload) "
                 "values (%s, %s, 'ТОВ Покупець', 'company', %s, 'Київ', '{}')",
                 (customer, customer[:8], f"{customer[:8]}@example.com"))
    conn.execute("insert into raw.onec_orders (ref_key, number, order_date, customer_ref, promised_date, posted, "
                 "payload) values (%s, 'ЗК-1', '2026-03-01 09:00', %s, '2026-03-05', true, '{}')", (order, customer))
    conn.execute("insert into raw.onec_sales (ref_key, number, sale_date, order_ref, customer_ref, amount, currency, "
                 "posted, payload) values (%s, 'РН-1', '2026-03-02 10:00', %s, %s, 100, 'UAH', true, %s)",
                 (sale, order, customer, Jsonb({"Ref_Key": sale})))
    conn.execute("insert into raw.onec_deliveries (order_ref, delivered_at, status, payload) "
                 "values (%s, '2026-03-06 12:00', 'Доставлено', '{}')", (order,))
    return sale


def due_invites(conn: psycopg.Connection) -> set[str]:
    with conn.transaction():
        conn.execute("select set_config('nps.as_of_date', %s, true)", (AS_OF.isoformat(),))
        return {r[0] for r in conn.execute("select purchase_id from intermediate.int_survey_due_queue "
                                           "where kind = 'invite'")}


def raw_answer(conn: psycopg.Connection, survey: str):
    return conn.execute("select score, comment, channel from raw.survey_responses where survey_id = %s",
                        (survey,)).fetchone()


def get_link(live: str, sale: str, lang: str | None = None) -> str:
    r = httpx.get(f"{live}/qr/{sale}", params={"lang": lang} if lang else None, auth=("1c", KEY), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["url"]


def test_qr_route_needs_its_key(live, qr_warehouse, tmp_path):
    sale = guid()
    for auth in (None, ("1c", "wrong"), ("1c", KEY + "x")):
        r = httpx.get(f"{live}/qr/{sale}.png", auth=auth, timeout=10)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert httpx.get(f"{live}/qr/{sale}", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).status_code == 401
    r = httpx.get(f"{live}/qr/{sale.upper()}", auth=("any user", KEY), timeout=10)
    survey = tokens.sale_survey_id(sale)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    link = f"{BASE}/q/{tokens.mint_qr(survey, TOKEN_SECRET)}"
    assert r.json() == {"sale_ref": sale, "survey_id": survey, "url": link}
    # no key configured: the route is off, whatever the caller sends
    with serve(create_app(settings(collector_url(qr_warehouse), tmp_path / "s"))) as other:
        assert httpx.get(f"{other}/qr/{sale}", auth=("1c", ""), timeout=10).status_code == 403


def test_qr_route_gives_svg_png_and_refuses_what_is_not_a_sale(live):
    sale = guid()
    svg = httpx.get(f"{live}/qr/{sale}.svg", params={"lang": "ru"}, auth=("1c", KEY), timeout=10)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.content.startswith(b"<?xml") and b"<svg" in svg.content
    png = httpx.get(f"{live}/qr/{sale}.png", auth=("1c", KEY), timeout=10)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(PNG_MAGIC)
    for path in ("not-a-guid.png", "00000000-0000-0000-0000-000000000000", f"{sale}.gif", f"{sale}.svg.png"):
        assert httpx.get(f"{live}/qr/{path}", auth=("1c", KEY), timeout=10).status_code == 404, path
    assert httpx.get(f"{live}/qr/{sale}", params={"lang": "de"}, auth=("1c", KEY), timeout=10).status_code == 422


def test_scan_opens_the_survey_page_in_the_surveys_language(live, qdb):
    sale = guid()
    link = get_link(live, sale, "ru")
    tok = urlsplit(link).path.removeprefix("/q/")
    assert link == f"{BASE}/q/{tok}?lang=ru" and sale not in link and tok.startswith(tokens.sale_survey_id(sale))
    page = httpx.get(on_live(live, link), timeout=10)
    assert page.status_code == 200 and '<html lang="ru">' in page.text and "порекомендуете" in page.text
    for n in range(11):
        assert f'href="/q/{tok}/{n}?lang=ru"' in page.text
    score = httpx.get(f"{live}/q/{tok}/8?lang=ru", timeout=10)
    assert score.status_code == 200 and 'value="8" checked' in score.text and "Скорость доставки" in score.text
    assert f'action="/q/{tok}?lang=ru"' in score.text
    # no ?lang= printed: the phone's language decides
    plain = httpx.get(on_live(live, get_link(live, sale)), headers={"Accept-Language": "pl-PL,pl;q=0.9"}, timeout=10)
    assert '<html lang="pl">' in plain.text
    survey = tokens.sale_survey_id(sale)
    assert count(qdb, "landing.clicks", survey) == 0  # a scan is no e-mail click (the funnel is the e-mail's)


def test_an_altered_or_foreign_token_gets_a_clear_404_and_writes_nothing(live, qdb):
    sale = guid()
    survey = tokens.sale_survey_id(sale)
    tok = urlsplit(get_link(live, sale)).path.removeprefix("/q/")
    other = tokens.sale_survey_id(guid())
    altered = [other + tok[len(survey):],                     # another sale's survey, this signature
               tok[:-2] + ("AA" if not tok.endswith("AA") else "BB"),  # the signature changed
               tok + ".x", "not-a-token", tok[:-1] + "é",
               token(survey)]                                 # an e-mail token is no QR token
    for bad in altered:
        r = httpx.get(f"{live}/q/{bad}?lang=en", timeout=10)
        assert r.status_code == 404 and "scan the QR code on your invoice again" in r.text, bad
        assert httpx.post(f"{live}/q/{bad}", data={"score": "9"}, timeout=10).status_code == 404
    assert httpx.get(f"{live}/s/{tok}", timeout=10).status_code == 404  # and a QR token no e-mail one
    assert count(qdb, "landing.responses", survey) == 0 and count(qdb, "landing.responses", other) == 0


@pytest.fixture(scope="module")
def due_queue(qr_warehouse, tmp_path_factory):
    """Two purchases due on AS_OF, and the due queue's models built over them."""
    with psycopg.connect(qr_warehouse, autocommit=True) as conn:
        sales = add_purchase(conn), add_purchase(conn)
    outcome = transform.run(["build", "--select", "+int_survey_due_queue", "--indirect-selection", "cautious"],
                            env=transform.PIPELINE_ENV, target_path=tmp_path_factory.mktemp("dbt_qr"))
    assert outcome.success and not outcome.failures
    return sales


def test_a_qr_answer_lands_loads_as_qr_and_stops_the_invite(live, qr_warehouse, qdb, due_queue):
    answered, other = due_queue
    survey = tokens.sale_survey_id(answered)
    assert due_invites(qdb) == {answered, other}
    link = get_link(live, answered, "uk")
    r = httpx.post(on_live(live, link), data={"score": "3", "comment": "Коробка пом'ята", "reasons": "product_quality",
                                             "lang": "uk"}, timeout=10)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/q/{urlsplit(link).path[3:]}?lang=uk&thanks=1")
    assert qdb.execute("select score, channel, source from landing.responses where survey_id = %s",
                       (survey,)).fetchall() == [(3, "qr", "web")]
    assert due_invites(qdb) == {other}  # landed only: the queue reads landing live
    stats = load_landing(qr_warehouse, "run-qr")
    assert stats["responses_upserted"] == 1 and stats["responses_waiting"] == 0
    assert raw_answer(qdb, survey) == (3, "Коробка пом'ята", "qr")
    assert not qdb.execute("select 1 from raw.survey_sends where survey_id = %s", (survey,)).fetchone()
    assert due_invites(qdb) == {other}


def test_an_email_answer_after_a_qr_answer_replaces_it(live, qr_warehouse, qdb):
    sale = add_purchase(qdb)
    survey = tokens.sale_survey_id(sale)
    httpx.post(on_live(live, get_link(live, sale)), data={"score": "3"}, timeout=10)
    load_landing(qr_warehouse)
    assert raw_answer(qdb, survey) == (3, None, "qr")
    r = httpx.post(f"{live}/s/{token(survey)}?lang=uk", data={"score": "9", "comment": "Замінили, дякую"},
                   headers={"Accept": "application/json"}, timeout=10)
    assert r.json() == {"ok": True, "stored": "db"}
    load_landing(qr_warehouse)
    assert raw_answer(qdb, survey) == (9, "Замінили, дякую", "email")
    # the one rule (nps.responses.latest) whatever the channel: an older QR answer arriving late does not win back
    (answered_at,) = qdb.execute("select responded_at from raw.survey_responses where survey_id = %s",
                                 (survey,)).fetchone()
    upsert(qdb, [{"survey_id": survey, "score": 3, "channel": "qr", "responded_at": answered_at.replace(year=2025)}])
    assert raw_answer(qdb, survey)[0] == 9


def test_a_qr_answer_before_its_sale_is_extracted_waits_for_it(live, qr_warehouse, qdb):
    """The invoice is scanned the day it is printed, the sale reaches raw the next night: the answer waits in landing
    (re-read each run) instead of going to quarantine, for as long as missed runs are caught up."""
    early, never = guid(), guid()
    for sale in (early, never):
        assert httpx.post(on_live(live, get_link(live, sale)), data={"score": "10"}, timeout=10).status_code == 303
    stats = load_landing(qr_warehouse, "run-early")
    assert stats["responses_waiting"] == 2 and stats["responses_quarantined"] == 0
    assert raw_answer(qdb, tokens.sale_survey_id(early)) is None
    add_purchase(qdb, early)  # the night's extract
    qdb.execute("update landing.responses set received_at = received_at - interval '8 days' where survey_id = %s",
                (tokens.sale_survey_id(never),))  # older than NPS_CATCH_UP_DAYS (7)
    stats = load_landing(qr_warehouse, "run-next")
    assert raw_answer(qdb, tokens.sale_survey_id(early)) == (10, None, "qr")
    assert stats["responses_waiting"] == 0
    assert qdb.execute("select reason from raw.quarantine where source = 'landing.responses' "
                       "and payload->>'survey_id' = %s", (tokens.sale_survey_id(never),)).fetchall() == [
        ("unknown survey_id (no send, no 1C sale)",)]
    assert WAITING not in {r[0] for r in qdb.execute("select reason from raw.quarantine")}


def test_nps_qr_command_gives_the_same_link_and_pictures(tmp_path, monkeypatch, capsysbinary):
    from nps.cli import main

    monkeypatch.setenv("NPS_TOKEN_SECRET", TOKEN_SECRET)
    monkeypatch.setenv("NPS_COLLECTOR_BASE_URL", BASE + "/")
    sale = guid()
    assert main(["qr", "--sale", sale, "--lang", "en"]) == 0
    survey = tokens.sale_survey_id(sale)
    assert capsysbinary.readouterr().out == f"{BASE}/q/{tokens.mint_qr(survey, TOKEN_SECRET)}?lang=en\n".encode()
    assert main(["qr", "--sale", sale, "--format", "png", "--out", str(tmp_path / "qr.png")]) == 0
    assert (tmp_path / "qr.png").read_bytes().startswith(PNG_MAGIC)
    assert main(["qr", "--sale", sale, "--format", "svg"]) == 0
    assert b"<svg" in capsysbinary.readouterr().out
    assert main(["qr", "--sale", "РН-0001"]) == 2
