"""Incremental dbt == full refresh, after a night whose changes reach back into history.

The generated raw dataset (tests/dbt_dataset.py) is built in full as of day D, with the raw rows stamped as loaded
night after night (so the incremental models' look-back does not simply re-read everything). Then day D+1 arrives
with the changes an incremental model is most likely to miss: new sales, a late delivery of an old order, a delivery
record that vanished from 1C, a cancelled sale whose sibling shipment is no longer in full, a follow-up shipment
that completes a short order, a sale moved to another order, a customer who reaches the catalog only now (their
old purchases get a region), a customer's region change, CRM edits that move matches (and a customer whose region
the spelling seed now maps differently), a late and a changed answer, a late SendGrid event and a
click, an invite that went out, a claimed invite dropped again and one whose status changed without a timestamp.
`dbt build` (incremental) must then leave every intermediate table, mart and ops table exactly as a
`dbt build --full-refresh` on the same data does (bookkeeping column transformed_at aside), and must have rebuilt
only a small part of the purchases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from closeloop_support import DROP_CASES
from dbt_dataset import Dataset, content_columns, generate, load, survey_id

from nps import transform

RAW_TABLES = ("raw.onec_customers", "raw.onec_orders", "raw.onec_order_lines", "raw.onec_sales", "raw.onec_sale_lines",
              "raw.onec_deliveries", "raw.crm_companies", "raw.crm_contacts", "raw.survey_sends",
              "raw.sendgrid_events", "raw.sendgrid_suppressions", "raw.survey_responses", "raw.survey_clicks")
LOADED_RAW = tuple(t for t in RAW_TABLES if t != "raw.survey_sends")
DAY = datetime(2026, 4, 20, 6, 0, tzinfo=UTC)   # after every generated answer
NEXT = DAY + timedelta(days=1)


def _dbt_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("""select schemaname || '.' || tablename from pg_tables
                           where schemaname in ('intermediate', 'marts')
                           order by 1""").fetchall()
    return [r[0] for r in rows]


def _drop_dbt_relations(conn: psycopg.Connection) -> None:
    """Start (and leave) the shared test warehouse without dbt relations; the schemas' grants stay."""
    conn.execute("drop schema if exists staging cascade; drop schema if exists intermediate cascade")
    for (table,) in conn.execute("select tablename from pg_tables where schemaname = 'marts'").fetchall():
        conn.execute(f'drop table if exists marts."{table}" cascade')
    conn.execute(DROP_CASES)


def _pick(ds: Dataset):
    """Orders and sales of the generated dataset that the new day changes."""
    sales_by_order: dict[str, list[dict]] = {}
    for sale in ds.sales:
        sales_by_order.setdefault(sale["order_ref"], []).append(sale)
    delivered = {d["order_ref"] for d in ds.deliveries if d["delivered_at"] is not None}
    live = {ref: s for ref, s in sales_by_order.items()
            if all(x["posted"] and not x["deletion_mark"] for x in s)}
    split = [ref for ref, s in live.items() if len(s) == 2]
    single = [ref for ref, s in live.items() if len(s) == 1]
    lines = {}
    for line in ds.order_lines:
        lines.setdefault(line["order_ref"], []).append(line)
    shipped = {}
    for line in ds.sale_lines:
        shipped[(line["sale_ref"], line["product_ref"])] = line["quantity"]
    short = [ref for ref in single if any(
        shipped.get((live[ref][0]["ref_key"], ol["product_ref"]), 0) < ol["quantity"] for ol in lines[ref])]
    undelivered = [ref for ref in single if ref not in {d["order_ref"] for d in ds.deliveries}]
    return {"cancel_split": split[0], "move_split": split[1], "short": short[0], "late_delivery": undelivered[0],
            "vanished_delivery": next(ref for ref in single if ref in delivered and ref not in short[:1]),
            "move_target": next(ref for ref in single if ref not in short[:1] and ref not in undelivered[:1]),
            "sales_by_order": sales_by_order, "order_lines": lines}


