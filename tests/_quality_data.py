"""A small, realistic raw dataset and mart tables for the data-quality tests (tests/integration/test_quality_*.py)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from nps import warehouse

KYIV = ZoneInfo("Europe/Kyiv")
DAY = date(2026, 3, 10)                       # the run's logical date in every test
LOADED_AT = datetime(2026, 3, 10, 1, 30, tzinfo=KYIV)

RAW_TABLES = ("raw.onec_sale_lines", "raw.onec_sales", "raw.onec_order_lines", "raw.onec_orders",
              "raw.onec_deliveries", "raw.onec_customers", "raw.crm_contacts", "raw.survey_sends",
              "raw.survey_responses", "raw.sendgrid_events")

REGION_SEED = "spelling,region\nКиївська область,Київська область\nКиевская область,Київська область\n" \
              "Kyiv Oblast,Київська область\nЛьвівська область,Львівська область\nLviv Oblast,Львівська область\n"


@contextmanager
def own_database(server_url: str) -> Iterator[str]:
    """A database of the test module's own: the gates' tests drop and restore constraints, which must not leak."""
    from urllib.parse import urlsplit, urlunsplit

    name = f"nps_qtest_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        warehouse.bootstrap(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def ts(days_before: int, hour: int = 12) -> datetime:
    """Naive 1C local time, `days_before` the run's day."""
    return datetime.combine(DAY - timedelta(days=days_before), datetime.min.time()).replace(hour=hour)


def tz(days_before: int, hour: int = 12) -> datetime:
    return ts(days_before, hour).replace(tzinfo=KYIV)


def reset(conn: psycopg.Connection) -> None:
    conn.execute("truncate " + ", ".join(RAW_TABLES) + ", quality.expectation_results, quality.row_counts, "
                 "quality.alerts")


def load_good(conn: psycopg.Connection, loaded_at: datetime = LOADED_AT) -> None:
    """Three customers, three orders and sales with lines, deliveries, two surveys answered, SendGrid events."""
    reset(conn)
    p = json.dumps({})
    customers = [("c1", "0001", "ТОВ Ромашка", "company", "buyer@romashka.ua", "Київська область"),
                 ("c2", "0002", "ФОП Іваненко", "person", None, "Kyiv Oblast"),
                 ("c3", "0003", "ТОВ Захід", "company", "office@zahid.com.ua", "  львівська   область ")]
    conn.cursor().executemany(
        "insert into raw.onec_customers (ref_key, code, name, legal_kind, email, region_raw, payload, _loaded_at) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s)", [(*c, p, loaded_at) for c in customers])
    conn.cursor().executemany(
        "insert into raw.onec_orders (ref_key, number, order_date, customer_ref, promised_date, posted, payload, "
        "_loaded_at) values (%s, %s, %s, %s, %s, true, %s, %s)",
        [(f"o{i}", f"ЗК-{i:04d}", ts(20 - i), f"c{i}", ts(14 - i), p, loaded_at) for i in (1, 2, 3)])
    conn.cursor().executemany(
        "insert into raw.onec_order_lines (order_ref, line_number, product_ref, quantity, _loaded_at) "
        "values (%s, %s, %s, %s, %s)",
        [("o1", 1, "p1", 5, loaded_at), ("o1", 2, "p2", 1.5, loaded_at), ("o2", 1, "p1", 10, loaded_at),
         ("o3", 1, "p3", 2, loaded_at)])
    conn.cursor().executemany(
        "insert into raw.onec_sales (ref_key, number, sale_date, order_ref, customer_ref, amount, currency, posted, "
        "payload, _loaded_at) values (%s, %s, %s, %s, %s, %s, %s, true, %s, %s)",
        [("s1", "РН-0001", ts(18), "o1", "c1", 1350.50, "UAH", p, loaded_at),
         ("s2", "РН-0002", ts(17), "o2", "c2", 2400, "UAH", p, loaded_at),
         ("s3", "РН-0003", ts(16), "o3", "c3", 120, "EUR", p, loaded_at)])
    conn.cursor().executemany(
        "insert into raw.onec_sale_lines (sale_ref, line_number, product_ref, quantity, price, amount, _loaded_at) "
        "values (%s, %s, %s, %s, %s, %s, %s)",
        [("s1", 1, "p1", 5, 240, 1200, loaded_at), ("s1", 2, "p2", 1.5, 100.33, 150.50, loaded_at),
         ("s2", 1, "p1", 10, 240, 2400, loaded_at), ("s3", 1, "p3", 2, 60, 120, loaded_at)])
    conn.cursor().executemany(
        "insert into raw.onec_deliveries (order_ref, delivered_at, status, payload, _loaded_at) "
        "values (%s, %s, %s, %s, %s)",
        [("o1", ts(16), "Доставлено", p, loaded_at), ("o2", ts(15), "Доставлено", p, loaded_at),
         ("o3", None, "В дорозі", p, loaded_at)])
    conn.cursor().executemany(
        "insert into raw.crm_contacts (id, name, onec_code, email, language, payload, _loaded_at) "
        "values (%s, %s, %s, %s, %s, %s, %s)",
        [("11", "Олена", "0001", "olena@romashka.ua", "uk", p, loaded_at),
         ("12", "Петро", "0002", None, "uk", p, loaded_at)])
    conn.cursor().executemany(
        "insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language, status, "
        "message_id, logical_date, claimed_at, sent_at) values (%s, 'invite', %s, %s, %s, 'uk', 'sent', %s, %s, "
        "%s, %s)",
        [("sv1", "s1", "c1", "buyer@romashka.ua", "m1", DAY - timedelta(days=4), tz(4, 10), tz(4, 10)),
         ("sv2", "s2", "c2", "olena@romashka.ua", "m2", DAY - timedelta(days=3), tz(3, 10), tz(3, 10))])
    conn.cursor().executemany(
        "insert into raw.survey_responses (survey_id, score, comment, language, responded_at, _loaded_at) "
        "values (%s, %s, %s, 'uk', %s, %s)",
        [("sv1", 9, "Дякуємо", tz(3, 18), loaded_at), ("sv2", 3, "Запізнились", tz(1, 9), loaded_at)])
    conn.cursor().executemany(
        "insert into raw.sendgrid_events (sg_event_id, event, email, survey_id, kind, occurred_at, payload, "
        "_loaded_at) values (%s, %s, 'x@example.com', %s, 'invite', %s, %s, %s)",
        [("e1", "delivered", "sv1", tz(4, 11), p, loaded_at), ("e2", "open", "sv1", tz(3, 17), p, loaded_at),
         ("e3", "click", "sv1", tz(3, 18), p, loaded_at), ("e4", "delivered", "sv2", tz(3, 11), p, loaded_at)])


