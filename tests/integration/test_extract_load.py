"""COPY + upsert into raw against a real Postgres, with in-memory 1C objects (no HTTP)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from nps.extract.errors import QuarantineThresholdExceeded
from nps.extract.load import TableLoad
from nps.extract.mapping import onec_mapping
from nps.extract.parse import identity
from nps.extract.run import ONEC_SPECS, _onec_parser
from nps.tokens import sale_survey_id

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
LO, HI = datetime(2026, 1, 1), datetime(2026, 3, 2, 1, 0)


def ref(n: int) -> str:
    return str(uuid.UUID(int=n))


def sale(n: int, version: str = "v1", lines: int = 2, **over) -> dict:
    obj = {"Ref_Key": ref(n), "DataVersion": version, "DeletionMark": False, "Number": f"S-{n}",
           "Date": "2026-02-20T10:00:00", "Posted": True, "Заказ_Key": ref(10_000 + n), "Контрагент_Key": ref(99),
           "СуммаДокумента": 100 * lines,
           "Товары": [{"Ref_Key": ref(n), "LineNumber": str(i + 1), "Номенклатура_Key": ref(500 + i),
                       "Количество": 1, "Цена": 100, "Сумма": 100} for i in range(lines)]}
    obj.update(over)
    return obj


def load_sales(url: str, objs: list, *, gone=(), threshold: float = 0.05, run_id: str = "r1", skip: bool = True,
               page: int = 2):
    section = onec_mapping()["sales"]
    parser, key = _onec_parser("sales", section)
    with psycopg.connect(url) as conn:
        load = TableLoad(conn, ONEC_SPECS["sales"], parser, key, run_id=run_id, loaded_at=AT, threshold=threshold,
                         label="1C sales", identify=identity("Ref_Key", "DataVersion") if skip else None)
        try:
            load.begin(LO, HI)
            raws = [json.dumps(o, ensure_ascii=False).encode() for o in objs]
            for i in range(0, len(raws), page):  # several pages: the database thread works page by page
                load.add_page(raws[i:i + page])
            missing = load.vanished()
            stats = load.finish(gone)
            conn.commit()
        finally:
            load.abort()
    return stats, missing


@pytest.fixture
def clean(db):
    db.execute("truncate raw.onec_sales, raw.onec_sale_lines, raw.quarantine")
    yield db
    db.execute("truncate raw.onec_sales, raw.onec_sale_lines, raw.quarantine")


def test_first_load_then_rerun_changes_nothing(clean, warehouse_url):
    stats, _ = load_sales(warehouse_url, [sale(1), sale(2, lines=3)])
    assert (stats["read"], stats["inserted"], stats["updated"], stats["lines_written"]) == (2, 2, 0, 5)
    row = clean.execute("select number, sale_date, customer_ref, amount, posted, _source_version, payload->>'Number',"
                        " _loaded_at from raw.onec_sales where ref_key = %s", (ref(2),)).fetchone()
    assert row[:7] == ("S-2", datetime(2026, 2, 20, 10), ref(99), 300, True, "v1", "S-2")
    # the sale's survey is written with the row, for nps.responses.known and dbt to read
    assert dict(clean.execute("select ref_key, survey_id from raw.onec_sales").fetchall()) == {
        ref(n): sale_survey_id(ref(n)) for n in (1, 2)}
    before = clean.execute("select ctid, xmin from raw.onec_sales order by ref_key").fetchall()
    lines_before = clean.execute("select ctid, xmin from raw.onec_sale_lines order by 1").fetchall()
    for skip in (True, False):  # skipped before parsing (stored version known) or by the upsert's where clause
        stats, _ = load_sales(warehouse_url, [sale(1), sale(2, lines=3)], run_id="r2", skip=skip)
        assert (stats["inserted"], stats["updated"], stats["unchanged"], stats["lines_written"]) == (0, 0, 2, 0)
        assert clean.execute("select ctid, xmin from raw.onec_sales order by ref_key").fetchall() == before
        assert clean.execute("select ctid, xmin from raw.onec_sale_lines order by 1").fetchall() == lines_before


def test_new_version_rewrites_document_and_replaces_lines(clean, warehouse_url):
    load_sales(warehouse_url, [sale(1, lines=3)])
    stats, _ = load_sales(warehouse_url, [sale(1, version="v2", lines=1, Posted=False)])
    assert (stats["inserted"], stats["updated"]) == (0, 1)
    assert clean.execute("select posted, _source_version from raw.onec_sales").fetchone() == (False, "v2")
    assert clean.execute("select line_number from raw.onec_sale_lines").fetchall() == [(1,)]


def test_vanished_documents_are_marked_not_dropped(clean, warehouse_url):
    load_sales(warehouse_url, [sale(1), sale(2), sale(3, Date="2025-06-01T00:00:00")])
    stats, missing = load_sales(warehouse_url, [sale(1)], gone=[ref(2)])
    assert missing == [ref(2)]  # sale 3 is outside the window: not a candidate
    assert stats["vanished"] == 1
    rows = dict(clean.execute("select ref_key, deletion_mark from raw.onec_sales").fetchall())
    assert rows == {ref(1): False, ref(2): True, ref(3): False}
    # a re-run does not touch it again, and the lines stay
    stats, missing = load_sales(warehouse_url, [sale(1)], gone=[ref(2)])
    assert missing == [] and stats["vanished"] == 0
    assert clean.execute("select count(*) from raw.onec_sale_lines where sale_ref = %s", (ref(2),)).fetchone()[0] == 2


def test_bad_rows_quarantined_once_and_threshold(clean, warehouse_url):
    good = [sale(n) for n in range(1, 40)]
    bad = sale(40, Date="yesterday")
    no_key = sale(41)
    del no_key["Ref_Key"]
    stats, _ = load_sales(warehouse_url, [*good, bad, no_key], threshold=0.10)
    assert (stats["read"], stats["inserted"], stats["quarantined"]) == (41, 39, 2)
    q = clean.execute("select source, source_key, reason, payload->>'Number' from raw.quarantine "
                      "order by source_key nulls first").fetchall()
    assert q == [("onec.sales", None, "Ref_Key is missing", "S-41"),
                 ("onec.sales", ref(40), "Date is not a 1C date: 'yesterday'", "S-40")]
    load_sales(warehouse_url, [*good, bad, no_key], threshold=0.10)  # same day again: no duplicates
    assert clean.execute("select count(*) from raw.quarantine").fetchone()[0] == 2
    # above the threshold: nothing of the batch is loaded, the bad rows are still recorded, the message says why
    with pytest.raises(QuarantineThresholdExceeded, match=r"1C sales: 2 of 41 rows .*4.9% > 2.0%.*Date is not"):
        load_sales(warehouse_url, [sale(n, version="v9") for n in range(1, 40)] + [bad, no_key], threshold=0.02)
    assert clean.execute("select count(*) from raw.onec_sales where _source_version = 'v9'").fetchone()[0] == 0
    assert clean.execute("select count(*) from raw.quarantine").fetchone()[0] == 2


def test_duplicates_within_a_read_are_loaded_once(clean, warehouse_url):
    stats, _ = load_sales(warehouse_url, [sale(1), sale(1), sale(2)])
    assert (stats["read"], stats["duplicate"], stats["inserted"]) == (3, 1, 2)


def test_text_with_tabs_newlines_and_backslashes_roundtrips(clean, warehouse_url):
    odd = sale(7, Number="S\t7\\a", Комментарий='рядок 1\nрядок 2\r\t"лапки" \\ кінець')
    load_sales(warehouse_url, [odd])
    number, payload = clean.execute("select number, payload from raw.onec_sales").fetchone()
    assert number == "S\t7\\a" and payload == odd
