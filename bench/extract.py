"""Workload 1: extract + load the fake 1C's sales documents with their lines into `raw`.

ours   : `nps.extract.run_onec(..., entities=("sales",))` (OData paging with prefetch, COPY + upsert into raw)
anchor : dlt (the common pick): its `rest_api` source paging the same OData set ($top/$skip) into Postgres
limit  : `COPY` of the very rows ours stored (raw.onec_sales + raw.onec_sale_lines), from local CSV files
The 1C fake runs in a process of its own (bench/_fake.py), so the client and the server do not share one GIL.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from bench.common import Result, Row, RssSampler, fake_process, fmt, generated_data, throwaway_db, verdict

KYIV = ZoneInfo("Europe/Kyiv")
SALES_SET = "Document_РеализацияТоваровУслуг"
SIZES = {"full": (1_000_000, 40_000), "quick": (20_000, 800)}  # (purchase lines, customers)


def _window(data: Path) -> tuple[datetime, datetime]:
    meta = json.loads((data / "meta" / "summary.json").read_text())
    start = datetime.fromisoformat(meta["start"]).replace(tzinfo=KYIV)
    # shipments trail their orders by days: a generous end covers every generated document
    return start - timedelta(days=1), start + timedelta(days=int(meta["days"]) + 60)


def load_ours(root: str, dsn: str, start: datetime, end: datetime) -> tuple[float, int, int]:
    from nps.extract import run_onec
    from nps.extract.onec import OneCClient

    t0 = time.perf_counter()
    with OneCClient(root, "odata", "odata") as client:
        run_onec(start, end, "bench", client=client, dsn=dsn, lookback_days=0, entities=("sales",))
    seconds = time.perf_counter() - t0
    with psycopg.connect(dsn) as conn:
        docs = conn.execute("select count(*) from raw.onec_sales").fetchone()[0]
        lines = conn.execute("select count(*) from raw.onec_sale_lines").fetchone()[0]
    return seconds, docs, lines


def load_copy_limit(dsn: str) -> float:
    """COPY the rows ours stored back in from local CSV files (written before the clock starts)."""
    with tempfile.TemporaryDirectory(prefix="nps-bench-csv-") as tmp, psycopg.connect(dsn, autocommit=True) as conn:
        files = {}
        for table in ("onec_sales", "onec_sale_lines"):
            path = Path(tmp) / f"{table}.csv"
            with path.open("wb") as out, conn.cursor().copy(f"copy raw.{table} to stdout (format csv)") as copy:
                for chunk in copy:
                    out.write(chunk)
            conn.execute("create schema if not exists bench_limit")
            conn.execute(f"create table bench_limit.{table} (like raw.{table} including all)")
            files[table] = path
        t0 = time.perf_counter()
        with conn.transaction():
            for table, path in files.items():
                with path.open("rb") as src, conn.cursor().copy(f"copy bench_limit.{table} from stdin (format csv)") \
                        as copy:
                    while chunk := src.read(1 << 20):
                        copy.write(chunk)
        return time.perf_counter() - t0


def load_dlt(root: str, dsn: str, page_size: int) -> tuple[float, int, int]:
    """dlt's REST API source over the same OData set, into Postgres (dataset `dlt_raw`), nested lines as a child."""
    import os

    # dlt's default snake_case naming drops non-ASCII: 1C's Cyrillic fields (and the lines' table) would vanish
    os.environ["SCHEMA__NAMING"] = "direct"
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source({
        "client": {
            "base_url": root,
            "auth": {"type": "http_basic", "username": "odata", "password": "odata"},
            "paginator": {"type": "offset", "limit": page_size, "offset_param": "$skip", "limit_param": "$top",
                          "total_path": None, "stop_after_empty_page": True},
        },
        "resources": [{"name": "onec_sales", "endpoint": {
            "path": SALES_SET, "params": {"$format": "json", "$orderby": "Ref_Key"}, "data_selector": "value"}}],
    })
    with tempfile.TemporaryDirectory(prefix="nps-bench-dlt-") as tmp:
        pipeline = dlt.pipeline(pipeline_name="nps_bench_dlt", pipelines_dir=tmp,
                                destination=dlt.destinations.postgres(credentials=dsn), dataset_name="dlt_raw")
        t0 = time.perf_counter()
        pipeline.run(source)
        seconds = time.perf_counter() - t0
    with psycopg.connect(dsn) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'dlt_raw' "
            "and table_name like 'onec_sales%%'").fetchall()]
        docs = conn.execute("select count(*) from dlt_raw.onec_sales").fetchone()[0]
        children = [t for t in tables if t != "onec_sales"]
        lines = sum(conn.execute(f'select count(*) from dlt_raw."{t}"').fetchone()[0] for t in children)
    return seconds, docs, lines


def run(quick: bool = False, lines: int | None = None, customers: int | None = None,
        with_dlt: bool = True) -> Result:
    from nps.extract.onec import DEFAULT_PAGE_SIZE

    target_lines, n_customers = SIZES["quick" if quick else "full"]
    target_lines, n_customers = lines or target_lines, customers or n_customers
    logging.getLogger("dlt").setLevel(logging.WARNING)
    data = generated_data(target_lines, n_customers)
    start, end = _window(data)
    result = Result("extract + load 1C sales into raw", f"{target_lines:,} purchase lines requested")
    with RssSampler() as rss, fake_process("onec", data) as root:
        with throwaway_db("nps_bench_extract") as dsn:
            ours_s, docs, got_lines = load_ours(root, dsn, start, end)
            limit_s = load_copy_limit(dsn)
        dlt_s = dlt_docs = dlt_lines = None
        if with_dlt:
            with throwaway_db("nps_bench_dlt") as dsn:
                dlt_s, dlt_docs, dlt_lines = load_dlt(root, dsn, DEFAULT_PAGE_SIZE)
    rows = docs + got_lines
    result.scale = f"{got_lines:,} purchase lines in {docs:,} sales documents"
    budget = 60 * got_lines / 1_000_000  # the 60 s per 1M lines, at this run's size
    result.rows.append(Row("wall time", f"{fmt(ours_s)} s", "-", "-",
                           "<= 60 s" if got_lines >= 1_000_000 else f"<= {budget:.1f} s (60 s per 1M lines)",
                           verdict(ours_s <= max(budget, 60 if got_lines >= 1_000_000 else 0))))
    result.rows.append(Row("rows/s (documents + lines)", fmt(rows / ours_s)))
    if dlt_s is not None:
        same = (dlt_docs, dlt_lines) == (docs, got_lines)
        result.rows.append(Row("vs dlt rest_api -> postgres", f"{fmt(ours_s)} s", f"{fmt(dlt_s)} s",
                               f"{dlt_s / ours_s:.2f}x faster", ">= 2x", verdict(dlt_s / ours_s >= 2)))
        if not same:
            result.notes.append(f"dlt loaded {dlt_docs:,} documents / {dlt_lines:,} lines (ours {docs:,} / "
                                f"{got_lines:,})")
    result.rows.append(Row("vs COPY from local CSV (limit)", f"{fmt(ours_s)} s", f"{fmt(limit_s)} s",
                           f"{limit_s / ours_s:.0%} of the limit", ">= 50 %", verdict(limit_s / ours_s >= 0.5)))
    result.peak_rss_mib = rss.peaks
    result.raw = {"ours_s": ours_s, "dlt_s": dlt_s, "copy_limit_s": limit_s, "documents": docs, "lines": got_lines,
                  "dlt_documents": dlt_docs, "dlt_lines": dlt_lines}
    return result