MART_COLUMNS = ("surveys_sent integer, surveys_delivered integer, responses integer, promoters integer, "
                "passives integer, detractors integer, nps numeric, nps_moe_95 numeric, is_low_n boolean, "
                "response_rate numeric")
MART_TABLES = {"nps_by_region": "month date, region text", "nps_by_segment": "month date, segment text",
               "nps_by_delivery": "month date, delivery_bucket text", "nps_daily": "day date"}


def create_marts(conn: psycopg.Connection, schema: str, label: str = "good") -> None:
    """The four nps_by_* marts in `schema` with consistent rows; `label` goes into the region to tell builds apart."""
    conn.execute(f"drop schema if exists {schema} cascade; create schema {schema}")
    for table, dims in MART_TABLES.items():
        conn.execute(f"create table {schema}.{table} ({dims}, {MART_COLUMNS})")
    metrics = (40, 38, 20, 12, 5, 3, 45.0, 18.5, True, 0.5263)
    zero = (3, 3, 0, 0, 0, 0, None, None, True, 0.0)
    conn.execute(f"insert into {schema}.nps_by_region values ('2026-03-01', %s, {', '.join(['%s'] * 10)})",
                 (f"Київська область {label}", *metrics))
    conn.execute(f"insert into {schema}.nps_by_region values ('2026-02-01', 'Львівська область', "
                 f"{', '.join(['%s'] * 10)})", zero)
    conn.execute(f"insert into {schema}.nps_by_segment values ('2026-03-01', 'wholesale', "
                 f"{', '.join(['%s'] * 10)})", metrics)
    conn.execute(f"insert into {schema}.nps_by_delivery values ('2026-03-01', 'on_time', "
                 f"{', '.join(['%s'] * 10)})", metrics)
    conn.execute(f"insert into {schema}.nps_daily values ('2026-03-09', {', '.join(['%s'] * 10)})", metrics)
