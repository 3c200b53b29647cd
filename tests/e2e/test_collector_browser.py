"""A real browser (Debian's headless Chromium driven by Playwright) on the live collector: people's answers count once,
a mail gateway's scanner that renders every score link (and runs the page's script) counts as no answer."""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid

import psycopg
import pytest
from collector_support import add_sends, count, live_collector, token, wait_for  # noqa: F401 - a fixture

from nps.responses.landing import load_landing

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = "Pixel 7"  # Playwright's descriptor: a phone's viewport, user agent and touch screen
SCANNER_AGENT = "Mozilla/5.0 (compatible; Mimecast URL Protect; +https://www.mimecast.com/)"
DISGUISED_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Chrome/124.0.0.0 Safari/537.36")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it "
                                                          "as root: apt-get install -y chromium)")


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield p, browser
        finally:
            browser.close()


def sent_survey(db) -> tuple[str, str]:
    survey = "s-" + uuid.uuid4().hex[:12]
    add_sends(db, survey)
    return survey, token(survey)


def landed(db, survey: str) -> list[tuple]:
    return db.execute("select score, comment, reasons, language, signal, webdriver, user_agent, client_hash "
                      "from landing.responses where survey_id = %s order by id", (survey,)).fetchall()


def counted(db, warehouse_url: str, survey: str) -> list[tuple]:
    """What reaches raw through nps_load_responses: the answers that count."""
    load_landing(warehouse_url)
    return db.execute("select score, comment, reasons, language from raw.survey_responses where survey_id = %s",
                      (survey,)).fetchall()


@pytest.mark.parametrize("agent", [SCANNER_AGENT, DISGUISED_AGENT], ids=["scanner-agent", "disguised-agent"])
def test_scanner_rendering_every_score_link_records_nothing_that_counts(live_collector, warehouse_url, db, agent):  # noqa: F811
    survey, tok = sent_survey(db)
    with chromium() as (_, browser):
        context = browser.new_context(user_agent=agent)
        pages = [context.new_page() for _ in range(11)]
        for score, page in enumerate(pages):  # the e-mail's 11 buttons, opened at once, never touched
            page.goto(f"{live_collector}/s/{tok}/{score}?lang=en")
        # it stays long enough for the page's 3-second visibility signal: the collector keeps every visit for audit
        wait_for(lambda: count(db, "landing.responses", survey) == 11)
        context.close()
    rows = landed(db, survey)
    assert sorted(r[0] for r in rows) == list(range(11)) and count(db, "landing.clicks", survey) == 11
    assert {(r[4], r[5], r[6]) for r in rows} == {("visible_3s", True, agent)}
    assert len({r[7] for r in rows}) == 1 and len(rows[0][7]) == 32 and "127.0.0.1" not in rows[0][7]
    assert counted(db, warehouse_url, survey) == []


def test_person_taps_a_score_on_a_phone_and_leaves_after_three_seconds(live_collector, warehouse_url, db):  # noqa: F811
    survey, tok = sent_survey(db)
    with chromium() as (p, browser):
        context = browser.new_context(**p.devices[PHONE])
        page = context.new_page()
        page.goto(f"{live_collector}/s/{tok}?lang=en")
        page.get_by_role("link", name="Your score: 9").tap()
        page.wait_for_url(f"**/s/{tok}/9?lang=en")
        shown = time.monotonic()
        page.get_by_role("status").filter(has_text="Your score is saved").wait_for(timeout=10_000)
        assert time.monotonic() - shown > 2.5  # recorded once the page had been seen for 3 s, not on load
        agent = page.evaluate("navigator.userAgent")
        context.close()  # and leaves without touching the page
    [row] = landed(db, survey)
    assert row[:7] == (9, None, [], "en", "visible_3s", True, agent)  # webdriver is audit only: Playwright counts
    assert counted(db, warehouse_url, survey) == [(9, None, [], "en")]


