"""run_onec over HTTP against the fake 1C (nps_dev.fakes) and a real Postgres: first load, edits, deletions,
un-posting, re-runs, quarantine, and the errors a task log must explain."""

from __future__ import annotations

import copy
import json
import os
import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from nps.extract import run_onec
from nps.extract.errors import QuarantineThresholdExceeded
from nps.extract.onec import OneCClient
from nps.sources import RetryPolicy, SourceAuthError, SourceUnavailable

KYIV = ZoneInfo("Europe/Kyiv")
SALES, ORDERS = "Document_РеализацияТоваровУслуг", "Document_ЗаказКлиента"
CUSTOMERS, DELIVERIES = "Catalog_Контрагенты", "InformationRegister_ДоставкаЗаказов"
END = datetime(2026, 2, 18, 1, 0, tzinfo=KYIV)  # the generated documents run to 2026-02-17
START = END - timedelta(days=1)
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
RAW = ("raw.onec_customers", "raw.onec_orders", "raw.onec_order_lines", "raw.onec_sales", "raw.onec_sale_lines",
       "raw.onec_deliveries", "raw.quarantine")


@pytest.fixture(scope="module")
def onec(fake_data_dir, tmp_path_factory):
    """A 1C fake of our own (these tests edit its data) over a copy of the session's generated data."""
    from nps_dev.fakes.onec import OneCFake

    data = tmp_path_factory.mktemp("onec-extract")
    shutil.copytree(fake_data_dir / "onec", data / "onec")
    fake = OneCFake(data / "onec").start()
    yield fake
    fake.stop()


@pytest.fixture
def raw(db):
    db.execute(f"truncate {', '.join(RAW)}")
    yield db
    db.execute(f"truncate {', '.join(RAW)}")  # the session's warehouse is shared with other tests


def client(onec, **kw) -> OneCClient:
    return OneCClient(onec.service_root, "odata", "odata", retry=FAST, **kw)


def load(onec, warehouse_url, *, run_id="run-1", start=START, end=END, lookback=60, **kw):
    with client(onec, page_size=kw.pop("page_size", 25)) as c:
        return run_onec(start, end, run_id, client=c, dsn=warehouse_url, lookback_days=lookback, **kw)


def count(db, table, where="true"):
    return db.execute(f"select count(*) from {table} where {where}").fetchone()[0]


def test_first_load_matches_1c(onec, raw, warehouse_url):
    stats = load(onec, warehouse_url)
    sales, orders = onec.all(SALES), onec.all(ORDERS)
    assert stats["sales"]["read"] == stats["sales"]["inserted"] == len(sales) == count(raw, "raw.onec_sales")
    assert stats["orders"]["inserted"] == len(orders) == count(raw, "raw.onec_orders")
    assert count(raw, "raw.onec_sale_lines") == sum(len(s["Товары"]) for s in sales)
    assert count(raw, "raw.onec_order_lines") == sum(len(o["Товары"]) for o in orders)
    assert stats["customers"]["inserted"] == len(onec.all(CUSTOMERS)) == count(raw, "raw.onec_customers")
    hi = END.replace(tzinfo=None).isoformat()
    in_window = [d for d in onec.all(DELIVERIES) if d["ДатаДоставки"] < hi]  # incl. the empty date 0001-01-01
    assert stats["deliveries"]["inserted"] == len(in_window) == count(raw, "raw.onec_deliveries")
    assert count(raw, "raw.quarantine") == 0

    doc = sales[3]
    row = raw.execute("select number, sale_date, order_ref, customer_ref, amount, posted, deletion_mark, "
                      "_source_version, payload, _run_id from raw.onec_sales where ref_key = %s",
                      (doc["Ref_Key"],)).fetchone()
    assert row[:8] == (doc["Number"], datetime.fromisoformat(doc["Date"]), doc["Заказ_Key"], doc["Контрагент_Key"],
                       Decimal(str(doc["СуммаДокумента"])), doc["Posted"], doc["DeletionMark"], doc["DataVersion"])
    assert row[8] == doc and row[9] == "run-1"  # the object exactly as 1C sent it
    # the currency reference resolved through Catalog_Валюты to its code (what the quality gate knows)
    assert {r[0] for r in raw.execute("select distinct currency from raw.onec_sales")} == {"980"}
    lines = raw.execute("select line_number, product_ref, quantity, price, amount from raw.onec_sale_lines "
                        "where sale_ref = %s order by 1", (doc["Ref_Key"],)).fetchall()
    assert [(n, p, float(q), float(c), float(a)) for n, p, q, c, a in lines] == [
        (int(li["LineNumber"]), li["Номенклатура_Key"], li["Количество"], li["Цена"], li["Сумма"])
        for li in doc["Товары"]]
    cust = raw.execute("select code, name, legal_kind, email, region_raw from raw.onec_customers "
                       "where email is not null limit 1").fetchone()
    assert cust[2] in ("company", "person") and "@" in cust[3] and cust[4]
    promised = raw.execute("select count(*) from raw.onec_orders where promised_date is not null").fetchone()[0]
    assert promised == len(orders)