@pytest.fixture(scope="module")
def nightly(warehouse_url: str, tmp_path_factory):
    ds = generate(seed=11)
    picks = _pick(ds)
    target = tmp_path_factory.mktemp("dbt_incremental_target")
    # a customer with purchases who reaches the 1C catalog only on the new day
    late_customer = next(c for c in ds.customers if ds.customer_truth[c["ref_key"]]["region"] != "невідомо"
                         and any(s["customer_ref"] == c["ref_key"] for s in ds.sales))
    moved_customer = next(c for c in ds.customers if c is not late_customer
                          and ds.customer_truth[c["ref_key"]]["region"] != "Львівська область")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"truncate {', '.join(RAW_TABLES)}")
        _drop_dbt_relations(conn)
        load(conn, ds)
        conn.execute("delete from raw.onec_customers where ref_key = %s", (late_customer["ref_key"],))
        # two invites claimed by a sender run that was still going when the history was built
        unsent = [s for s in ds.sales if survey_id(s["ref_key"]) not in {x["survey_id"] for x in ds.sends}
                  and s["posted"] and not s["deletion_mark"]]
        claimed = unsent[:2]
        for sale in claimed:
            conn.execute("""insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language,
                                status, due_date, logical_date, claimed_at, dry_run)
                            values (%s, 'invite', %s, %s, 'x@example.com', 'uk', 'claimed', '2026-04-19',
                                    '2026-04-20', %s, %s)""",
                         (survey_id(sale["ref_key"]), sale["ref_key"], sale["customer_ref"], DAY, sale is claimed[0]))
        # history loaded night after night: the bulk long ago, the newest sales the night before the build (the
        # incremental models re-read what was loaded within their look-back of the newest load they hold)
        for table in LOADED_RAW:
            conn.execute(f"update {table} set _loaded_at = now() - interval '30 days'")
        conn.execute("update raw.survey_changes set changed_at = now() - interval '30 days'")
        conn.execute("""with last_night as (select ref_key from raw.onec_sales order by sale_date desc limit 10)
                        update raw.onec_sales set _loaded_at = now() - interval '1 day'
                        where ref_key in (select ref_key from last_night)""")
        conn.execute("""update raw.onec_sale_lines as l set _loaded_at = s._loaded_at from raw.onec_sales as s
                        where l.sale_ref = s.ref_key""")
    # the builds run as of the real clock the loads above and below are stamped with (now()), as in production:
    # int_customers re-reads what was loaded since its last run's instant (minus the look-back)
    built = datetime.now(UTC)
    transform.build(built, target_path=target)

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        # as if the spelling seed had mapped this customer's region differently when the history was built
        conn.execute("update intermediate.int_customers set region = 'Стара область' where customer_ref = %s",
                     (ds.customers[4]["ref_key"],))
        before = {r[0]: r[1:] for r in conn.execute(
            "select purchase_id, is_in_full, delivery_bucket, region, is_cancelled from intermediate.int_purchases")}
        _new_day(conn, ds, picks, late_customer, moved_customer, claimed, unsent[2])
    incremental = transform.build(built + timedelta(hours=1), target_path=target)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("drop schema if exists cmp cascade; create schema cmp")
        tables = _dbt_tables(conn)
        for table in tables:
            cols = ", ".join(content_columns(conn, table))
            conn.execute(f"create table cmp.{table.replace('.', '__')} as select {cols} from {table}")
        after = {r[0]: r[1:] for r in conn.execute(
            "select purchase_id, is_in_full, delivery_bucket, region, is_cancelled from intermediate.int_purchases")}
        rebuilt = {table: conn.execute(f"""select count(*) filter (where transformed_at = (select max(transformed_at)
                                               from intermediate.{table})), count(*)
                                           from intermediate.{table}""").fetchone()
                   for table in ("int_purchases", "int_customers")}
    full = transform.build(built + timedelta(hours=1), full_refresh=True, target_path=target)
    yield {"ds": ds, "picks": picks, "tables": tables, "before": before, "after": after, "rebuilt": rebuilt,
           "incremental": incremental, "full": full, "late_customer": late_customer["ref_key"],
           "claimed": [survey_id(s["ref_key"]) for s in claimed], "target": target}
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"truncate {', '.join(RAW_TABLES)}")
        conn.execute("drop schema if exists cmp cascade")
        _drop_dbt_relations(conn)
        conn.execute("drop table if exists ops.customer_key_secret")


