"""Raw-landing suites: pass on good data, fail on data broken on purpose (one test per kind of breakage)."""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta

import psycopg
import pytest
from _quality_data import DAY, LOADED_AT, load_good, own_database, reset, ts, tz

from nps.quality import rowcounts
from nps.quality.gate import validate_loads, validate_raw
from nps.quality.result import QualityGateError
from nps.quality.settings import quality_settings

TIMINGS: list[tuple[str, float]] = []


@pytest.fixture(scope="module")
def qurl(server_url, tmp_path_factory):
    gx_dir = tmp_path_factory.mktemp("gx")
    seed = gx_dir / "region_aliases.csv"
    from _quality_data import REGION_SEED

    seed.write_text(REGION_SEED, encoding="utf-8")
    saved = {k: os.environ.get(k) for k in ("NPS_GX_DIR", "NPS_REGION_SEED", "NPS_ALERT_EMAILS")}
    os.environ.update({"NPS_GX_DIR": str(gx_dir), "NPS_REGION_SEED": str(seed)})
    os.environ.pop("NPS_ALERT_EMAILS", None)
    with own_database(server_url) as url:
        yield url
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if TIMINGS:
        print("\nGX timings: " + ", ".join(f"{name} {sec:.2f}s" for name, sec in TIMINGS))


@pytest.fixture
def conn(qurl):
    with psycopg.connect(qurl, autocommit=True) as c:
        load_good(c)
        yield c


def run(qurl, name, suite=None, **kwargs):
    """One gate run; breakage tests run only the suite concerned (the good-data test runs them all)."""
    started = time.monotonic()
    result = validate_raw(qurl, f"test_{name}", DAY, build_docs=kwargs.pop("build_docs", False), only=suite)
    TIMINGS.append((name, time.monotonic() - started))
    return result


def failures(result) -> set[tuple[str, str, str | None, str]]:
    return {(r["asset"], r["expectation"], r["column"], r["severity"]) for r in result.rows if not r["success"]}


def test_good_data_passes_and_writes_one_row_per_expectation(qurl, conn):
    result = run(qurl, "good", build_docs=True)
    assert failures(result) == set(), result.summary()
    assert result.success and not result.warnings
    result.raise_if_critical()
    stored = conn.execute("select count(*), count(distinct (suite, asset, expectation, \"column\")) "
                          "from quality.expectation_results where run_id = 'test_good'").fetchone()
    assert stored == (len(result.rows), len(result.rows))
    suites = {r[0] for r in conn.execute("select distinct suite from quality.expectation_results "
                                         "where run_id = 'test_good'")}
    assert suites == {"raw_purchases", "raw_customers", "raw_survey_answers", "raw_events", "raw_row_counts"}
    # a retried task writes its rows once
    run(qurl, "good")
    assert conn.execute("select count(*) from quality.expectation_results where run_id = 'test_good'"
                        ).fetchone()[0] == len(result.rows)
    assert result.data_docs and os.path.exists(result.data_docs)
    assert os.path.isdir(os.path.join(os.path.dirname(result.data_docs), "validations"))
    assert "raw_purchases.onec_sales" in open(result.data_docs, encoding="utf-8").read()


def test_duplicate_key(qurl, conn):
    conn.execute("alter table raw.onec_sale_lines drop constraint onec_sale_lines_pkey")
    try:
        conn.execute("insert into raw.onec_sale_lines (sale_ref, line_number, product_ref, quantity, price, amount) "
                     "values ('s1', 2, 'p2', 1, 1, 1)")
        result = run(qurl, "duplicate_key", "raw_purchases")
    finally:
        reset(conn)
        conn.execute("alter table raw.onec_sale_lines add primary key (sale_ref, line_number)")
    assert failures(result) == {("raw.onec_sale_lines", "expect_compound_columns_to_be_unique",
                                 "sale_ref,line_number", "critical")}
    (row,) = result.critical_failures
    assert row["unexpected_count"] == 2
    assert {"sale_ref": "s1", "line_number": 2} in row["sample_keys"]
    with pytest.raises(QualityGateError, match="onec_sale_lines"):
        result.raise_if_critical()


def test_future_date(qurl, conn):
    conn.execute("update raw.onec_sales set sale_date = %s where ref_key = 's2'", (ts(-10),))
    result = run(qurl, "future_date", "raw_purchases")
    assert failures(result) == {("raw.onec_sales", "expect_column_values_to_be_between", "sale_date", "critical")}
    assert result.critical_failures[0]["sample_keys"] == [{"ref_key": "s2"}]


def test_insane_date_from_1c_empty_date(qurl, conn):
    conn.execute("update raw.onec_deliveries set delivered_at = '0001-01-01' where order_ref = 'o1'")
    result = run(qurl, "insane_date", "raw_purchases")
    assert failures(result) == {("raw.onec_deliveries", "expect_column_values_to_be_between", "delivered_at",
                                 "critical")}


