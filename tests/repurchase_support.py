"""Shared by the repurchase tests (tests/integration/test_repurchase_*.py): a clean warehouse before and after a
module, detractor cases as nps_close_loop writes them, and rows in and out as dicts."""

from __future__ import annotations

import random
from datetime import timedelta

import psycopg
from closeloop_support import DROP_CASES
from dbt_dataset import KYIV

RAW_TABLES = ("raw.onec_customers", "raw.onec_orders", "raw.onec_order_lines", "raw.onec_sales", "raw.onec_sale_lines",
              "raw.onec_deliveries", "raw.crm_companies", "raw.crm_contacts", "raw.survey_sends",
              "raw.sendgrid_events", "raw.sendgrid_suppressions", "raw.survey_responses", "raw.survey_clicks")


def reset(conn: psycopg.Connection) -> None:
    """The session's warehouse is shared: no raw rows, cases or dbt relations before or after a module."""
    conn.execute(f"truncate {', '.join(RAW_TABLES)}")
    conn.execute("delete from ops.case_state")
    conn.execute("drop schema if exists staging cascade; drop schema if exists intermediate cascade")
    for (table,) in conn.execute("select tablename from pg_tables where schemaname = 'marts'").fetchall():
        conn.execute(f'drop table if exists marts."{table}" cascade')
    conn.execute(DROP_CASES)


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