def _new_day(conn, ds: Dataset, picks: dict, late_customer: dict, moved_customer: dict, claimed: list[dict],
             to_invite: dict) -> None:
    """Day D+1 as the loaders would write it (every touched row stamped now())."""
    sales_by_order, lines = picks["sales_by_order"], picks["order_lines"]
    # a brand-new order with its sale, shipped the new day
    order_ref, sale_ref, customer = "new-order-1", "new-sale-1", ds.sales[0]["customer_ref"]
    conn.execute("""insert into raw.onec_orders (ref_key, number, order_date, customer_ref, promised_date, posted,
                        payload) values (%s, 'ЗК-NEW', '2026-04-20 09:00', %s, '2026-04-23', true, '{}')""",
                 (order_ref, customer))
    conn.execute("insert into raw.onec_order_lines (order_ref, line_number, product_ref, quantity) "
                 "values (%s, 1, 'prod-1', 4)", (order_ref,))
    conn.execute("""insert into raw.onec_sales (ref_key, number, sale_date, order_ref, customer_ref, amount, currency,
                        posted, payload) values (%s, 'РН-NEW', '2026-04-20 14:00', %s, %s, 400, 'UAH', true, '{}')""",
                 (sale_ref, order_ref, customer))
    conn.execute("insert into raw.onec_sale_lines (sale_ref, line_number, product_ref, quantity, price, amount) "
                 "values (%s, 1, 'prod-1', 4, 100, 400)", (sale_ref,))
    # an old order's delivery arrives late; another old order's delivery record vanishes from 1C
    conn.execute("""insert into raw.onec_deliveries (order_ref, delivered_at, status, payload)
                    values (%s, '2026-04-20 12:00', 'Доставлено', '{}')""", (picks["late_delivery"],))
    conn.execute("delete from raw.onec_deliveries where order_ref = %s", (picks["vanished_delivery"],))
    # the second shipment of a split order is cancelled: the first one is no longer in full
    cancelled = sales_by_order[picks["cancel_split"]][1]["ref_key"]
    conn.execute("update raw.onec_sales set deletion_mark = true, _loaded_at = now() where ref_key = %s", (cancelled,))
    # the rest of a short order ships: its first sale becomes in full
    short = picks["short"]
    for k, ol in enumerate(lines[short], start=1):
        conn.execute("""insert into raw.onec_sale_lines (sale_ref, line_number, product_ref, quantity, price, amount)
                        values ('follow-up-1', %s, %s, %s, 100, 100)""", (k, ol["product_ref"], ol["quantity"]))
    conn.execute("""insert into raw.onec_sales (ref_key, number, sale_date, order_ref, customer_ref, amount, currency,
                        posted, payload)
                    values ('follow-up-1', 'РН-FUP', '2026-04-20 15:00', %s, %s, 100, 'UAH', true, '{}')""",
                 (short, sales_by_order[short][0]["customer_ref"]))
    # a sale booked against the wrong order is moved to another one (1C re-posts the document)
    moved = sales_by_order[picks["move_split"]][1]["ref_key"]
    conn.execute("update raw.onec_sales set order_ref = %s, _loaded_at = now() where ref_key = %s",
                 (picks["move_target"], moved))
    conn.execute("update raw.onec_sale_lines set _loaded_at = now() where sale_ref = %s", (moved,))
    # customers: one reaches the catalog only now, one moves to another region
    c = late_customer
    conn.execute("""insert into raw.onec_customers (ref_key, code, name, legal_kind, email, phone, region_raw,
                        deletion_mark, payload) values (%s, %s, %s, %s, %s, %s, %s, false, '{}')""",
                 (c["ref_key"], c["code"], c["name"], c["legal_kind"], c["email"], c["phone"], c["region_raw"]))
    conn.execute("update raw.onec_customers set region_raw = 'Lviv oblast', _loaded_at = now() where ref_key = %s",
                 (moved_customer["ref_key"],))
    # CRM: the contact found by customer 2's phone loses it and takes customer 3's e-mail (customer 2 loses its
    # match, customer 3, unmatched so far, gains one); the company matched by customer 0's 1C code changes segment
    conn.execute("update raw.crm_contacts set phone = null, email = %s, _loaded_at = now() where id = '5002'",
                 (ds.customers[3]["email"],))
    conn.execute("update raw.crm_companies set segment = 'b2g', _loaded_at = now() where id = '1000'")
    # surveys: an invite goes out (and is opened, and clicked); a dry-run claim is dropped; a claim turns 'unknown'
    sid = survey_id(to_invite["ref_key"])
    conn.execute("""insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language, status,
                        message_id, due_date, logical_date, claimed_at, sent_at)
                    values (%s, 'invite', %s, %s, 'y@example.com', 'uk', 'sent', 'msg-new', '2026-04-21',
                            '2026-04-21', %s, %s)""", (sid, to_invite["ref_key"], to_invite["customer_ref"], NEXT, NEXT))
    conn.execute("""insert into raw.sendgrid_events (sg_event_id, event, email, survey_id, kind, occurred_at, payload)
                    values ('new-open-1', 'open', 'y@example.com', %s, 'invite', %s, '{}')""",
                 (sid, NEXT + timedelta(hours=1)))
    conn.execute("insert into raw.survey_clicks (landing_id, survey_id, score, clicked_at) values (990001, %s, 9, %s)",
                 (sid, NEXT + timedelta(hours=2)))
    dropped, unknown = (survey_id(s["ref_key"]) for s in claimed)
    conn.execute("delete from raw.survey_sends where survey_id = %s", (dropped,))
    conn.execute("update raw.survey_sends set status = 'unknown' where survey_id = %s", (unknown,))
    # answers: one given long ago that arrives only now; one changed by a loader that keeps _loaded_at
    sent = [s for s in ds.sends if s["kind"] == "invite" and s["status"] == "sent"]
    answered = {r["survey_id"] for r in ds.responses}
    late = next(s for s in sent if s["survey_id"] not in answered)
    conn.execute("""insert into raw.survey_responses (survey_id, score, comment, language, responded_at)
                    values (%s, 1, 'пізно', 'uk', %s)""", (late["survey_id"], late["sent_at"] + timedelta(days=2)))
    conn.execute("""update raw.survey_responses set score = 10 - score,
                        responded_at = (select max(responded_at) from raw.survey_responses) + interval '1 hour'
                    where survey_id = (select min(survey_id) from raw.survey_responses where comment <> 'пізно')""")
    # a SendGrid event for an old invite, retried by SendGrid and loaded only now
    old = sent[0]
    conn.execute("""insert into raw.sendgrid_events (sg_event_id, event, email, survey_id, kind, occurred_at, payload)
                    values ('late-click-1', 'click', %s, %s, 'invite', %s, '{}')""",
                 (old["email"], old["survey_id"], old["sent_at"] + timedelta(hours=5)))


