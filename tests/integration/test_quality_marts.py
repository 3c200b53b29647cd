"""Marts' invariants, the build-and-swap that keeps yesterday's marts on a critical failure, and NPS drift."""

from __future__ import annotations

import json
import os
from datetime import date

import psycopg
import pytest
from _quality_data import DAY, create_marts, own_database

from nps.quality import drift, swap
from nps.quality.gate import validate_marts
from nps.quality.result import QualityGateError


@pytest.fixture(scope="module")
def qurl(server_url, tmp_path_factory):
    saved = os.environ.get("NPS_GX_DIR")
    os.environ["NPS_GX_DIR"] = str(tmp_path_factory.mktemp("gx_marts"))
    with own_database(server_url) as url:
        yield url
    if saved is None:
        os.environ.pop("NPS_GX_DIR", None)
    else:
        os.environ["NPS_GX_DIR"] = saved


@pytest.fixture
def conn(qurl):
    with psycopg.connect(qurl, autocommit=True) as c:
        c.execute("set client_min_messages = warning")
        c.execute("truncate quality.expectation_results, quality.alerts")
        yield c


def failures(result):
    return {(r["asset"], r["expectation"], r["column"]) for r in result.rows if not r["success"]}


def test_good_marts_pass(qurl, conn):
    create_marts(conn, "marts_build")
    result = validate_marts(qurl, "m_good", DAY, schema="marts_build", build_docs=False)
    assert failures(result) == set(), result.summary()
    assert len(result.rows) == 4 * 3
    assert {r["suite"] for r in result.rows} == {"marts_invariants"}
    assert conn.execute("select count(*) from quality.expectation_results where run_id = 'm_good'"
                        ).fetchone()[0] == 12


def test_nps_out_of_range(qurl, conn):
    create_marts(conn, "marts_build")
    conn.execute("update marts_build.nps_by_segment set nps = 120")
    result = validate_marts(qurl, "m_nps", DAY, schema="marts_build", build_docs=False)
    assert failures(result) == {("marts_build.nps_by_segment", "expect_column_values_to_be_between", "nps")}
    assert result.critical_failures[0]["sample_keys"] == [{"month": "2026-03-01", "segment": "wholesale"}]
    summary = result.as_dict()
    assert summary["checks"] == 12 and summary["warnings"] == []
    assert summary["critical"] == ["[critical] marts_invariants: marts_build.nps_by_segment.nps: nps within -100..100 "
                                   '(1 unexpected); e.g. [{"month": "2026-03-01", "segment": "wholesale"}]']
    json.dumps(summary)      # fits an XCom


def test_categories_do_not_add_up_to_responses(qurl, conn):
    create_marts(conn, "marts_build")
    conn.execute("update marts_build.nps_by_region set promoters = promoters + 1 where month = '2026-03-01'")
    result = validate_marts(qurl, "m_sum", DAY, schema="marts_build", build_docs=False)
    assert failures(result) == {("marts_build.nps_by_region", "unexpected_rows_expectation", None)}
    (row,) = result.critical_failures
    assert row["unexpected_count"] == 1
    assert row["sample_keys"] == [{"month": "2026-03-01", "region": "Київська область good"}]


def test_response_rate_above_one(qurl, conn):
    create_marts(conn, "marts_build")
    conn.execute("update marts_build.nps_daily set response_rate = 1.2")
    result = validate_marts(qurl, "m_rate", DAY, schema="marts_build", build_docs=False)
    assert failures(result) == {("marts_build.nps_daily", "expect_column_values_to_be_between", "response_rate")}


def test_missing_mart_is_critical(qurl, conn):
    create_marts(conn, "marts_build")
    conn.execute("drop table marts_build.nps_by_delivery")
    result = validate_marts(qurl, "m_missing", DAY, schema="marts_build", build_docs=False)
    assert {r["asset"] for r in result.critical_failures} == {"marts_build.nps_by_delivery"}
    assert "does not exist" in result.critical_failures[0]["observed_value"]["error"]


def _regions(conn, schema="marts"):
    return [r[0] for r in conn.execute(f"select region from {schema}.nps_by_region order by month desc")]


def _publish(qurl, run_id):
    """What nps_transform does after dbt built into marts_build: validate the build, then swap it in."""
    result = validate_marts(qurl, run_id, DAY, schema="marts_build", build_docs=False)
    result.raise_if_critical()
    return swap.swap_in(qurl)


