"""Row-count checks against the previous days: a load of 0 rows or a jump of `jump_factor`x is an error.

A "load" is what arrived in a raw table since the previous check (rows whose `_loaded_at` is past the previous
check's watermark), recorded per table and logical day in `quality.row_counts`. Checks that are days apart (the demo
transforms weekly) are compared per day. Re-checking a day replaces that day's row and compares with the days
before it, so a re-run doubles nothing.
"""

from __future__ import annotations

import statistics
from datetime import date, datetime

import psycopg
from psycopg import sql

from nps.quality.result import CRITICAL

SUITE = "raw_row_counts"


def _count_since(conn: psycopg.Connection, table: str, since: datetime | None) -> tuple[int, int, datetime | None]:
    schema, _, name = table.partition(".")
    ident = sql.Identifier(schema, name)
    loaded, newest = conn.execute(
        sql.SQL("select count(*), max(_loaded_at) from {} where %s::timestamptz is null or _loaded_at > %s").format(
            ident), (since, since)).fetchone()
    total = conn.execute(sql.SQL("select count(*) from {}").format(ident)).fetchone()[0]
    return loaded, total, newest


def check_row_counts(conn: psycopg.Connection, tables: tuple[str, ...], run_id: str, logical_date: date,
                     checked_at: datetime, jump_factor: float = 5.0, baseline_days: int = 7) -> list[dict]:
    rows: list[dict] = []
    base = {"run_id": run_id, "suite": SUITE, "column": None, "severity": CRITICAL, "logical_date": logical_date,
            "checked_at": checked_at, "sample_keys": [], "element_count": None}
    for table in tables:
        if conn.execute("select to_regclass(%s) is null", (table,)).fetchone()[0]:
            rows.append({**base, "asset": table, "expectation": "expect_load_to_have_rows", "success": False,
                         "description": "table exists and received rows", "unexpected_count": None,
                         "observed_value": {"error": f"table {table} does not exist"}})
            continue
        history = conn.execute(
            """select logical_date, loaded_rows, days_covered, since_loaded_at, max_loaded_at
               from quality.row_counts where table_name = %s and logical_date < %s
               order by logical_date desc limit %s""", (table, logical_date, baseline_days + 1)).fetchall()
        prev = history[0] if history else None
        since = prev[4] if prev else None
        days = (logical_date - prev[0]).days if prev else 1
        loaded, total, newest = _count_since(conn, table, since)
        # the first check of a table has no watermark: its "load" is the whole backfill, never a baseline
        rates = [r[1] / max(r[2], 1) for r in history[:baseline_days] if r[3] is not None]
        baseline = statistics.median(rates) if rates else None
        per_day = loaded / max(days, 1)
        conn.execute(
            """insert into quality.row_counts (table_name, logical_date, loaded_rows, days_covered, total_rows,
                   since_loaded_at, max_loaded_at, run_id, counted_at)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (table_name, logical_date) do update set loaded_rows = excluded.loaded_rows,
                   days_covered = excluded.days_covered, total_rows = excluded.total_rows,
                   since_loaded_at = excluded.since_loaded_at, max_loaded_at = excluded.max_loaded_at,
                   run_id = excluded.run_id, counted_at = excluded.counted_at""",
            (table, logical_date, loaded, days, total, since, newest or since, run_id, checked_at))
        observed = {"loaded_rows": loaded, "days_covered": days, "total_rows": total,
                    "since_loaded_at": since.isoformat() if since else None}
        rows.append({**base, "asset": table, "expectation": "expect_load_to_have_rows", "success": loaded > 0,
                     "description": "the load since the previous check has rows",
                     "unexpected_count": None, "observed_value": observed})
        jump_ok = baseline is None or baseline == 0 or per_day <= jump_factor * baseline
        rows.append({**base, "asset": table, "expectation": "expect_load_within_jump_of_baseline",
                     "success": jump_ok, "unexpected_count": None,
                     "description": f"rows per day at most {jump_factor:g}x the median of the previous "
                                    f"{baseline_days} checks",
                     "observed_value": {**observed, "rows_per_day": round(per_day, 2),
                                        "baseline_per_day": None if baseline is None else round(baseline, 2),
                                        "ratio": None if not baseline else round(per_day / baseline, 2)}})
    return rows