def test_both_builds_green(nightly):
    for outcome in (nightly["incremental"], nightly["full"]):
        assert outcome.success and not outcome.failures
        assert outcome.count("success", "pass") > 100


def test_only_a_small_part_of_the_purchases_and_customers_was_rebuilt(nightly):
    rebuilt, total = nightly["rebuilt"]["int_purchases"]
    assert 0 < rebuilt < total * 0.25, (rebuilt, total)
    # the new and moved customers, the CRM edits' three and the one the seed re-maps
    rebuilt, total = nightly["rebuilt"]["int_customers"]
    assert 0 < rebuilt <= 8 < total, (rebuilt, total)


def test_the_new_day_reached_back_into_history(nightly):
    """The changes did happen incrementally (so the comparison below is not between two stale copies)."""
    before, after, picks = nightly["before"], nightly["after"], nightly["picks"]
    sales = picks["sales_by_order"]
    assert "new-sale-1" in after and "follow-up-1" in after
    late = sales[picks["late_delivery"]][0]["ref_key"]
    assert before[late][1] == "not_delivered" and after[late][1] != "not_delivered"
    vanished = sales[picks["vanished_delivery"]][0]["ref_key"]
    assert before[vanished][1] != "not_delivered" and after[vanished][1] == "not_delivered"
    kept, cancelled = (s["ref_key"] for s in sales[picks["cancel_split"]])
    assert before[kept][0] is True and after[kept][0] is False and after[cancelled][3] is True
    short = sales[picks["short"]][0]["ref_key"]
    assert before[short][0] is False and after[short][0] is True
    left_behind = sales[picks["move_split"]][0]["ref_key"]
    assert before[left_behind][0] is True and after[left_behind][0] is False
    late_customer_sales = [s["ref_key"] for s in nightly["ds"].sales if s["customer_ref"] == nightly["late_customer"]]
    assert all(before[s][2] == "невідомо" and after[s][2] != "невідомо" for s in late_customer_sales)


