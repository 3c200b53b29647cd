"""Raw-landing suites: pass on good data, fail on data broken on purpose (one test per kind of breakage)."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import psycopg
import pytest
from _quality_data import DAY, LOADED_AT, load_good, own_database, reset, ts, tz

from nps.quality import rowcounts
from nps.quality.gate import validate_raw
from nps.quality.result import QualityGateError

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


def run(qurl, name, **kwargs):
    started = time.monotonic()
    result = validate_raw(qurl, f"test_{name}", DAY, build_docs=kwargs.pop("build_docs", False))
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
        result = run(qurl, "duplicate_key")
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
    result = run(qurl, "future_date")
    assert failures(result) == {("raw.onec_sales", "expect_column_values_to_be_between", "sale_date", "critical")}
    assert result.critical_failures[0]["sample_keys"] == [{"ref_key": "s2"}]


def test_insane_date_from_1c_empty_date(qurl, conn):
    conn.execute("update raw.onec_deliveries set delivered_at = '0001-01-01' where order_ref = 'o1'")
    result = run(qurl, "insane_date")
    assert failures(result) == {("raw.onec_deliveries", "expect_column_values_to_be_between", "delivered_at",
                                 "critical")}


def test_negative_quantity(qurl, conn):
    conn.execute("update raw.onec_order_lines set quantity = -2 where order_ref = 'o2'")
    result = run(qurl, "negative_quantity")
    assert failures(result) == {("raw.onec_order_lines", "expect_column_values_to_be_between", "quantity",
                                 "critical")}
    assert result.critical_failures[0]["sample_keys"] == [{"order_ref": "o2", "line_number": 1}]


def test_negative_amount(qurl, conn):
    conn.execute("update raw.onec_sales set amount = -1 where ref_key = 's3'")
    result = run(qurl, "negative_amount")
    assert failures(result) == {("raw.onec_sales", "expect_column_values_to_be_between", "amount", "critical")}


def test_unknown_currency(qurl, conn):
    conn.execute("update raw.onec_sales set currency = 'XYZ' where ref_key = 's1'")
    result = run(qurl, "unknown_currency")
    assert failures(result) == {("raw.onec_sales", "expect_column_values_to_be_in_set", "currency", "critical")}
    (row,) = result.critical_failures
    assert row["sample_keys"] == [{"ref_key": "s1"}]
    assert row["observed_value"] == {"unexpected_values": ["XYZ"]}


def test_bad_email_is_a_warning_without_the_address_in_results(qurl, conn):
    conn.execute("update raw.onec_customers set email = 'buyer(at)romashka.ua' where ref_key = 'c1'")
    result = run(qurl, "bad_email")
    assert failures(result) == {("raw.onec_customers", "expect_column_values_to_match_regex", "email", "warning")}
    assert result.success            # a warning lets the run through ...
    (row,) = result.warnings
    assert row["sample_keys"] == [{"ref_key": "c1"}]
    assert "romashka" not in str(row["observed_value"])          # ... and keeps PII out of the results
    alert = conn.execute("select kind, message from quality.alerts").fetchall()   # ... and alerts
    assert alert and alert[0][0] == "quality_warning"


def test_unresolvable_region(qurl, conn):
    conn.execute("update raw.onec_customers set region_raw = 'Атлантида' where ref_key = 'c2'")
    result = run(qurl, "unresolvable_region")
    assert failures(result) == {("raw.onec_customers", "expect_column_values_to_be_in_set", "region_norm",
                                 "warning")}
    assert result.warnings[0]["sample_keys"] == [{"ref_key": "c2"}]


def test_score_11(qurl, conn):
    # the landing's check constraint is the first line; the suite must hold even where it is missing
    conn.execute("alter table raw.survey_responses drop constraint survey_responses_score_check")
    try:
        conn.execute("update raw.survey_responses set score = 11 where survey_id = 'sv1'")
        result = run(qurl, "score_11")
    finally:
        reset(conn)
        conn.execute("alter table raw.survey_responses add constraint survey_responses_score_check "
                     "check (score between 0 and 10)")
    assert failures(result) == {("raw.survey_responses", "expect_column_values_to_be_in_set", "score", "critical")}
    assert result.critical_failures[0]["sample_keys"] == [{"survey_id": "sv1"}]


def test_answered_before_sent(qurl, conn):
    conn.execute("update raw.survey_responses set responded_at = %s where survey_id = 'sv2'", (tz(5),))
    result = run(qurl, "answered_before_sent")
    assert failures(result) == {("raw.survey_responses+survey_sends", "expect_column_pair_values_a_to_be_greater_than_b",
                                 "responded_at,first_sent_at", "critical")}
    assert result.critical_failures[0]["sample_keys"] == [{"survey_id": "sv2"}]


def test_unknown_survey_id(qurl, conn):
    conn.execute("insert into raw.survey_responses (survey_id, score, responded_at) values ('forged', 10, %s)",
                 (tz(1),))
    result = run(qurl, "unknown_survey")
    assert failures(result) == {("raw.survey_responses+survey_sends", "expect_column_values_to_not_be_null",
                                 "first_sent_at", "critical")}
    assert result.critical_failures[0]["sample_keys"] == [{"survey_id": "forged"}]


def test_unknown_event_type(qurl, conn):
    conn.execute("update raw.sendgrid_events set event = 'teleported' where sg_event_id = 'e3'")
    result = run(qurl, "unknown_event")
    assert failures(result) == {("raw.sendgrid_events", "expect_column_values_to_be_in_set", "event", "warning")}
    assert result.warnings[0]["observed_value"] == {"unexpected_values": ["teleported"]}


def test_zero_row_load(qurl, conn):
    tables = ("raw.onec_sales",)
    first = rowcounts.check_row_counts(conn, tables, "d1", DAY, LOADED_AT)
    assert all(r["success"] for r in first)
    # next day: nothing new arrived
    rows = rowcounts.check_row_counts(conn, tables, "d2", DAY + timedelta(days=1), LOADED_AT)
    failed = [r for r in rows if not r["success"]]
    assert [(r["asset"], r["expectation"], r["severity"]) for r in failed] == [
        ("raw.onec_sales", "expect_load_to_have_rows", "critical")]
    assert failed[0]["observed_value"]["loaded_rows"] == 0


def _load_sales(conn, day_index: int, count: int) -> None:
    loaded = LOADED_AT + timedelta(days=day_index)
    conn.cursor().executemany(
        "insert into raw.onec_sales (ref_key, sale_date, amount, currency, payload, _loaded_at) "
        "values (%s, %s, 1, 'UAH', '{}', %s)",
        [(f"d{day_index}_{i}", loaded.replace(tzinfo=None), loaded) for i in range(count)])


def test_five_fold_jump(qurl, conn):
    tables = ("raw.onec_sales",)
    reset(conn)
    for i in range(5):           # backfill, then four normal days of ~10 sales
        _load_sales(conn, i, 100 if i == 0 else 10 + i)
        assert all(r["success"] for r in rowcounts.check_row_counts(conn, tables, f"d{i}", DAY + timedelta(days=i),
                                                                    LOADED_AT))
    _load_sales(conn, 5, 70)     # median of previous days 12.5 per day: 70 is 5.6x
    rows = rowcounts.check_row_counts(conn, tables, "d5", DAY + timedelta(days=5), LOADED_AT)
    failed = [r for r in rows if not r["success"]]
    assert [r["expectation"] for r in failed] == ["expect_load_within_jump_of_baseline"]
    assert failed[0]["observed_value"]["ratio"] == pytest.approx(5.6)
    # a weekly check of a normal week is compared per day: 7 x 13 rows is no jump
    _load_sales(conn, 12, 91)
    rows = rowcounts.check_row_counts(conn, tables, "d12", DAY + timedelta(days=12), LOADED_AT)
    assert all(r["success"] for r in rows)
    # re-running a day replaces its row
    rowcounts.check_row_counts(conn, tables, "d12", DAY + timedelta(days=12), LOADED_AT)
    assert conn.execute("select count(*), sum(loaded_rows) filter (where logical_date = %s) "
                        "from quality.row_counts", (DAY + timedelta(days=12),)).fetchone() == (7, 91)


def test_row_count_failure_goes_through_the_gate(qurl, conn):
    validate_raw(qurl, "rc_day1", DAY, build_docs=False)
    result = validate_raw(qurl, "rc_day2", DAY + timedelta(days=1), build_docs=False)
    assert ("raw.onec_sales", "expect_load_to_have_rows", None, "critical") in failures(result)
    assert not result.success
