"""Row-count checks: an empty load, or one far from the same weekday's usual, is a warning, never a failure.

A "load" is what arrived in a raw table since the previous check (rows whose `_loaded_at` is past the previous
check's watermark), recorded per table and logical day in `quality.row_counts`. It is compared per day (the demo
transforms weekly) with the median of the same weekday's previous checks, because a distributor's quiet days recur
weekly: a Sunday with no sales is normal where earlier Sundays had none, a Tuesday with none is not. A quiet week
(holidays, an extraction outage) leaves the data right, only late, so these checks alert and never stop the answers;
a table that cannot be read stays critical. Re-checking a day replaces that day's row and compares with the days
before it, so a re-run doubles nothing.
"""

from __future__ import annotations

import statistics
from datetime import date, datetime

import psycopg
from psycopg import sql

from nps.quality.result import CRITICAL, WARNING

SUITE = "raw_row_counts"
# fewer same-weekday checks than this is too little history to call an empty load normal
MIN_HISTORY = 2
# a weekday whose usual load is under one row is a day off (weekend, holiday): its empty load is no news
QUIET_ROWS = 1.0


def _count_since(conn: psycopg.Connection, table: str, since: datetime | None) -> tuple[int, int, datetime | None]:
    schema, _, name = table.partition(".")
    ident = sql.Identifier(schema, name)
    loaded, newest = conn.execute(
        sql.SQL("select count(*), max(_loaded_at) from {} where %s::timestamptz is null or _loaded_at > %s").format(
            ident), (since, since)).fetchone()
    total = conn.execute(sql.SQL("select count(*) from {}").format(ident)).fetchone()[0]
    return loaded, total, newest


def check_row_counts(conn: psycopg.Connection, tables: tuple[str, ...], run_id: str, logical_date: date,
                     checked_at: datetime, jump_factor: float = 5.0, baseline_weeks: int = 4) -> list[dict]:
    rows: list[dict] = []
    base = {"run_id": run_id, "suite": SUITE, "column": None, "severity": WARNING, "logical_date": logical_date,
            "checked_at": checked_at, "sample_keys": [], "element_count": None, "unexpected_count": None}
    for table in tables:
        if conn.execute("select to_regclass(%s) is null", (table,)).fetchone()[0]:
            # a source that cannot be read is broken, not quiet
            rows.append({**base, "severity": CRITICAL, "asset": table, "expectation": "expect_load_to_have_rows",
                         "success": False, "description": "table exists and received rows",
                         "observed_value": {"error": f"table {table} does not exist"}})
            continue
        prev = conn.execute(
            """select logical_date, max_loaded_at from quality.row_counts where table_name = %s and logical_date < %s
               order by logical_date desc limit 1""", (table, logical_date)).fetchone()
        since = prev[1] if prev else None
        days = (logical_date - prev[0]).days if prev else 1
        loaded, total, newest = _count_since(conn, table, since)
        # the first check of a table has no watermark: its "load" is the whole backfill, never a baseline
        rates = [r[0] for r in conn.execute(
            """select loaded_rows::float / greatest(days_covered, 1) from quality.row_counts
               where table_name = %s and logical_date < %s and since_loaded_at is not null
                 and extract(isodow from logical_date) = extract(isodow from %s::date)
               order by logical_date desc limit %s""", (table, logical_date, logical_date, baseline_weeks))]
        baseline = statistics.median(rates) if len(rates) >= MIN_HISTORY else None
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
                    "since_loaded_at": since.isoformat() if since else None, "weekday": f"{logical_date:%A}",
                    "rows_per_day": round(per_day, 2), "same_weekday_checks": len(rates),
                    "baseline_per_day": None if baseline is None else round(baseline, 2),
                    "ratio": None if not baseline else round(per_day / baseline, 2)}
        quiet_day = baseline is not None and baseline * days < QUIET_ROWS
        rows.append({**base, "asset": table, "expectation": "expect_load_to_have_rows",
                     "success": loaded > 0 or quiet_day, "observed_value": observed,
                     "description": "the load since the previous check has rows, unless this weekday usually has none"})
        # an empty load is the check above's to report; this one judges how much arrived
        usual = loaded == 0 or not baseline or 1 / jump_factor <= per_day / baseline <= jump_factor
        rows.append({**base, "asset": table, "expectation": "expect_load_within_jump_of_baseline",
                     "success": usual, "observed_value": observed,
                     "description": f"rows per day within {jump_factor:g}x (up or down) of the median of the same "
                                    f"weekday's previous {baseline_weeks} checks"})
    return rows