def test_customers_followed_the_crm_and_the_seed(nightly, db):
    """int_customers rebuilt the customers the night's CRM edits and the seed reached (a copy kept before the full
    refresh): the compare below would not notice two stale copies."""
    ds = nightly["ds"]
    customers = {r[0]: r[1:] for r in db.execute(
        "select customer_ref, match_method, crm_contact_id, segment, region from cmp.intermediate__int_customers")}
    phone_customer, unmatched_customer, code_customer, seeded = (ds.customers[i]["ref_key"] for i in (2, 3, 0, 4))
    assert customers[phone_customer][:2] == ("none", None)
    assert customers[unmatched_customer][:2] == ("email", "5002")
    assert customers[code_customer][2] == "b2g"
    assert customers[seeded][3] == ds.customer_truth[seeded]["region"]


def test_incremental_equals_full_refresh(nightly, db):
    assert len(nightly["tables"]) >= 14, nightly["tables"]
    differences = {}
    for table in nightly["tables"]:
        cols = ", ".join(content_columns(db, table))
        kept = f"cmp.{table.replace('.', '__')}"
        only_incremental = db.execute(f"select count(*) from (select * from {kept} except all "
                                      f"select {cols} from {table}) as d").fetchone()[0]
        only_full = db.execute(f"select count(*) from (select {cols} from {table} except all "
                               f"select * from {kept}) as d").fetchone()[0]
        if only_incremental or only_full:
            differences[table] = (only_incremental, only_full)
    assert differences == {}, f"rows only in the incremental / only in the full refresh: {differences}"
    # the surveys the sender changed without a timestamp: dropped claim gone, the other one 'unknown'
    dropped, unknown = nightly["claimed"]
    statuses = dict(db.execute("select survey_id, invite_status from intermediate.int_surveys "
                               "where survey_id = any(%s)", ([dropped, unknown],)).fetchall())
    assert statuses == {unknown: "unknown"}


# The staged key (or load time) each raw index of warehouse/sql/050_raw_indexes.sql serves: its expression must stay
# identical to the one the staging view computes (onec_ref()), or the scope sets fall back to sequential scans.
STAGED_KEY_INDEXES = [
    ("stg_survey__sends", "survey_id", "survey_sends_pkey"),
    ("stg_survey__clicks", "survey_id", "survey_clicks_survey_idx"),
    ("stg_survey__changes", "changed_at", "survey_changes_changed_idx"),
    ("stg_onec__customers", "customer_ref", "onec_customers_ref_idx"),
    ("stg_onec__customers", "loaded_at", "onec_customers_loaded_idx"),
    *((f"stg_crm__{table}", column, f"crm_{table}_{index}_idx")
      for table, key in (("contacts", "contact_id"), ("companies", "company_id"))
      for column, index in ((key, "id"), ("onec_code", "code"), ("email", "email"), ("phone_key", "phone"),
                            ("loaded_at", "loaded"))),
    ("stg_onec__sales", "sale_ref", "onec_sales_ref_idx"),
    ("stg_onec__sales", "order_ref", "onec_sales_order_idx"),
    ("stg_onec__sales", "customer_ref", "onec_sales_customer_idx"),
    ("stg_onec__sales", "loaded_at", "onec_sales_loaded_idx"),
    ("stg_onec__sale_lines", "sale_ref", "onec_sale_lines_sale_idx"),
    ("stg_onec__sale_lines", "loaded_at", "onec_sale_lines_loaded_idx"),
    ("stg_onec__orders", "order_ref", "onec_orders_ref_idx"),
    ("stg_onec__orders", "loaded_at", "onec_orders_loaded_idx"),
    ("stg_onec__order_lines", "order_ref", "onec_order_lines_order_idx"),
    ("stg_onec__order_lines", "loaded_at", "onec_order_lines_loaded_idx"),
    ("stg_onec__deliveries", "order_ref", "onec_deliveries_order_idx"),
    ("stg_onec__deliveries", "loaded_at", "onec_deliveries_loaded_idx"),
]


@pytest.mark.parametrize(("view", "column", "index"), STAGED_KEY_INDEXES)
def test_staged_keys_are_index_lookups_on_raw(nightly, db, view, column, index):
    stamp = column in ("loaded_at", "changed_at")
    value, op = ("2026-04-20T00:00:00+03", ">") if stamp else ("some-ref", "=")
    with db.transaction(force_rollback=True):
        db.execute("set local enable_seqscan = off")  # tiny tables: make the planner show what it could use
        plan = "\n".join(r[0] for r in db.execute(
            f"explain select * from staging.{view} where {column} {op} '{value}'").fetchall())
    assert index in plan, plan