def test_rerun_of_the_same_day_changes_nothing(onec, raw, warehouse_url):
    load(onec, warehouse_url)
    snapshot = {t: raw.execute(f"select ctid, xmin from {t} order by ctid").fetchall() for t in RAW}
    stats = load(onec, warehouse_url, run_id="run-2")
    for entity, s in stats.items():
        assert s["inserted"] == s["updated"] == s["vanished"] == 0, entity
        assert s["unchanged"] == s["read"], entity
    assert {t: raw.execute(f"select ctid, xmin from {t} order by ctid").fetchall() for t in RAW} == snapshot


def test_edit_in_1c_is_picked_up_and_lines_replaced(onec, raw, warehouse_url):
    load(onec, warehouse_url)
    sale = copy.deepcopy(onec.all(SALES)[5])
    sale["Товары"] = sale["Товары"][:1]
    sale["Товары"][0]["Количество"] = 999
    sale["СуммаДокумента"] = 1.5
    new = onec.upsert(SALES, sale)  # 1C writes a new DataVersion
    stats = load(onec, warehouse_url, run_id="run-edit")
    assert (stats["sales"]["updated"], stats["sales"]["inserted"]) == (1, 0)
    assert stats["orders"]["updated"] == 0
    row = raw.execute("select amount, _source_version, _run_id from raw.onec_sales where ref_key = %s",
                      (sale["Ref_Key"],)).fetchone()
    assert (float(row[0]), row[1], row[2]) == (1.5, new["DataVersion"], "run-edit")
    assert raw.execute("select line_number, quantity from raw.onec_sale_lines where sale_ref = %s",
                       (sale["Ref_Key"],)).fetchall() == [(1, 999)]


def test_deleted_marked_and_unposted_documents_become_cancelled(onec, raw, warehouse_url):
    load(onec, warehouse_url)
    sales = onec.all(SALES)
    gone, marked, unposted = sales[10], sales[11], sales[12]
    onec.delete(SALES, gone["Ref_Key"])  # physically deleted in 1C
    onec.upsert(SALES, {**marked, "DeletionMark": True})
    onec.upsert(SALES, {**unposted, "Posted": False})
    stats = load(onec, warehouse_url, run_id="run-del")
    assert stats["sales"]["vanished"] == 1 and stats["sales"]["updated"] == 2
    rows = dict((r[0], r[1:]) for r in raw.execute(
        "select ref_key, deletion_mark, posted, _run_id from raw.onec_sales where ref_key = any(%s)",
        ([gone["Ref_Key"], marked["Ref_Key"], unposted["Ref_Key"]],)))
    assert rows[gone["Ref_Key"]] == (True, True, "run-del")  # kept, marked: never silently dropped
    assert rows[marked["Ref_Key"]] == (True, True, "run-del")
    assert rows[unposted["Ref_Key"]] == (False, False, "run-del")
    assert count(raw, "raw.onec_sale_lines", f"sale_ref = '{gone['Ref_Key']}'") == len(gone["Товары"])
    # once marked, a re-run leaves it alone
    assert load(onec, warehouse_url, run_id="run-del-2")["sales"]["vanished"] == 0
    onec.upsert(SALES, gone)  # restore the shared data for the other tests
    onec.upsert(SALES, marked)
    onec.upsert(SALES, unposted)


def test_document_moved_out_of_the_window_is_not_cancelled(onec, raw, warehouse_url):
    load(onec, warehouse_url)
    sale = onec.all(SALES)[20]
    onec.upsert(SALES, {**sale, "Date": "2025-06-01T10:00:00"})  # re-dated before the look-back
    stats = load(onec, warehouse_url, run_id="run-moved")
    assert stats["sales"]["vanished"] == 0 and stats["sales"]["updated"] == 1
    assert raw.execute("select deletion_mark, sale_date from raw.onec_sales where ref_key = %s",
                       (sale["Ref_Key"],)).fetchone() == (False, datetime(2025, 6, 1, 10))
    onec.upsert(SALES, sale)


