"""Failure callback, alert e-mails through a SendGrid-shaped capture server, the daily summary, freshness messages."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from conftest import free_port
from nps.quality import alerts, freshness, summary
from nps.quality.result import write_rows

KYIV = ZoneInfo("Europe/Kyiv")


class _Capture(BaseHTTPRequestHandler):
    messages: list[dict] = []
    status = 202

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).messages.append({"path": self.path, "auth": self.headers["Authorization"], "body": body})
        self.send_response(type(self).status)
        self.send_header("X-Message-Id", f"msg-{len(type(self).messages)}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def sendgrid(monkeypatch):
    """A loopback server that accepts POST /v3/mail/send like SendGrid (202 + X-Message-Id) and keeps the bodies."""
    _Capture.messages = []
    _Capture.status = 202
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_NPS_SENDGRID", json.dumps(
        {"conn_type": "http", "host": f"http://127.0.0.1:{server.server_port}", "password": "SG.test-key"}))
    try:
        yield _Capture
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def clean(db):
    db.execute("truncate quality.alerts, quality.expectation_results")
    return db


def _context(exc: Exception) -> dict:
    ti = SimpleNamespace(dag_id="nps_transform", task_id="validate_raw", run_id="scheduled__2026-03-10",
                         try_number=3, log_url="http://127.0.0.1:8080/log")
    return {"ti": ti, "run_id": ti.run_id, "logical_date": datetime(2026, 3, 10, 1, tzinfo=KYIV), "exception": exc}


def test_callback_records_an_alert(clean, monkeypatch, caplog):
    monkeypatch.delenv("NPS_ALERT_EMAILS", raising=False)
    alerts.on_failure_callback(_context(ValueError("raw.onec_sales has 3 duplicate keys")))
    row = clean.execute("select kind, dag_id, task_id, run_id, logical_date, message, details, emailed_to "
                        "from quality.alerts").fetchone()
    assert row[:5] == ("task_failure", "nps_transform", "validate_raw", "scheduled__2026-03-10", date(2026, 3, 10))
    assert row[5] == ("nps_transform.validate_raw failed (run scheduled__2026-03-10): ValueError: raw.onec_sales "
                      "has 3 duplicate keys")
    assert row[6]["try_number"] == 3 and row[7] == []
    assert any("NPS ALERT [task_failure]" in r.message for r in caplog.records)


def test_callback_emails_the_data_team(clean, sendgrid, monkeypatch):
    monkeypatch.setenv("NPS_ALERT_EMAILS", "data-team@example.com, oncall@example.com")
    alerts.on_failure_callback(_context(RuntimeError("dbt build failed")))
    (msg,) = sendgrid.messages
    assert msg["path"] == "/v3/mail/send" and msg["auth"] == "Bearer SG.test-key"
    to = sorted(t["email"] for p in msg["body"]["personalizations"] for t in p["to"])
    assert to == ["data-team@example.com", "oncall@example.com"]
    assert "nps_transform.validate_raw failed" in msg["body"]["subject"]
    assert clean.execute("select emailed_to from quality.alerts").fetchone()[0] == to


def test_callback_never_raises_and_keeps_the_mail_error(clean, sendgrid, monkeypatch):
    monkeypatch.setenv("NPS_ALERT_EMAILS", "data-team@example.com")
    sendgrid.status = 401
    alerts.on_failure_callback(_context(RuntimeError("boom")))
    emailed, error = clean.execute("select emailed_to, email_error from quality.alerts").fetchone()
    assert emailed == [] and "Unauthorized" in error


def test_an_alert_mail_whose_outcome_is_unknown_is_kept_and_never_resent(clean, sendgrid, monkeypatch):
    monkeypatch.setenv("NPS_ALERT_EMAILS", "data-team@example.com")
    sendgrid.status = 500  # SendGrid may have taken it
    alerts.on_failure_callback(_context(RuntimeError("boom")))
    emailed, error = clean.execute("select emailed_to, email_error from quality.alerts").fetchone()
    assert len(sendgrid.messages) == 1 and emailed == []
    assert error.startswith("outcome unknown, not sent again: HTTP 500")


def test_alerts_never_import_the_gate():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(alerts))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "nps.quality.settings.quality_settings" in imported  # the walk sees the module's own imports
    assert not [m for m in imported if m.startswith("nps.quality.gate")]  # the gate imports alerts, not back


def _result(run_id, suite, asset, column, success, severity, unexpected, keys, checked_at):
    return {"run_id": run_id, "suite": suite, "expectation": "expect_column_values_to_be_between", "asset": asset,
            "column": column, "description": f"{column} >= 0", "success": success, "severity": severity,
            "unexpected_count": unexpected, "element_count": 100, "sample_keys": keys, "observed_value": None,
            "logical_date": checked_at.date(), "checked_at": checked_at}


def test_daily_summary_lists_failed_checks_with_counts_and_sample_keys(clean, sendgrid, monkeypatch):
    monkeypatch.setenv("NPS_DQ_SUMMARY_EMAILS", "dq@example.com")
    day = date(2026, 3, 10)
    at = datetime(2026, 3, 10, 2, tzinfo=KYIV)
    write_rows(clean, [
        _result("r1", "raw_purchases", "raw.onec_sales", "amount", False, "critical", 2,
                [{"ref_key": "s7"}, {"ref_key": "s9"}], at),
        _result("r1", "raw_purchases", "raw.onec_sales", "currency", True, "critical", 0, [], at),
        _result("r2", "raw_purchases", "raw.onec_sales", "amount", False, "critical", 3, [{"ref_key": "s7"}],
                at + timedelta(hours=6)),
        _result("r2", "raw_customers", "raw.onec_customers", "email", False, "warning", 1, [{"ref_key": "c4"}],
                at + timedelta(hours=6)),
        _result("r0", "raw_purchases", "raw.onec_sales", "quantity", False, "critical", 9, [{"ref_key": "x"}],
                at - timedelta(days=1)),                                     # the day before: not in the summary
    ])
    alerts.raise_alert(None, "task_failure", "nps_extract.load_sales failed", email=False)  # stamped now: not today
    clean.execute("update quality.alerts set raised_at = %s", (at,))
    sent = summary.send_daily_summary(_dsn(clean), day)
    assert sent.checks_run == 4 and sent.runs == 2
    assert [(f["asset"], f["column"], f["failed_runs"], f["max_unexpected"]) for f in sent.failed] == [
        ("raw.onec_sales", "amount", 2, 3), ("raw.onec_customers", "email", 1, 1)]
    assert sent.subject == "NPS data quality 2026-03-10: 1 critical, 1 warning check(s) failed"
    (msg,) = sendgrid.messages
    assert msg["body"]["personalizations"][0]["to"] == [{"email": "dq@example.com"}]
    text = next(c["value"] for c in msg["body"]["content"] if c["type"] == "text/plain")
    assert 'raw.onec_sales.amount: amount >= 0 - failed in 2 run(s), up to 3 unexpected row(s); sample keys: ' \
           '[{"ref_key": "s7"}]' in text
    assert "[task_failure] nps_extract.load_sales failed" in text
    assert "quantity" not in text
    assert any(c["type"] == "text/html" for c in msg["body"]["content"])


def _dsn(conn) -> str:
    import os

    return os.environ["NPS_WAREHOUSE_URL"]


def test_summary_needs_recipients(clean, monkeypatch):
    monkeypatch.delenv("NPS_DQ_SUMMARY_EMAILS", raising=False)
    monkeypatch.delenv("NPS_ALERT_EMAILS", raising=False)
    with pytest.raises(ValueError, match="NPS_DQ_SUMMARY_EMAILS"):
        summary.send_daily_summary(_dsn(clean), date(2026, 3, 10))


SOURCES_JSON = {
    "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json"},
    "results": [
        {"unique_id": "source.nps.raw.onec_sales", "status": "error", "max_loaded_at_time_ago_in_s": 274_000.0,
         "max_loaded_at": "2026-03-06T21:00:00+00:00",
         "criteria": {"warn_after": {"count": 1, "period": "day"}, "error_after": {"count": 2, "period": "day"}}},
        {"unique_id": "source.nps.raw.crm_contacts", "status": "warn", "max_loaded_at_time_ago_in_s": 93_600.0,
         "criteria": {"warn_after": {"count": 1, "period": "day"}, "error_after": {"count": 3, "period": "day"}}},
        {"unique_id": "source.nps.raw.survey_responses", "status": "pass", "max_loaded_at_time_ago_in_s": 3_630.0,
         "criteria": {"warn_after": {"count": 12, "period": "hour"}, "error_after": {"count": 1, "period": "day"}}},
    ],
}


def test_stale_source_message_names_source_and_age(tmp_path, caplog):
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(SOURCES_JSON))
    with pytest.raises(freshness.SourceFreshnessError) as err:
        freshness.check_sources_json(path)
    assert str(err.value) == "source raw.onec_sales is stale: last loaded 3 days 4 hours ago (error after 2 days)"
    assert "source raw.crm_contacts is getting stale: last loaded 1 day 2 hours ago (warn after 1 day)" in caplog.text


def test_fresh_sources_pass_and_runtime_errors_fail(tmp_path):
    fresh = {"results": [SOURCES_JSON["results"][2]]}
    (tmp_path / "fresh.json").write_text(json.dumps(fresh))
    (status,) = freshness.check_sources_json(tmp_path / "fresh.json")
    assert status.message == "source raw.survey_responses is fresh: last loaded 1 hour ago"
    broken = {"results": [{"unique_id": "source.nps.raw.onec_deliveries", "status": "runtime error",
                           "error": 'relation "raw.onec_deliveries" does not exist'}]}
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(freshness.SourceFreshnessError, match="source raw.onec_deliveries: freshness could not be"):
        freshness.check_sources_json(tmp_path / "broken.json")
    with pytest.raises(FileNotFoundError, match="dbt source freshness"):
        freshness.check_sources_json(tmp_path / "missing.json")


def test_dag_level_callback_is_told_apart(clean, monkeypatch):
    monkeypatch.delenv("NPS_ALERT_EMAILS", raising=False)
    context = _context(ValueError("unused"))
    context.pop("exception")
    context["reason"] = "task_failure"
    alerts.on_failure_callback(context)
    kind, message = clean.execute("select kind, message from quality.alerts").fetchone()
    assert kind == "dag_failure"
    assert message == "DAG nps_transform failed (run scheduled__2026-03-10): task_failure, last task validate_raw"


def test_default_args_carry_the_callback():
    from nps.dag_defaults import DEFAULT_ARGS

    assert DEFAULT_ARGS["on_failure_callback"] is alerts.on_failure_callback


def test_package_imports_no_great_expectations():
    import subprocess
    import sys

    code = ("import sys, nps.dag_defaults, nps.quality, nps.quality.gate, nps.quality.summary, nps.quality.swap, "
            "nps.quality.cli; print('great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