def test_every_write_to_sends_and_clicks_stamps_the_survey(db):
    """raw.survey_changes (warehouse/sql/052_survey_changes.sql) is how int_surveys finds changed sends: a claim, a
    status changed without a timestamp, a dropped claim and a click each stamp their survey anew."""
    def stamp(survey: str):
        return db.execute("select changed_at from raw.survey_changes where survey_id = %s", (survey,)).fetchone()

    with db.transaction(force_rollback=True):
        db.execute("""insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language,
                          status, due_date, logical_date, claimed_at)
                      values ('stamp-1', 'invite', 'p', 'c', 'x@example.com', 'uk', 'claimed', '2026-04-19',
                              '2026-04-20', now())""")
        stamps = [stamp("stamp-1")]
        db.execute("update raw.survey_sends set status = 'unknown' where survey_id = 'stamp-1'")
        stamps.append(stamp("stamp-1"))
        db.execute("delete from raw.survey_sends where survey_id = 'stamp-1'")
        stamps.append(stamp("stamp-1"))
        assert None not in stamps and stamps == sorted(set(stamps)), stamps
        db.execute("insert into raw.survey_clicks (landing_id, survey_id, score, clicked_at) "
                   "values (990077, 'stamp-2', 7, now()), (990078, 'stamp-2', 8, now())")  # two in one statement
        assert stamp("stamp-2") is not None


# ---- what a nightly run tests (dbt_project/macros/test_scope.sql) ----------------------------------------------------

def _scoped_test(nightly, select: str, scope: str) -> set[str]:
    """`dbt test` of `select` with the nightly's test scope (`changed`) or every row (`all`): the failing tests."""
    outcome = transform.run(["test", "--select", select], target_path=nightly["target"], check=False,
                            dbt_vars={**transform.NIGHTLY_VARS, "test_scope": scope})
    return {uid.split(".")[2] for uid in outcome.failures}


def _duplicate_sale(db, loaded: str) -> str:
    """A copy of an old sale whose key differs only by a space (the staged key trims it): a duplicate sale_ref."""
    ref = db.execute("select ref_key from raw.onec_sales order by _loaded_at, ref_key limit 1").fetchone()[0]
    db.execute(f"""insert into raw.onec_sales
                   select (jsonb_populate_record(null::raw.onec_sales, to_jsonb(s)
                           || jsonb_build_object('ref_key', ' ' || s.ref_key, '_loaded_at', {loaded}))).*
                   from raw.onec_sales as s where s.ref_key = %s""", (ref,))
    return " " + ref


@pytest.mark.parametrize(("loaded", "caught_nightly"), [("now() - interval '30 days'", False), ("now()", True)])
def test_nightly_uniqueness_reads_every_row_sharing_a_key_with_a_new_row(nightly, db, loaded, caught_nightly):
    """An old duplicate was the business of the night it arrived (full tests still find it); a new row that collides
    with an old one is caught the night it arrives, though the old row is outside the night's rows."""
    duplicate = _duplicate_sale(db, loaded)
    try:
        nightly_failures = _scoped_test(nightly, "stg_onec__sales", "changed")
        full_failures = _scoped_test(nightly, "stg_onec__sales", "all")
    finally:
        db.execute("delete from raw.onec_sales where ref_key = %s", (duplicate,))
    assert ("unique_stg_onec__sales_sale_ref" in nightly_failures) is caught_nightly, nightly_failures
    assert "unique_stg_onec__sales_sale_ref" in full_failures, full_failures


def test_nightly_row_rules_read_the_rows_the_run_rebuilt(nightly, db):
    """int_purchases' tests read the rows this dbt invocation rebuilt: a bad row left by an earlier run is found by
    full tests only (a `dbt test` invocation rebuilds nothing)."""
    purchase = db.execute("select purchase_id, delivery_bucket from intermediate.int_purchases "
                          "order by purchase_id limit 1").fetchone()
    db.execute("update intermediate.int_purchases set delivery_bucket = null where purchase_id = %s", (purchase[0],))
    try:
        nightly_failures = _scoped_test(nightly, "int_purchases", "changed")
        full_failures = _scoped_test(nightly, "int_purchases", "all")
    finally:
        db.execute("update intermediate.int_purchases set delivery_bucket = %s where purchase_id = %s",
                   (purchase[1], purchase[0]))
    assert not nightly_failures
    assert "not_null_int_purchases_delivery_bucket" in full_failures, full_failures


def test_marts_row_rules_are_constraints(nightly, db):
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
