"""The demo's summary lines read from the marts (a throwaway transaction on the session's warehouse, rolled back):
NPS and the funnel by channel, and the repurchase findings' "group A vs group B" lines."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from nps_dev import demo


@pytest.fixture
def conn(warehouse_url):
    with psycopg.connect(warehouse_url) as conn:  # one transaction, rolled back: the session's marts stay as they were
        conn.execute("create schema if not exists marts")
        yield conn
        conn.rollback()


def test_channels_print_nps_and_the_funnel_per_month_from_the_marts(conn, capsys):
    conn.execute("drop table if exists marts.nps_by_channel; create table marts.nps_by_channel (month date, "
                 "channel text, responses integer, promoters integer, passives integer, detractors integer, "
                 "nps numeric, nps_moe_95 numeric, is_low_n boolean)")
    conn.execute("drop table if exists marts.survey_funnel_by_channel; create table marts.survey_funnel_by_channel "
                 "(month date, channel text, opened integer, answered integer, response_rate numeric)")
    conn.execute("""insert into marts.nps_by_channel values
        ('2026-04-01', 'kiosk', 160, 90, 40, 30, 37.5, 12.04, false),
        ('2026-04-01', 'email', 250, 100, 80, 70, 12.0, 10.3, false),
        ('2026-04-01', 'qr', 20, 8, 6, 6, 10.0, 35.2, true),
        ('2026-03-01', 'email', 300, 120, 90, 90, 10.0, 9.1, false)""")
    conn.execute("""insert into marts.survey_funnel_by_channel values
        ('2026-04-01', 'email', 900, 250, 0.2778), ('2026-04-01', 'kiosk', 190, 160, 0.8421),
        ('2026-04-01', 'qr', 30, 20, 0.6667)""")
    demo.print_channels(conn)
    out = capsys.readouterr().out.splitlines()
    nps = out[out.index("NPS by channel, per month") + 1:][:5]
    assert [line.split() for line in nps] == [
        ["month", "channel", "responses", "nps", "moe_95", "is_low_n"],
        ["2026-03-01", "email", "300", "10.0", "9.1", "False"],
        ["2026-04-01", "email", "250", "12.0", "10.3", "False"],
        ["2026-04-01", "kiosk", "160", "37.5", "12.0", "False"],
        ["2026-04-01", "qr", "20", "10.0", "35.2", "True"],
    ]
    funnel = next(i for i, line in enumerate(out) if line.startswith("Survey funnel by channel"))
    assert [line.split() for line in out[funnel + 2:funnel + 5]] == [
        ["2026-04-01", "email", "900", "250", "0.278"], ["2026-04-01", "kiosk", "190", "160", "0.842"],
        ["2026-04-01", "qr", "30", "20", "0.667"]]


def test_channels_say_when_a_mart_is_missing(conn, capsys):
    conn.execute("drop table if exists marts.nps_by_channel cascade")
    demo.print_channels(conn)
    assert "NPS by channel, per month: not available" in capsys.readouterr().out


def test_one_formatter_for_group_a_against_group_b():
    row = {"promoter_repurchase_rate": Decimal("0.58"), "promoter_repurchase_rate_lower": Decimal("0.531"),
           "promoter_repurchase_rate_upper": Decimal("0.64"), "promoters_matured": 272,
           "detractor_repurchase_rate": Decimal("0.46"), "detractor_repurchase_rate_lower": None,
           "detractor_repurchase_rate_upper": None, "detractors_matured": 171, "rate_difference": Decimal("0.12"),
           "difference_lower": Decimal("0.031"), "difference_upper": Decimal("0.22")}
    promoters, detractors = ("promoters", "promoter", "promoters"), ("detractors", "detractor", "detractors")
    assert demo.compare_groups(row, promoters, detractors) == (
        "promoters 58 % (53–64) (n=272) vs detractors 46 % (n=171), difference +12 points (95 % CI +3 to +22)")
