"""Issue 23 in a real browser (headless Chromium via Playwright): the shop kiosk on a 1080x1920 touch screen (an
answer, the thank-you, the idle reset; offline answers queued and sent once when the network returns; a detractor's
phone left only with the consent ticked), and the
website widget embedded in a plain HTML page of another origin, with a signed order number (its answer lands with
channel web on that order's purchase)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from collector_support import collector_url, serve, settings, wait_for
from psycopg.types.json import Jsonb
from test_collector_browser import ARGS, CHROMIUM

from conftest import free_port
from nps import tokens, warehouse
from nps.collector import kiosk
from nps.collector.app import create_app
from nps.responses.landing import load_landing

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
SITE_PORT = free_port()
SITE = f"http://localhost:{SITE_PORT}"  # another origin than the collector's http://127.0.0.1:<port>
# a real browser's agent: Playwright's default says HeadlessChrome, which the loader takes for a scanner
ORDER_SECRET = "shop-backend-order-secret"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


@pytest.fixture(scope="module")
def kw_url(server_url: str):
    """A database of this module's own: its page views and answers stay out of the session's shared warehouse."""
    with warehouse.throwaway(server_url, "nps_kiosk_browser") as url:
        yield url


@pytest.fixture
def kdb(kw_url):
    with psycopg.connect(kw_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def collector(kw_url, tmp_path_factory):
    cfg = settings(collector_url(kw_url), tmp_path_factory.mktemp("spool"), widget_origins=(SITE,),
                   kiosk_idle_seconds=2, widget_order_secret=ORDER_SECRET)
    with serve(create_app(cfg)) as base:
        yield base


@contextlib.contextmanager
def shop_site(collector: str, order: str):
    """A plain HTML page with the README's embed, on its own origin (a thread of http.server): the order number and
    its signature, as the shop's backend computes them."""
    tag = (f'<script src="{collector}/widget.js" data-order="{order}" '
           f'data-order-sig="{tokens.sign_order(order, ORDER_SECRET)}" async></script>')
    html = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Shop</title></head>"
            f"<body><h1>Thank you for your order</h1>{tag}</body></html>").encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", f"script-src {collector}; connect-src {collector}")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", SITE_PORT), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield SITE + "/thanks"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def kiosk_rows(kdb, location: str) -> list[tuple]:
    return kdb.execute("select answer_id, score, reasons, language, signal from landing.responses "
                      "where location_id = %s order by id", (location,)).fetchall()


def test_kiosk_on_a_portrait_touch_screen_answers_resets_and_survives_going_offline(collector, kw_url, kdb):
    location = "kiosk-" + uuid.uuid4().hex[:6]
    token = kiosk.add(kdb, location, "Магазин", "Львівська")
    problems: list[str] = []
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1080, "height": 1920}, has_touch=True, locale="uk-UA",
                                      user_agent=AGENT)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{collector}/k/{token}")
        assert page.locator("html").get_attribute("lang") == "uk"
        page.get_by_role("button", name="English").tap()  # the language switch
        page.get_by_role("heading", name="How likely are you to recommend us").wait_for()
        page.locator('#scale button[value="9"]').tap()
        assert page.locator("#contact-block").is_hidden()  # a promoter is asked for no contact
        page.get_by_role("button", name="Price").tap()
        page.get_by_role("button", name="Send").tap()
        page.get_by_role("heading", name="Thank you!").wait_for()
        wait_for(lambda: len(kiosk_rows(kdb, location)) == 1, timeout=15)
        # untouched for the idle time (2 s here): back to the start screen
        page.locator("#start").wait_for(state="visible", timeout=10_000)
        assert page.locator("#thanks").is_hidden()

        context.set_offline(True)
        page.locator('#scale button[value="3"]').tap()
        page.get_by_label("Comment (optional)").fill("Довга черга")
        page.get_by_label("Leave a phone number or e-mail").fill("067 123 45 67")
        page.get_by_role("button", name="Send").tap()  # a contact without the consent ticked: not sent
        page.get_by_role("alert").filter(has_text="tick your consent").wait_for()
        page.get_by_role("button", name="I agree that the company may contact me").tap()
        page.get_by_role("button", name="Send").tap()
        page.get_by_role("heading", name="Thank you!").wait_for()
        queued = page.evaluate("Object.keys(localStorage).map(k => JSON.parse(localStorage.getItem(k)))[0]")
        assert [item["kind"] for item in queued] == ["sessions", "answers"]
        # as if a reply had been lost: the same answer queued twice
        page.evaluate("(() => { const k = Object.keys(localStorage)[0]; const q = JSON.parse(localStorage.getItem(k));"
                      " q.push(q[q.length - 1]); localStorage.setItem(k, JSON.stringify(q)); })()")
        page.wait_for_timeout(1000)
        assert len(kiosk_rows(kdb, location)) == 1  # nothing reached the collector while offline
        context.set_offline(False)
        # polled from here: wait_for_function would eval() inside the page, which its CSP forbids
        wait_for(lambda: page.evaluate("Object.keys(localStorage).every(k => localStorage.getItem(k) === '[]')"),
                 timeout=15)
        context.close()
    rows = kiosk_rows(kdb, location)
    assert [r[1:] for r in rows] == [(9, ["price"], "en", "touch"), (3, [], "en", "touch")]
    load_landing(kw_url)
    raw = kdb.execute("select score, comment, channel from raw.survey_responses where location_id = %s "
                     "order by score", (location,)).fetchall()
    assert raw == [(3, "Довга черга", "kiosk"), (9, None, "kiosk")]
    sessions = kdb.execute("select count(*) from landing.page_views where location_id = %s", (location,)).fetchone()
    assert sessions[0] == 2
    assert kdb.execute("select answer_id, phone, language from ops.kiosk_contacts where location_id = %s",
                       (location,)).fetchall() == [(rows[1][0], "+380671234567", "en")]
    assert problems == []


def test_widget_on_a_shop_page_of_another_origin(collector, kw_url, kdb):
    order, sale, number = str(uuid.uuid4()), str(uuid.uuid4()), "ЦБ-" + uuid.uuid4().hex[:6]
    kdb.execute("insert into raw.onec_orders (ref_key, number, order_date, posted, payload) "
               "values (%s, %s, '2026-03-01 09:00', true, '{}')", (order, number))
    kdb.execute("insert into raw.onec_sales (ref_key, number, sale_date, order_ref, posted, payload) "
               "values (%s, 'РН-9', '2026-03-02 10:00', %s, true, %s)", (sale, order, Jsonb({"Ref_Key": sale})))
    problems: list[str] = []
    with shop_site(collector, number) as url, chromium() as browser:
        context = browser.new_context(user_agent=AGENT)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(url)
        dialog = page.get_by_role("dialog", name="How likely are you to recommend us to a friend or colleague?")
        dialog.wait_for(timeout=10_000)
        dialog.get_by_role("button", name="8", exact=True).click()
        dialog.get_by_text("Thank you!").wait_for(timeout=10_000)
        assert context.cookies() == []
        page.reload()  # the same visitor again: the throttle keeps the prompt away
        page.wait_for_timeout(1500)
        assert page.get_by_role("dialog").count() == 0
        context.close()
    assert kdb.execute("select score, channel from landing.responses where order_number = %s",
                      (number,)).fetchall() == [(8, "web")]
    load_landing(kw_url)
    assert kdb.execute("select score, channel from raw.survey_responses where survey_id = %s",
                      (tokens.sale_survey_id(sale),)).fetchall() == [(8, "web")]
    assert problems == []
