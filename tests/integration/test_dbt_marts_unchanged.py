"""The marts say exactly what they said before the dbt project became one query shape per model.

One dataset (tests/dbt_dataset.py, seed 11) is built as of DAY, then DAY + 1 arrives with the changes a transform
is most likely to miss (late delivery, vanished delivery record, cancelled and moved shipments, a customer who
reaches the catalog late, CRM edits, late and changed answers, a claimed invite dropped again) and is built again.
Every row of every mart and of ops.detractor_cases must equal the rows recorded in tests/golden/ by the incremental
project (commit 2a55482, its full refresh; its bookkeeping columns left out). Regenerate only for an intended change:
`NPS_WRITE_GOLDEN=1 pytest tests/test_dbt_marts_unchanged.py`, and say why in the commit.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from closeloop_support import DROP_CASES
from dbt_dataset import DAY, NEXT, content_columns, generate, load_history, load_next_day

from nps import transform
from nps.comments.run import classify_new

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "marts_two_nights.json"
RAW_TABLES = ("raw.onec_customers", "raw.onec_orders", "raw.onec_order_lines", "raw.onec_sales", "raw.onec_sale_lines",
              "raw.onec_deliveries", "raw.crm_companies", "raw.crm_contacts", "raw.survey_sends",
              "raw.sendgrid_events", "raw.sendgrid_suppressions", "raw.survey_responses", "raw.survey_clicks",
              "raw.comment_themes")
# marts.* and the close loop's relation; customer_key is a keyed hash: the key is pinned below
COMPARED_SCHEMAS = ("marts", "ops")
COMPARED_OPS = ("detractor_cases",)


def _value(value):
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral_value() else str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("""select table_schema || '.' || table_name from information_schema.tables
                           where table_schema = 'marts' or (table_schema = 'ops' and table_name = any(%s))
                           order by 1""", (list(COMPARED_OPS),)).fetchall()
    return [r[0] for r in rows]


def dump(conn: psycopg.Connection) -> dict[str, list]:
    """Every row of the compared relations, values as JSON, rows sorted, the column names first."""
    out = {}
    for table in _tables(conn):
        columns = content_columns(conn, table)
        rows = conn.execute(f"select {', '.join(columns)} from {table}").fetchall()
        out[table] = sorted(([_value(v) for v in row] for row in rows), key=lambda r: json.dumps(r, default=str))
        out[table].insert(0, columns)
    return out


def _reset(conn: psycopg.Connection) -> None:
    conn.execute(f"truncate {', '.join(RAW_TABLES)}")
    conn.execute("drop schema if exists staging cascade; drop schema if exists intermediate cascade")
    for (table,) in conn.execute("select tablename from pg_tables where schemaname = 'marts'").fetchall():
        conn.execute(f'drop table if exists marts."{table}" cascade')
    conn.execute(DROP_CASES)
    conn.execute("drop table if exists ops.customer_key_secret")


@pytest.fixture(scope="module")
def two_nights(warehouse_url: str, tmp_path_factory):
    ds = generate(seed=11)
    target = tmp_path_factory.mktemp("dbt_golden_target")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        _reset(conn)
        # the marts' pseudonymous customer_key is keyed by a secret the warehouse generates: pin it
        conn.execute("""create table ops.customer_key_secret (id boolean primary key default true check (id),
                                                              secret text not null);
                        insert into ops.customer_key_secret (secret) values ('golden-test-secret')""")
        picks = load_history(conn, ds)
        classify_new(conn)  # as nps_load_responses does after loading the answers
    first = transform.build(DAY, target_path=target)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        load_next_day(conn, ds, picks)
        classify_new(conn)
    second = transform.build(NEXT, target_path=target, full_refresh=bool(os.environ.get("NPS_WRITE_GOLDEN")))
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        rows = dump(conn)
    yield {"first": first, "second": second, "rows": rows}
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        _reset(conn)


def test_both_nights_build_green(two_nights):
    for outcome in (two_nights["first"], two_nights["second"]):
        assert outcome.success and not outcome.failures


def test_mart_rows_equal_the_recorded_ones(two_nights):
    rows = two_nights["rows"]
    if os.environ.get("NPS_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        tables = (f"{json.dumps(t)}: [\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rs) + "\n]"
                  for t, rs in rows.items())
        GOLDEN.write_text("{\n" + ",\n".join(tables) + "\n}\n")  # a row per line: reviewable diffs
        pytest.skip(f"recorded {GOLDEN}")
    golden = json.loads(GOLDEN.read_text())
    assert sorted(rows) == sorted(golden)
    for table, expected in golden.items():
        got = rows[table]
        assert got[0] == expected[0], f"{table}: columns changed"
        missing = [r for r in expected[1:] if r not in got[1:]]
        extra = [r for r in got[1:] if r not in expected[1:]]
        assert not missing and not extra, f"{table}: {len(missing)} rows missing, {len(extra)} new: " \
                                          f"{missing[:3]} / {extra[:3]}"
    assert sum(len(v) - 1 for v in golden.values()) > 200


def test_the_one_incremental_model_holds_every_event_once(two_nights, db):
    """int_sendgrid_events (incremental on load time) after two nights == its staging view, late event included."""
    only_one_side = db.execute("""select count(*) from (
                                      (select sg_event_id, event_type, survey_id, occurred_at
                                       from intermediate.int_sendgrid_events
                                       except all
                                       select sg_event_id, event_type, survey_id, occurred_at
                                       from staging.stg_sendgrid__events)
                                      union all
                                      (select sg_event_id, event_type, survey_id, occurred_at
                                       from staging.stg_sendgrid__events
                                       except all
                                       select sg_event_id, event_type, survey_id, occurred_at
                                       from intermediate.int_sendgrid_events)) as d""").fetchone()[0]
    assert only_one_side == 0
    assert db.execute("select count(*) from intermediate.int_sendgrid_events "
                      "where sg_event_id in ('late-click-1', 'new-open-1')").fetchone()[0] == 2


def test_one_query_shape_per_model():
    """At most two models are incremental; nothing steers the planner or reads the database while compiling."""
    models = Path(transform.PROJECT_DIR, "models")
    sql = {p.name: p.read_text() for p in models.rglob("*.sql")}
    assert len([name for name, text in sql.items() if "is_incremental()" in text]) <= 2
    for name, text in sql.items():
        for forbidden in ("run_query", "lateral", "not materialized", "= any(array"):
            assert forbidden not in text, f"{name}: {forbidden}"
    assert not list(Path(transform.PROJECT_DIR, "macros").glob("test_scope.sql"))


def test_no_change_scope_machinery_in_a_fresh_warehouse(db):
    """The triggers and tables the old nightly change scope needed are gone (warehouse/sql drops them on upgrade)."""
    assert db.execute("select to_regclass('raw.survey_changes'), to_regclass('raw.onec_deliveries_deleted')"
                      ).fetchone() == (None, None)
    triggers = db.execute("""select tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid
                             where c.relnamespace = 'raw'::regnamespace and not t.tgisinternal""").fetchall()
    functions = db.execute("select proname from pg_proc where pronamespace = 'raw'::regnamespace").fetchall()
    assert triggers == [] and functions == []


def test_marts_row_rules_are_constraints(two_nights, db):
    """Not-null, ranges, accepted values and grain of the marts are enforced by Postgres while each is built."""
    constraints = db.execute("""select c.relname, k.contype, pg_get_constraintdef(k.oid)
                                from pg_constraint as k join pg_class as c on c.oid = k.conrelid
                                where c.relnamespace = 'marts'::regnamespace""").fetchall()
    marts = {r[0] for r in db.execute("select table_name from information_schema.tables where table_schema = 'marts'")}
    assert marts and {name for name, kind, _ in constraints if kind == "p"} == marts
    checks = {(name, definition) for name, kind, definition in constraints if kind == "c"}
    assert ("nps_by_region", "CHECK (((nps >= ('-100'::integer)::numeric) AND (nps <= (100)::numeric)))") in checks
    assert ("fct_survey_responses", "CHECK (((score >= 0) AND (score <= 10)))") in checks
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction(force_rollback=True):
        db.execute("update marts.nps_by_region set promoters = -1")