def test_negative_quantity(qurl, conn):
    conn.execute("update raw.onec_order_lines set quantity = -2 where order_ref = 'o2'")
    result = run(qurl, "negative_quantity", "raw_purchases")
    assert failures(result) == {("raw.onec_order_lines", "expect_column_values_to_be_between", "quantity",
                                 "critical")}
    assert result.critical_failures[0]["sample_keys"] == [{"order_ref": "o2", "line_number": 1}]


def test_negative_amount(qurl, conn):
    conn.execute("update raw.onec_sales set amount = -1 where ref_key = 's3'")
    result = run(qurl, "negative_amount", "raw_purchases")
    assert failures(result) == {("raw.onec_sales", "expect_column_values_to_be_between", "amount", "critical")}


def test_unknown_currency(qurl, conn, monkeypatch):
    # 1C's currency ref of the demo data, listed as known: a GUID passes only when configured
    monkeypatch.setenv("NPS_KNOWN_CURRENCIES", "UAH,EUR,5a6b8c1e-0c9d-11e4-80c6-00155d010b01")
    conn.execute("update raw.onec_sales set currency = '5a6b8c1e-0c9d-11e4-80c6-00155d010b01' where ref_key = 's2'")
    conn.execute("update raw.onec_sales set currency = 'XYZ' where ref_key = 's1'")
    result = run(qurl, "unknown_currency", "raw_purchases")
    assert failures(result) == {("raw.onec_sales", "expect_column_values_to_be_in_set", "currency", "warning")}
    (row,) = result.warnings
    assert row["sample_keys"] == [{"ref_key": "s1"}]
    assert row["observed_value"] == {"unexpected_values": ["XYZ"]}


def test_bad_email_is_a_warning_without_the_address_in_results(qurl, conn):
    conn.execute("update raw.onec_customers set email = 'buyer(at)romashka.ua' where ref_key = 'c1'")
    result = run(qurl, "bad_email", "raw_customers")
    assert failures(result) == {("raw.onec_customers", "expect_column_values_to_be_in_set", "email_format_ok",
                                 "warning")}
    assert result.success            # a warning lets the run through ...
    (row,) = result.warnings
    assert row["sample_keys"] == [{"ref_key": "c1"}]
    assert "romashka" not in str(row["observed_value"])          # ... and keeps PII out of the results
    alert = conn.execute("select kind, message from quality.alerts").fetchall()   # ... and alerts
    assert alert and alert[0][0] == "quality_warning"


def test_unresolvable_region(qurl, conn):
    conn.execute("update raw.onec_customers set region_raw = 'Атлантида' where ref_key = 'c2'")
    result = run(qurl, "unresolvable_region", "raw_customers")
    assert failures(result) == {("raw.onec_customers", "expect_column_values_to_be_in_set", "region_norm",
                                 "warning")}
    assert result.warnings[0]["sample_keys"] == [{"ref_key": "c2"}]


def test_score_11(qurl, conn):
    # the landing's check constraint is the first line; the suite must hold even where it is missing
    conn.execute("alter table raw.survey_responses drop constraint survey_responses_score_check")
    try:
        conn.execute("update raw.survey_responses set score = 11 where survey_id = 'sv1'")
        result = run(qurl, "score_11", "raw_survey_answers")
    finally:
        reset(conn)
        conn.execute("alter table raw.survey_responses add constraint survey_responses_score_check "
                     "check (score between 0 and 10)")
    assert failures(result) == {("raw.survey_responses", "expect_column_values_to_be_in_set", "score", "critical")}
    assert result.critical_failures[0]["sample_keys"] == [{"survey_id": "sv1"}]


def test_answered_before_sent(qurl, conn):
    conn.execute("update raw.survey_responses set responded_at = %s where survey_id = 'sv2'", (tz(5),))
    result = run(qurl, "answered_before_sent", "raw_survey_answers")
    assert failures(result) == {("raw.survey_responses+survey_sends", "expect_column_pair_values_a_to_be_greater_than_b",
                                 "responded_at,first_sent_at", "critical")}
    assert result.critical_failures[0]["sample_keys"] == [{"survey_id": "sv2"}]


def test_unknown_survey_id(qurl, conn):
    conn.execute("insert into raw.survey_responses (survey_id, score, responded_at) values ('forged', 10, %s)",
                 (tz(1),))
    result = run(qurl, "unknown_survey", "raw_survey_answers")
    assert failures(result) == {("raw.survey_responses+survey_sends", "expect_column_values_to_not_be_null",
                                 "known_survey_id", "critical")}
    assert result.critical_failures[0]["sample_keys"] == [{"survey_id": "forged"}]