def test_critical_failure_leaves_yesterdays_marts_untouched(qurl, conn):
    create_marts(conn, "marts", label="yesterday")
    swap.grant_bi(conn, "marts")
    swap.prepare_build(qurl)
    create_marts(conn, "marts_build", label="today")
    conn.execute("update marts_build.nps_by_region set response_rate = 3")
    with pytest.raises(QualityGateError, match="response_rate"):
        _publish(qurl, "swap_bad")
    assert _regions(conn)[0] == "Київська область yesterday"
    assert conn.execute("select has_table_privilege('nps_bi', 'marts.nps_by_region', 'select')").fetchone()[0]

    # the next build is good: it goes live, yesterday's stays one generation back, BI keeps its grant
    swap.prepare_build(qurl)
    assert conn.execute("select count(*) from pg_tables where schemaname = 'marts_build'").fetchone()[0] == 0
    create_marts(conn, "marts_build", label="today")
    assert _publish(qurl, "swap_good") == "marts_previous"
    assert _regions(conn)[0] == "Київська область today"
    assert _regions(conn, "marts_previous")[0] == "Київська область yesterday"
    assert conn.execute("select to_regnamespace('marts_build')").fetchone()[0] is None
    privileges = conn.execute("""
        select has_schema_privilege('nps_bi', 'marts', 'usage'),
               has_table_privilege('nps_bi', 'marts.nps_by_region', 'select'),
               has_table_privilege('nps_bi', 'marts.nps_daily', 'select'),
               has_schema_privilege('nps_bi', 'marts_previous', 'usage')""").fetchone()
    assert privileges == (True, True, True, False)
    # tables dbt creates later in the live schema are readable too (default privileges moved with the grant)
    conn.execute("create table marts.later (x int)")
    assert conn.execute("select has_table_privilege('nps_bi', 'marts.later', 'select')").fetchone()[0]

    swap.rollback(qurl)
    assert _regions(conn)[0] == "Київська область yesterday"
    assert conn.execute("select has_table_privilege('nps_bi', 'marts.nps_by_region', 'select')").fetchone()[0]


def test_swap_without_a_build_is_refused(qurl, conn):
    conn.execute("drop schema if exists marts_build cascade")
    with pytest.raises(RuntimeError, match="nothing to swap in"):
        swap.swap_in(qurl)


def _nps_rows(conn, schema, table, dim, rows):
    conn.execute(f"create table {schema}.{table} (month date, {dim} text, responses int, nps numeric, "
                 f"nps_moe_95 numeric)")
    conn.cursor().executemany(f"insert into {schema}.{table} values (%s, %s, %s, %s, %s)", rows)


def test_drift_reports_a_fall_beyond_the_combined_margin(qurl, conn):
    conn.execute("drop schema if exists drift_marts cascade; create schema drift_marts")
    feb, mar = date(2026, 2, 1), date(2026, 3, 1)
    _nps_rows(conn, "drift_marts", "nps_by_region", "region", [
        (feb, "Київська область", 120, 40, 10), (mar, "Київська область", 110, 10, 10),   # -30 > 14.1
        (feb, "Львівська область", 30, 40, 20), (mar, "Львівська область", 35, 20, 20),   # -20 < 28.3
        (feb, "Одеська область", 50, 10, 12), (mar, "Одеська область", 60, 30, 11),       # rose
        (mar, "Харківська область", 40, -50, 15)])                                         # no previous month
    _nps_rows(conn, "drift_marts", "nps_by_segment", "segment", [
        (feb, "wholesale", 200, 35, 6), (mar, "wholesale", 210, 25, 6),                    # -10 > 8.5
        (feb, "retail", 20, 50, 25), (mar, "retail", 0, None, None)])                      # no answers
    found = drift.nps_drift(qurl, date(2026, 3, 17), schema="drift_marts")
    assert [(d.dimension, d.value) for d in found] == [("region", "Київська область"), ("segment", "wholesale")]
    kyiv = found[0]
    assert (kyiv.previous_nps, kyiv.nps, kyiv.drop, kyiv.margin) == (40, 10, 30, 14.14)
    assert "drop 30.0 > margin 14.1" in kyiv.describe()
    # reported, not a failure: one alert, nothing raised
    drift.report_drift(qurl, mar, schema="drift_marts")
    (kind, details), = conn.execute("select kind, details from quality.alerts").fetchall()
    assert kind == "drift" and len(details["drifts"]) == 2