def test_deliveries_window_and_register_changes(onec, raw, warehouse_url):
    load(onec, warehouse_url)
    record = next(d for d in onec.all(DELIVERIES) if d["Статус"] == "Доставлена")
    onec.upsert(DELIVERIES, {**record, "Статус": "Возврат"})
    stats = load(onec, warehouse_url, run_id="run-dlv")
    assert stats["deliveries"]["updated"] == 1
    assert raw.execute("select status from raw.onec_deliveries where order_ref = %s",
                       (record["Заказ_Key"],)).fetchone() == ("Возврат",)
    onec.delete(DELIVERIES, {**record, "Статус": "Возврат"})  # the register record removed in 1C
    stats = load(onec, warehouse_url, run_id="run-dlv-2")
    assert stats["deliveries"]["vanished"] == 1
    assert count(raw, "raw.onec_deliveries", f"order_ref = '{record['Заказ_Key']}'") == 0
    onec.upsert(DELIVERIES, record)


def test_malformed_rows_are_quarantined_and_the_run_continues(onec, raw, warehouse_url, caplog):
    sales = onec.all(SALES)
    bad = {**sales[0], "Ref_Key": "5a1e0000-0000-4000-8000-00000000bad1", "Date": "31.12.2025"}
    keyless = {k: v for k, v in sales[1].items() if k != "Ref_Key"}
    keyless["Number"] = "NO-KEY"
    onec.upsert(SALES, bad)
    keyless_ref = "5a1e0000-0000-4000-8000-00000000bad2"
    onec.upsert(SALES, {**keyless, "Ref_Key": keyless_ref})
    # the fake needs a key to store it: blank it in the stored object, as a broken 1C extension might
    onec.get(SALES, keyless_ref)["Ref_Key"] = ""
    try:
        with caplog.at_level("INFO"):
            stats = load(onec, warehouse_url)
        assert stats["sales"]["quarantined"] == 1
        # Date "31.12.2025" sorts after any window's end: found by the undated read, not the window's
        assert stats["sales"]["undated"] == 1
        stats_all = load(onec, warehouse_url, start=datetime(2025, 12, 31, tzinfo=KYIV), lookback=0)
        q = raw.execute("select source, source_key, reason, payload->>'Number' from raw.quarantine "
                        "order by reason").fetchall()
        assert ("onec.sales", None, "Ref_Key is empty", "NO-KEY") in q
        assert stats_all["sales"]["quarantined"] == 1 and stats_all["sales"]["undated"] == 1
        assert count(raw, "raw.quarantine") == 2  # the same bad rows, twice read, once recorded each
        assert count(raw, "raw.onec_sales") == len(sales)  # every good document still loaded
        assert "1C summary" in caplog.text and "quarantined" in caplog.text
    finally:
        onec.delete(SALES, bad["Ref_Key"])
        onec.sets[SALES].delete(keyless_ref)


def test_documents_without_a_usable_date_are_reported_every_night(onec, raw, warehouse_url, caplog):
    sales, orders = onec.all(SALES), onec.all(ORDERS)
    empty = {**sales[0], "Ref_Key": "da7e0000-0000-4000-8000-000000000001", "Date": "0001-01-01T00:00:00"}
    typo = {**sales[1], "Ref_Key": "da7e0000-0000-4000-8000-000000000002", "Date": "3026-02-01T00:00:00"}
    missing = {k: v for k, v in orders[0].items() if k != "Date"} | {"Ref_Key": "da7e0000-0000-4000-8000-000000000003"}
    for set_name, doc in ((SALES, empty), (SALES, typo), (ORDERS, missing)):
        onec.upsert(set_name, doc)
    try:
        with caplog.at_level("WARNING"):
            stats = load(onec, warehouse_url)
        assert (stats["sales"]["undated"], stats["orders"]["undated"]) == (2, 1)
        assert stats["sales"]["quarantined"] == stats["orders"]["quarantined"] == 0  # not in the threshold's share
        assert count(raw, "raw.onec_sales") == len(sales) and count(raw, "raw.onec_orders") == len(orders)
        q = dict(raw.execute("select source_key, source || ': ' || reason from raw.quarantine").fetchall())
        assert q == {
            empty["Ref_Key"]: "onec.sales: Date is empty: no date window reads this document",
            typo["Ref_Key"]: "onec.sales: Date 3026-02-01T00:00:00 is beyond any date window: this document is never read",
            missing["Ref_Key"]: "onec.orders: Date is missing: no date window reads this document"}
        assert "2 documents have an empty or invalid Date" in caplog.text
        again = load(onec, warehouse_url, run_id="run-2")  # every night again, recorded once
        assert again["sales"]["undated"] == 2 and count(raw, "raw.quarantine") == 3
    finally:
        onec.delete(SALES, empty["Ref_Key"])
        onec.delete(SALES, typo["Ref_Key"])
        onec.delete(ORDERS, missing["Ref_Key"])