def test_an_answer_through_the_invoice_qr_code_has_no_send_and_is_known(qurl, conn):
    """The survey of 1C sale s3, never e-mailed, answered through the QR code on its invoice: the gate passes it."""
    from nps.tokens import sale_survey_id

    conn.execute("insert into raw.survey_responses (survey_id, score, channel, responded_at) values (%s, 8, 'qr', %s)",
                 (sale_survey_id("s3"), tz(1)))
    assert failures(run(qurl, "qr_answer", "raw_survey_answers")) == set()


def test_an_anonymous_kiosk_or_widget_answer_is_known_without_a_send_or_a_sale(qurl, conn):
    """A shop kiosk's answer and the widget's without an order: ids the collector made, no purchase behind them."""
    conn.execute("insert into raw.survey_responses (survey_id, score, channel, location_id, responded_at) values "
                 "(%s, 9, 'kiosk', 'kyiv-1', %s), (%s, 4, 'web', null, %s)",
                 ("kq" + "a" * 32, tz(1), "wq" + "b" * 32, tz(1)))
    assert failures(run(qurl, "anonymous_answer", "raw_survey_answers")) == set()


def test_unknown_event_type(qurl, conn):
    conn.execute("update raw.sendgrid_events set event = 'teleported' where sg_event_id = 'e3'")
    result = run(qurl, "unknown_event", "raw_events")
    assert failures(result) == {("raw.sendgrid_events", "expect_column_values_to_be_in_set", "event", "warning")}
    assert result.warnings[0]["observed_value"] == {"unexpected_values": ["teleported"]}


SALES = ("raw.onec_sales",)
SUNDAY = 5                       # DAY is a Tuesday: day i of the tests is a Sunday when i % 7 == SUNDAY


def _load_sales(conn, day_index: int, count: int) -> None:
    loaded = LOADED_AT + timedelta(days=day_index)
    conn.cursor().executemany(
        "insert into raw.onec_sales (ref_key, sale_date, amount, currency, payload, _loaded_at) "
        "values (%s, %s, 1, 'UAH', '{}', %s)",
        [(f"d{day_index}_{i}", loaded.replace(tzinfo=None), loaded) for i in range(count)])


def _check_days(conn, counts: dict[int, int]) -> dict[int, list[dict]]:
    """Load `counts[i]` sales on day i and check raw.onec_sales that day, in order; the failed rows by day."""
    failed = {}
    for i, count in sorted(counts.items()):
        _load_sales(conn, i, count)
        rows = rowcounts.check_row_counts(conn, SALES, f"d{i}", DAY + timedelta(days=i), LOADED_AT)
        assert {r["severity"] for r in rows} == {"warning"}
        failed[i] = [r for r in rows if not r["success"]]
    return failed


def _names(failed: dict[int, list[dict]]) -> dict[int, list[str]]:
    return {i: [r["expectation"] for r in rows] for i, rows in failed.items() if rows}


def test_empty_load_without_history_warns(qurl, conn):
    assert all(r["success"] for r in rowcounts.check_row_counts(conn, SALES, "d1", DAY, LOADED_AT))
    # next day: nothing new arrived, and there is no history to call that normal
    rows = rowcounts.check_row_counts(conn, SALES, "d2", DAY + timedelta(days=1), LOADED_AT)
    failed = [r for r in rows if not r["success"]]
    assert [(r["asset"], r["expectation"], r["severity"]) for r in failed] == [
        ("raw.onec_sales", "expect_load_to_have_rows", "warning")]
    assert failed[0]["observed_value"]["loaded_rows"] == 0
    assert failed[0]["observed_value"]["same_weekday_checks"] == 0


def test_an_empty_day_is_judged_by_the_same_weekdays_history(qurl, conn):
    reset(conn)
    # three weeks of daily checks: about 40 sales a day, none on Sundays
    failed = _check_days(conn, {i: 0 if i % 7 == SUNDAY else 40 + i % 3 for i in range(21)})
    # an empty Sunday warns until two earlier Sundays show it is always empty (day 19 does not)
    assert _names(failed) == {5: ["expect_load_to_have_rows"], 12: ["expect_load_to_have_rows"]}
    # the fourth week: an empty Tuesday warns (earlier Tuesdays were busy), its Sunday is still quiet
    failed = _check_days(conn, {21: 0, 22: 41, 23: 42, 24: 40, 25: 41, 26: 0})
    assert _names(failed) == {21: ["expect_load_to_have_rows"]}
    observed = failed[21][0]["observed_value"]
    assert (observed["weekday"], observed["same_weekday_checks"], observed["baseline_per_day"]) == ("Tuesday", 2, 41.5)


