"""A real browser (Debian's headless Chromium driven by Playwright) answers a survey from an e-mail score link."""

from __future__ import annotations

import shutil
import uuid

import pytest
from collector_support import count, live_collector, token  # noqa: F401 - live_collector is a fixture

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root: apt-get "
                                              "install -y chromium)")
def test_browser_clicks_score_link_and_answer_lands(live_collector, db):  # noqa: F811 - the fixture
    from playwright.sync_api import sync_playwright

    survey = "s-" + uuid.uuid4().hex[:12]
    tok = token(survey)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740})  # a phone
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{live_collector}/s/{tok}?lang=pl")
            page.get_by_role("link", name="Twoja ocena: 7").click()  # the e-mail's score button / the scale
            assert page.locator('input[name="score"][value="7"]').is_checked()
            # the page records the score by itself (a POST on load): the status line confirms it
            page.get_by_role("status").filter(has_text="Ocena zapisana").wait_for(timeout=10_000)
            rows = db.execute("select score, comment from landing.responses where survey_id = %s",
                              (survey,)).fetchall()
            assert rows == [(7, None)]
            page.get_by_label("Szybkość dostawy").check()
            page.get_by_label("Komentarz (opcjonalnie)").fill("Kurier <b>spóźnił</b> się")
            page.get_by_role("radio", name="6").check(force=True)
            page.get_by_role("button", name="Wyślij").click()
            page.get_by_role("heading", name="Dziękujemy!").wait_for(timeout=10_000)
            assert "thanks=1" in page.url
        finally:
            browser.close()
    rows = db.execute("select score, comment, reasons, language from landing.responses where survey_id = %s "
                      "order by id", (survey,)).fetchall()
    assert rows == [(7, None, [], "pl"), (6, "Kurier <b>spóźnił</b> się", ["delivery_speed"], "pl")]
    assert count(db, "landing.clicks", survey) == 2  # the survey page and the score page
    assert problems == []  # no CSP violations, no script errors