def test_quarantine_above_threshold_fails_with_a_clear_message(onec, raw, warehouse_url, monkeypatch):
    load(onec, warehouse_url)
    broken = [onec.upsert(SALES, {**s, "СуммаДокумента": "н/д"}) for s in onec.all(SALES)[:10]]
    originals = {s["Ref_Key"]: s for s in onec.all(SALES)}
    monkeypatch.setenv("NPS_QUARANTINE_THRESHOLD", "0.05")
    try:
        with pytest.raises(QuarantineThresholdExceeded, match=r"1C Document_РеализацияТоваровУслуг: 10 of \d+ rows "
                                                              r"could not be loaded.*СуммаДокумента is not a number"):
            load(onec, warehouse_url, run_id="run-bad")
        assert count(raw, "raw.quarantine", "source = 'onec.sales'") == 10
        # nothing of the failed batch was written; the other entities of the run were loaded
        assert count(raw, "raw.onec_sales", "_run_id = 'run-bad'") == 0
        assert count(raw, "raw.onec_deliveries") > 0
    finally:
        for s in broken:
            fixed = {**s, "СуммаДокумента": 1.0}
            onec.upsert(SALES, fixed)
        assert len(originals) == len(onec.all(SALES))


def test_wrong_password_fails_at_once_naming_1c(onec, warehouse_url):
    bad = OneCClient(onec.service_root, "odata", "wrong", retry=FAST)
    with pytest.raises(SourceAuthError, match=r"1C OData at http://127\.0\.0\.1:\d+/demo/odata/standard\.odata/ "
                                              r"rejected the credentials of connection nps_onec \(401"):
        run_onec(START, END, "r", client=bad, dsn=warehouse_url)
    assert bad.requests == 1


def test_unreachable_1c_retries_then_says_why(warehouse_url):
    from conftest import free_port

    dead = OneCClient(f"http://127.0.0.1:{free_port()}/demo/odata/standard.odata/", "odata", "odata", retry=FAST)
    with pytest.raises(SourceUnavailable, match=r"1C OData at .* \(connection nps_onec\) is unavailable: "
                                                r"ConnectError.* after 3 attempts"):
        run_onec(START, END, "r", client=dead, dsn=warehouse_url)
    assert dead.requests == 3


def test_transient_500s_are_retried(onec, raw, warehouse_url):
    onec.faults.fail_next = 2
    stats = load(onec, warehouse_url, entities=("customers",))
    assert stats["customers"]["inserted"] == len(onec.all(CUSTOMERS))


def test_unknown_entity_set_names_the_mapping(onec, warehouse_url, tmp_path, monkeypatch):
    (tmp_path / "m.yml").write_text("sales:\n  entity_set: Document_Реализация\n", encoding="utf-8")
    monkeypatch.setenv("NPS_ONEC_MAPPING", str(tmp_path / "m.yml"))
    with pytest.raises(Exception, match=r"refused 'Document_Реализация' \(404.*check the names in onec_mapping"):
        load(onec, warehouse_url, entities=("sales",))


def test_connection_from_airflow_env(onec, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NPS_ONEC", json.dumps(
        {"conn_type": "http", "host": onec.service_root, "login": "odata", "password": "odata",
         "extra": {"page_size": 7}}))
    with OneCClient.from_connection() as c:
        assert c.page_size == 7 and c.root == onec.service_root
        assert len(c.page(SALES, top=3)) == 3
    assert os.environ["AIRFLOW_CONN_NPS_ONEC"]
