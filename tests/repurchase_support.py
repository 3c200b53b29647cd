"""Shared by the repurchase tests (tests/integration/test_repurchase_*.py, test_bi_dashboard.py): a clean
warehouse before and after a module, detractor cases as nps_close_loop writes them, rows in and out as dicts,
and the "Does NPS pay?" marts: the dbt test dataset (tests/dbt_dataset.py: answers January to April 2026) with
months of later 1C sales on top (new orders, cancelled ones, one in dollars, sales without an order, later
shipments of a surveyed order) and detractor cases closed within their SLA, late, open or missing, built by one
`dbt build` as of 2026-08-20: every 90-day window closed and only the earliest answers' 180-day windows.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from closeloop_support import DROP_CASES
from dbt_dataset import KYIV, Dataset, generate, latest_answers, load, survey_id

from nps import transform
from nps.comments.run import classify_new

AS_OF = datetime(2026, 8, 20, 4, 0, tzinfo=UTC)   # 07:00 in Kyiv: the build's day is 2026-08-20
AS_OF_DAY = date(2026, 8, 20)
RAW_TABLES = ("raw.onec_customers", "raw.onec_orders", "raw.onec_order_lines", "raw.onec_sales", "raw.onec_sale_lines",
              "raw.onec_deliveries", "raw.crm_companies", "raw.crm_contacts", "raw.survey_sends",
              "raw.sendgrid_events", "raw.sendgrid_suppressions", "raw.survey_responses", "raw.survey_clicks",
              "raw.comment_themes")


def reset(conn: psycopg.Connection) -> None:
    """The session's warehouse is shared: no raw rows, cases or dbt relations before or after a module."""
    conn.execute(f"truncate {', '.join(RAW_TABLES)}")
    conn.execute("delete from ops.case_state")
    conn.execute("drop schema if exists staging cascade; drop schema if exists intermediate cascade")
    for (table,) in conn.execute("select tablename from pg_tables where schemaname = 'marts'").fetchall():
        conn.execute(f'drop table if exists marts."{table}" cascade')
    conn.execute(DROP_CASES)


def add_later_sales(ds: Dataset, rng: random.Random) -> list[dict]:
    """1C sales after the generated quarter, up to the day before the build (nothing from the future)."""
    latest = latest_answers(ds)
    sales_by_ref = {s["ref_key"]: s for s in ds.sales}
    extra = []

    def ref() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def sale(customer_ref: str, at: datetime, order_ref: str | None, **kw) -> None:
        extra.append({"ref_key": ref(), "number": f"РН-X{len(extra)}",
                      "sale_date": at, "order_ref": order_ref, "customer_ref": customer_ref,
                      "amount": kw.get("amount", 100 * rng.randint(1, 60)), "currency": kw.get("currency", "980"),
                      "posted": kw.get("posted", True), "deletion_mark": kw.get("deletion_mark", False)})

    span = (datetime(2026, 8, 19, 18) - datetime(2026, 2, 1)).total_seconds()
    for customer in ds.customers:
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3, 5])):
            at = datetime(2026, 2, 1) + timedelta(seconds=rng.randrange(int(span)))
            fate = rng.random()
            if fate < 0.06:
                sale(customer["ref_key"], at, ref(), deletion_mark=True)    # cancelled: never counts
            elif fate < 0.09:
                sale(customer["ref_key"], at, ref(), currency="USD")        # an order, no UAH revenue
            elif fate < 0.15:
                sale(customer["ref_key"], at, None, currency="UAH")                     # a sale without an order
            else:
                sale(customer["ref_key"], at, ref())
    # the rest of a surveyed order shipped after the answer: the same order, no repurchase
    for sid, answer in list(latest.items())[::9]:
        surveyed = next(s for ref, s in sales_by_ref.items() if survey_id(ref) == sid)
        if surveyed["order_ref"]:
            at = answer["responded_at"].astimezone(KYIV).replace(tzinfo=None) + timedelta(days=3)
            sale(surveyed["customer_ref"], at, surveyed["order_ref"], amount=100)
    return extra


def add_cases(latest: dict[str, dict], rng: random.Random) -> list[dict]:
    """Cases of detractors (ops.case_state as nps_close_loop writes it): closed in time, late, open, or none."""
    cases = []
    for sid, answer in latest.items():
        if answer["score"] > 6:
            continue
        fate = rng.random()
        if fate < 0.2:
            continue                                             # answered before the close loop: no case
        opened = answer["responded_at"]
        due = opened.astimezone(KYIV).date() + timedelta(days=2)
        closed_at, status = None, "open"
        if fate < 0.6:
            closed_at, status = opened + timedelta(days=1), "closed"
        elif fate < 0.8:
            closed_at, status = opened + timedelta(days=6), "closed"
        cases.append({"survey_id": sid, "kind": "detractor", "owner_source": "none", "opened_at": opened,
                      "sla_due_date": due, "first_seen_on": opened.date(), "status": status, "closed_at": closed_at})
    return cases


def insert(conn: psycopg.Connection, table: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    with conn.cursor() as cur:
        cur.executemany(f"insert into {table} ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})",
                        [tuple(r[c] for c in columns) for r in rows])


def select_rows(conn: psycopg.Connection, sql: str, params: tuple = ()) -> list[dict]:
    cur = conn.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@contextmanager
def built_marts(warehouse_url: str, target_path: Path) -> Iterator[dict]:
    """The dataset, its later sales and cases loaded, one `dbt build` as of AS_OF; the session's warehouse reset after."""
    rng = random.Random(24)
    ds = generate(seed=7)
    extra = add_later_sales(ds, rng)
    cases = add_cases(latest_answers(ds), rng)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        reset(conn)
        load(conn, ds)
        insert(conn, "raw.onec_sales", [{**s, "payload": "{}"} for s in extra])
        insert(conn, "ops.case_state", cases)
        # detractors who say why (issue 22's themes, classified as nps_load_responses does before the build)
        conn.execute("""update raw.survey_responses set comment = (array['Доставка запізнилась на тиждень',
                            'Менеджер не відповідав, але ціна хороша', 'Привезли не той товар'])[
                            1 + abs(hashtext(survey_id)) % 3] where score <= 6""")
        classify_new(conn)
    outcome = transform.build(AS_OF, target_path=target_path)
    try:
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            marts = {name: select_rows(conn, f"select * from {schema}.{name}") for schema, name in (
                ("intermediate", "int_answer_outcomes"), ("marts", "repurchase_by_category"),
                ("marts", "repurchase_difference"), ("marts", "closed_loop_effect"), ("marts", "nps_drivers"))}
        yield {"ds": ds, "extra": extra, "cases": cases, "outcome": outcome, **marts}
    finally:
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            reset(conn)
