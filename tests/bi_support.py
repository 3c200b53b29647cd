"""Apache Superset for tests: its own metadata (SQLite in a temp dir), the dashboard imported from bi/dashboard.yaml,
gunicorn on a free loopback port, and the dashboard rendered by headless Chromium (Playwright)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import httpx

from nps import bi

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def superset(bi_db_url: str, home: Path, port: int) -> Iterator[str]:
    """`nps bi setup` + the same gunicorn command as `make bi`, against `bi_db_url`; yields the base URL."""
    env = {"NPS_BI_HOME": str(home), "NPS_BI_DB_URL": bi_db_url,
           "SUPERSET_SECRET_KEY": os.environ.get("SUPERSET_SECRET_KEY") or "tests-only-superset-secret-key-0123456789"}
    with mock.patch.dict(os.environ, env):
        bi.setup()
        log = (home / "gunicorn.log").open("w")
        server = subprocess.Popen(bi.serve_command(port, workers=1), env=bi._env(), stdout=log,
                                  stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Superset did not start; see {home / 'gunicorn.log'}:\n"
                                       + (home / "gunicorn.log").read_text()[-3000:])
                time.sleep(0.5)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


LOADING_JS = """() => document.querySelectorAll('[data-test="loading-indicator"], .loading').length"""
SNAPSHOT_JS = """() => [...document.querySelectorAll('[data-test="chart-grid-component"]')]
  .filter(el => el.checkVisibility())  // the charts of the open tab
  .map(el => {
    // how much the chart drew: non-transparent pixels of its canvases, every 7th sampled
    let drawn = 0;
    for (const canvas of el.querySelectorAll('canvas')) {
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < data.length; i += 28) if (data[i] > 0) drawn++;
    }
    const alert = el.querySelector('[role="alert"], .ant-alert-error, [data-test="error-message"]');
    return {title: el.querySelector('[data-test="editable-title"]')?.innerText ?? '',
            text: el.querySelector('[data-test="chart-container"]')?.innerText ?? '',
            drawn_pixels: drawn,
            error: alert ? alert.innerText : null,
            rows: [...el.querySelectorAll('tr')].map(tr => [...tr.children].map(cell =>
                [cell.innerText.trim(), getComputedStyle(cell).backgroundColor]))};
})"""


@dataclass
class RenderedChart:
    title: str
    text: str  # what the chart shows as text (big numbers, table cells); ECharts draw on a canvas
    drawn_pixels: int  # non-transparent pixels (sampled) on the chart's canvases: 0 when it drew nothing
    error: str | None
    rows: list[list[list[str]]]  # its tables' rows (header rows too): each cell as [text, CSS background colour]

    def cells(self) -> list[list[str]]:
        return [[text for text, _background in row] for row in self.rows]


def coloured(background: str) -> bool:
    return background not in ("rgba(0, 0, 0, 0)", "transparent")


def render_dashboard(base: str, screenshot: Path | None = None, timeout_s: float = 90, *,
                     username: str = bi.ADMIN_USER, password: str | None = None,
                     tab: str | None = None) -> list[RenderedChart]:
    """Log in, open the dashboard (and `tab`, else the first), wait until no chart is loading, return what each chart
    of the tab shows."""
    from playwright.sync_api import sync_playwright

    spec = bi.load_spec()
    tab = tab or next(iter(spec["tabs"]))
    expected = sum(len(row) for row in spec["tabs"][tab])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1400})
            # Log in with the login form's own POST, before any page runs: the login page's scripts fire requests
            # that, answered with a fresh anonymous session cookie, can race the login response and undo it.
            form = context.request.get(f"{base}/login/").text()
            csrf = re.search(r'id="csrf_token"\s+value="([^"]+)"', form)
            assert csrf, "no csrf_token in Superset's login page"
            context.request.post(f"{base}/login/", form={"username": username,
                                                         "password": password or bi.admin_password(),
                                                         "csrf_token": csrf.group(1)})
            me = context.request.get(f"{base}/api/v1/me/")
            assert me.ok, f"login as {username} failed: /api/v1/me/ answered {me.status}"
            page = context.new_page()
            page.goto(f"{bi.dashboard_url(base)}?standalone=1")
            page.get_by_role("tab", name=tab).click()
            # Superset re-renders the whole grid once its language pack arrives: wait until every chart is there,
            # none is loading and what they show stays the same for two looks 1.5 s apart (ECharts animate too)
            charts, previous = [], None
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                page.wait_for_timeout(1500)
                charts = page.evaluate(SNAPSHOT_JS)
                settled = (len(charts) == expected and all(c["title"] for c in charts)
                           and not page.evaluate(LOADING_JS))
                if settled and charts == previous:
                    break
                previous = charts if settled else None
            else:
                raise AssertionError(f"the dashboard did not settle in {timeout_s} s: {len(charts)} of {expected} "
                                     f"charts; last look: {charts}")
            if screenshot:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return [RenderedChart(**chart) for chart in charts]