def test_a_jump_or_drop_against_the_same_weekday_warns(qurl, conn):
    reset(conn)
    # weekly checks (the demo's cadence) are compared per day: a backfill, then weeks of about 10 sales a day
    assert not _names(_check_days(conn, {0: 100, 7: 70, 14: 77, 21: 63}))
    jump = _check_days(conn, {28: 7 * 60})[28]          # median of 10, 11, 9 a day: 60 is 6x
    assert [(r["expectation"], r["severity"]) for r in jump] == [("expect_load_within_jump_of_baseline", "warning")]
    assert jump[0]["observed_value"]["ratio"] == pytest.approx(6.0)
    drop = _check_days(conn, {35: 7})[35]               # median of 60, 9, 11, 10 = 10.5 a day: 1 is a tenth
    assert [r["expectation"] for r in drop] == ["expect_load_within_jump_of_baseline"]
    assert drop[0]["observed_value"]["ratio"] == pytest.approx(1 / 10.5, abs=0.01)
    assert not _names(_check_days(conn, {42: 7 * 12}))  # 12 a day is usual
    # re-running a day replaces its row and compares with the days before it
    rows = rowcounts.check_row_counts(conn, SALES, "d42", DAY + timedelta(days=42), LOADED_AT)
    assert all(r["success"] for r in rows)
    assert conn.execute("select count(*), sum(loaded_rows) filter (where logical_date = %s) "
                        "from quality.row_counts", (DAY + timedelta(days=42),)).fetchone() == (7, 84)


def test_a_week_without_sales_warns_and_lets_the_answers_through(qurl, conn, caplog):
    tables = set(rowcounts_tables())
    validate_raw(qurl, "rc_week1", DAY, build_docs=False)
    with caplog.at_level(logging.WARNING, logger="nps.quality"):
        result = validate_raw(qurl, "rc_week2", DAY + timedelta(days=7), build_docs=False)
    assert failures(result) == {(t, "expect_load_to_have_rows", None, "warning") for t in tables}
    assert result.success
    result.raise_if_critical()
    # visible: in the log, in the run's recorded results and as an alert
    assert all(f"QUALITY WARNING [warning] raw_row_counts: {t}: the load" in caplog.text for t in tables)
    assert conn.execute("select count(*) from quality.expectation_results where run_id = 'rc_week2' "
                        "and not success and severity = 'warning'").fetchone()[0] == len(tables)
    kind, details = conn.execute("select kind, details from quality.alerts where run_id = 'rc_week2'").fetchone()
    assert kind == "quality_warning" and "raw.onec_sales" in " ".join(details["warnings"])
    # a transform that no extraction preceded skips them; the extract DAG can run them alone, without GX
    hourly = validate_raw(qurl, "rc_week2_hourly", DAY + timedelta(days=7), build_docs=False, row_counts=False)
    assert hourly.success and not [r for r in hourly.rows if r["suite"] == "raw_row_counts"]
    loads = validate_loads(qurl, "rc_loads", DAY + timedelta(days=7))
    assert loads.success and {r["asset"] for r in loads.warnings} == tables


def test_a_raw_table_that_cannot_be_read_is_critical(qurl, conn, monkeypatch):
    monkeypatch.setenv("NPS_QUALITY_ROWCOUNT_TABLES", "raw.onec_sales,raw.onec_gone")
    result = validate_loads(qurl, "rc_missing", DAY)
    assert [(r["asset"], r["severity"]) for r in result.critical_failures] == [("raw.onec_gone", "critical")]
    assert result.critical_failures[0]["observed_value"] == {"error": "table raw.onec_gone does not exist"}
    with pytest.raises(QualityGateError, match="raw.onec_gone"):
        result.raise_if_critical()


def test_data_docs_are_served_by_the_airflow_plugin(qurl, conn):
    from fastapi.testclient import TestClient

    from nps.quality.docs_app import URL_PREFIX, docs_app

    result = validate_raw(qurl, "docs", DAY)
    client = TestClient(docs_app())
    page = client.get("/")
    assert page.status_code == 200 and "raw_purchases.onec_sales" in page.text
    assert client.get("/index.html").status_code == 200
    assert result.data_docs.endswith("data_docs/index.html")
    assert URL_PREFIX == "/nps-data-docs"


def test_airflow_loads_the_data_docs_plugin():
    from airflow import plugins_manager

    plugins, errors = plugins_manager._get_plugins()
    assert not {path: e for path, e in errors.items() if "quality" in path}
    (plugin,) = [p for p in plugins if p.name == "nps_data_docs"]
    assert plugin.fastapi_apps[0]["url_prefix"] == "/nps-data-docs"
    assert plugin.external_views[0]["href"] == "/nps-data-docs/"


def rowcounts_tables():
    return quality_settings().rowcount_tables


def test_unknown_suite_name_is_refused(qurl):
    with pytest.raises(ValueError, match="unknown suite"):
        validate_raw(qurl, "x", DAY, only="raw_nope")
