"""The bench harness at toy size: its cheapest workload (sending) fills a table with numbers; timing is not judged."""

from __future__ import annotations

import re
import sys

import pytest

from nps.config import REPO_ROOT

if str(REPO_ROOT) not in sys.path:  # bench/ is a top-level package of the repository, not installed
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture
def bench_env(monkeypatch, server_url):
    monkeypatch.setenv("NPS_TOKEN_SECRET", "bench-smoke-secret")
    monkeypatch.setenv("NPS_COLLECTOR_BASE_URL", "https://nps.example.com")
    monkeypatch.setenv("NPS_BENCH_SERVER_URL", server_url)


def test_send_workload_table_has_numbers(bench_env):
    from bench import send
    from bench.__main__ import table

    result = send.run(quick=True, n=1500, sample=5)
    assert result.raw["recorded_sent"] == result.raw["due"] == 1500
    assert result.raw["requests"] >= 2  # 1500 recipients never fit one request
    by_measure = {row.measure: row for row in result.rows}
    assert by_measure["HTTP requests"].ours == f"{result.raw['requests']:,}"
    rate = by_measure["surveys sent + recorded / s"]
    assert float(rate.ours.replace(",", "")) > 0 and float(rate.anchor.split()[0].replace(",", "")) > 0
    assert result.peak_rss_mib["fake sendgrid"] > 0
    text = table(result)
    assert text.count("\n|") >= 6 and re.search(r"\| HTTP requests \| \d+ \|", text)


def test_unknown_workload_is_refused():
    from bench.__main__ import main

    with pytest.raises(SystemExit):
        main(["--only", "nope", "--no-write"])