def test_person_on_a_phone_submits_the_form_and_is_counted_once(live_collector, warehouse_url, db):  # noqa: F811
    survey, tok = sent_survey(db)
    problems: list[str] = []
    with chromium() as (p, browser):
        context = browser.new_context(**p.devices[PHONE])
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{live_collector}/s/{tok}?lang=pl")
        page.get_by_role("link", name="Twoja ocena: 7").tap()  # the e-mail's score button / the scale
        assert page.locator('input[name="score"][value="7"]').is_checked()
        page.get_by_label("Szybkość dostawy").tap()  # the first touch: the chosen score is recorded at once
        page.get_by_role("status").filter(has_text="Ocena zapisana").wait_for(timeout=10_000)
        page.get_by_label("Komentarz (opcjonalnie)").fill("Kurier <b>spóźnił</b> się")
        page.locator('label:has(input[name="score"][value="6"])').tap()
        page.get_by_role("button", name="Wyślij").tap()
        page.get_by_role("heading", name="Dziękujemy!").wait_for(timeout=10_000)
        assert "thanks=1" in page.url
        context.close()
    rows = landed(db, survey)
    assert [r[:6] for r in rows] == [(7, None, [], "pl", "touch", True),
                                     (6, "Kurier <b>spóźnił</b> się", ["delivery_speed"], "pl", "submit", True)]
    assert count(db, "landing.clicks", survey) == 2  # the survey page and the score page
    assert counted(db, warehouse_url, survey) == [(6, "Kurier <b>spóźnił</b> się", ["delivery_speed"], "pl")]
    assert problems == []  # no CSP violations, no script errors


def test_person_scans_the_invoice_qr_code_with_a_phone_and_answers(server_url, tmp_path):
    """The QR code on a 1C invoice: a Ukrainian phone opens the printed link (no ?lang=, the phone's language decides),
    taps a score, a reason, writes a comment and sends; the answer lands and loads with channel qr. In a database of
    its own: the sale it makes up stays out of the session's shared warehouse."""
    from collector_support import TOKEN_SECRET, collector_url, serve, settings

    from nps import warehouse
    from nps.collector import qr
    from nps.collector.app import create_app
    from nps.tokens import sale_survey_id

    sale = str(uuid.uuid4())
    survey = sale_survey_id(sale)
    problems: list[str] = []
    with warehouse.throwaway(server_url, "nps_qr_browser") as url, psycopg.connect(url, autocommit=True) as db, \
            serve(create_app(settings(collector_url(url), tmp_path / "spool"))) as live:
        db.execute("insert into raw.onec_sales (ref_key, posted, payload) values (%s, true, '{}')", (sale,))
        with chromium() as (p, browser):
            context = browser.new_context(**p.devices[PHONE], locale="uk-UA")
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(qr.link(sale, base_url=live, secret=TOKEN_SECRET))
            assert page.locator("html").get_attribute("lang") == "uk"
            page.get_by_role("link", name="Ваша оцінка: 9").tap()
            page.get_by_label("Швидкість доставки").tap()  # the first touch records the chosen score
            page.get_by_role("status").filter(has_text="Оцінку збережено").wait_for(timeout=10_000)
            page.get_by_label("Коментар (необов'язково)").fill("Все прийшло вчасно")
            page.get_by_role("button", name="Надіслати").tap()
            page.get_by_role("heading", name="Дякуємо!").wait_for(timeout=10_000)
            assert "/q/" in page.url and "thanks=1" in page.url
            context.close()
        rows = db.execute("select score, comment, reasons, language, signal, channel from landing.responses "
                          "where survey_id = %s order by id", (survey,)).fetchall()
        assert rows == [(9, None, [], "uk", "touch", "qr"),
                        (9, "Все прийшло вчасно", ["delivery_speed"], "uk", "submit", "qr")]
        assert count(db, "landing.clicks", survey) == 0
        load_landing(url)
        assert db.execute("select score, comment, channel from raw.survey_responses where survey_id = %s",
                          (survey,)).fetchall() == [(9, "Все прийшло вчасно", "qr")]
    assert problems == []
