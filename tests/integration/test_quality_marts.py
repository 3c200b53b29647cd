"""The build-and-swap that keeps yesterday's marts when a build would lose one, and NPS drift.

Every rule about the marts' rows is dbt's (contract constraints, tests): tests/integration/test_dbt_marts_unchanged.py.
"""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from _quality_data import create_marts, own_database

from nps.quality import drift, swap


@pytest.fixture(scope="module")
def qurl(server_url):
    with own_database(server_url) as url:
        yield url


@pytest.fixture
def conn(qurl):
    with psycopg.connect(qurl, autocommit=True) as c:
        c.execute("set client_min_messages = warning")
        c.execute("truncate quality.alerts")
        yield c


def _regions(conn, schema="marts"):
    return [r[0] for r in conn.execute(f"select region from {schema}.nps_by_region order by month desc")]


def test_a_build_missing_a_mart_leaves_yesterdays_marts_untouched(qurl, conn):
    create_marts(conn, "marts", label="yesterday")
    swap.grant_bi(conn, "marts")
    swap.prepare_build(qurl)
    create_marts(conn, "marts_build", label="today")
    conn.execute("drop table marts_build.nps_by_delivery")
    with pytest.raises(RuntimeError, match="marts_build lacks nps_by_delivery that marts has"):
        swap.swap_in(qurl)
    assert _regions(conn)[0] == "Київська область yesterday"
    assert conn.execute("select to_regclass('marts.nps_by_delivery')").fetchone()[0] is not None
    assert conn.execute("select has_table_privilege('nps_bi', 'marts.nps_by_region', 'select')").fetchone()[0]

    # the next build is good: it goes live, yesterday's stays one generation back, BI keeps its grant
    swap.prepare_build(qurl)
    assert conn.execute("select count(*) from pg_tables where schemaname = 'marts_build'").fetchone()[0] == 0
    create_marts(conn, "marts_build", label="today")
    assert swap.swap_in(qurl) == "marts_previous"
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

