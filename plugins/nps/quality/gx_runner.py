"""Runs `suites.Suite`s with Great Expectations 1.x and turns its results into result rows.

GX is imported lazily (about 3 s): DAG files and the rest of the package never pay for it. Runtime state lives under
`NPS_GX_DIR` (default `.nps/gx`, git-ignored): validation results accumulate in `validations/` and Data Docs are
rebuilt at `data_docs/index.html`. The datasource holds only the placeholder
`${NPS_GX_WAREHOUSE_URL}`; the value lives in this process's environment, never in a file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from nps.quality.result import CRITICAL
from nps.quality.suites import Asset, Check, Suite

log = logging.getLogger(__name__)

URL_VAR = "NPS_GX_WAREHOUSE_URL"
DATASOURCE = "nps_warehouse"
SAMPLE_KEYS = 10
_lock = threading.Lock()
_contexts: dict[Path, Any] = {}


def sqlalchemy_url(dsn: str) -> str:
    """libpq URL -> SQLAlchemy URL with the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://"):
        if dsn.startswith(prefix):
            return dsn
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix):]
    raise ValueError(f"not a postgres URL: {dsn.split('@')[-1]!r}")


def docs_index(root: Path) -> Path:
    return Path(root) / "data_docs" / "index.html"


def context(root: Path):
    """One GX context per root and process (creating it costs ~0.05 s, importing GX ~3 s).

    Ephemeral (suites and validation definitions live in memory, rebuilt from the Python suites each run: a file
    context re-serialises its whole YAML on every change, which doubled the run time) but with the two things worth
    keeping on disk: validation results (`<root>/validations`, so Data Docs show the history) and Data Docs
    (`<root>/data_docs`).
    """
    with _lock:
        if root not in _contexts:
            import great_expectations as gx
            from great_expectations.data_context.types.base import (
                DataContextConfig,
                InMemoryStoreBackendDefaults,
                ProgressBarsConfig,
            )

            root.mkdir(parents=True, exist_ok=True)
            defaults = InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
            defaults.stores[defaults.validation_results_store_name] = {
                "class_name": "ValidationResultsStore",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(root / "validations")}}
            config = DataContextConfig(
                store_backend_defaults=defaults,
                data_docs_sites={"local_site": {
                    "class_name": "SiteBuilder", "show_how_to_buttons": False,
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                      "base_directory": str(root / "data_docs")},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}},
                progress_bars=ProgressBarsConfig(globally=False),
                analytics_enabled=False)
            _contexts[root] = gx.get_context(project_config=config, mode="ephemeral")
        return _contexts[root]


def _expectation(check: Check):
    import great_expectations.expectations as gxe

    cls = getattr(gxe, check.expectation)
    kwargs = dict(check.kwargs)
    if check.expectation != "UnexpectedRowsExpectation":
        kwargs.setdefault("description", check.description or None)
    return cls(severity=check.severity, meta={"description": check.description, "pii": check.pii}, **kwargs)


def _relation_exists(conn: psycopg.Connection, qualified: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (qualified,)).fetchone()[0]


def _sample_keys_for_rows(conn: psycopg.Connection, asset: Asset, check: Check) -> list[dict]:
    """UnexpectedRows results carry no rows below COMPLETE: read the keys of a few offending rows ourselves."""
    if not asset.key_columns:
        return []
    query = check.kwargs["unexpected_rows_query"].replace("{batch}", asset.relation)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in asset.key_columns)
    stmt = sql.SQL("select {} from ({}) as unexpected limit {}").format(cols, sql.SQL(query), sql.Literal(SAMPLE_KEYS))
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return [dict(r) for r in cur.execute(stmt).fetchall()]


def _column(kwargs: dict) -> str | None:
    if kwargs.get("column"):
        return kwargs["column"]
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def _row(base: dict, suite: Suite, asset: Asset, check: Check, success: bool, **fields) -> dict:
    return {**base, "suite": suite.name, "asset": asset.label, "expectation": _snake(check.expectation),
            "column": _column(check.kwargs), "description": check.description, "success": success,
            "severity": check.severity, "unexpected_count": None, "element_count": None, "sample_keys": [],
            "observed_value": None, **fields}


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return out


def _result_row(base: dict, suite: Suite, asset: Asset, check: Check, res, conn: psycopg.Connection) -> dict:
    data = res.to_json_dict()
    result = data.get("result") or {}
    exc = data.get("exception_info") or {}
    if exc.get("raised_exception"):
        return _row(base, suite, asset, check, False, observed_value={"error": exc.get("exception_message")})
    success = bool(data["success"])
    unexpected = result.get("unexpected_count")
    observed = result.get("observed_value")
    samples: list[dict] = []
    if check.expectation == "UnexpectedRowsExpectation":
        unexpected, observed = observed, None
        if not success:
            samples = _sample_keys_for_rows(conn, asset, check)
    elif not success:
        keys = set(asset.key_columns)
        # multicolumn expectations list the offending column values themselves instead of an index list
        items = result.get("partial_unexpected_index_list") or [
            v for v in result.get("partial_unexpected_list") or [] if isinstance(v, dict)]
        for item in items:
            sample = {k: v for k, v in item.items() if k in keys}
            if sample and sample not in samples:
                samples.append(sample)
        samples = samples[:SAMPLE_KEYS]
        if observed is None and not check.pii and result.get("partial_unexpected_counts"):
            observed = {"unexpected_values": [c["value"] for c in result["partial_unexpected_counts"]][:SAMPLE_KEYS]}
    return _row(base, suite, asset, check, success, unexpected_count=unexpected,
                element_count=result.get("element_count"), sample_keys=samples, observed_value=observed)


def run_suites(dsn: str, suites: list[Suite], run_id: str, logical_date, checked_at: datetime,
               root: Path, build_docs: bool = True) -> tuple[list[dict], str | None, float]:
    """Validate every asset of every suite; returns (rows, Data Docs index path, seconds spent in GX)."""
    started = time.monotonic()
    os.environ[URL_VAR] = sqlalchemy_url(dsn)
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    ctx = context(root)
    ds = ctx.data_sources.add_or_update_postgres(name=DATASOURCE, connection_string="${" + URL_VAR + "}")
    gx_run = RunIdentifier(run_name=run_id, run_time=checked_at)
    base = {"run_id": run_id, "logical_date": logical_date, "checked_at": checked_at}
    rows: list[dict] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for suite in suites:
            for asset in suite.assets:
                if not asset.checks:
                    continue
                missing = asset.table and not _relation_exists(conn, asset.table)
                if missing:
                    # one clear row per check: a missing table is a critical failure, not a crash
                    for check in asset.checks:
                        rows.append(_row(base, suite, asset, check, False, severity=CRITICAL,
                                         observed_value={"error": f"table {asset.table} does not exist"}))
                    continue
                if asset.name in ds.get_asset_names():
                    ds.delete_asset(asset.name)     # queries and tables may change between runs
                if asset.table:
                    schema, _, table = asset.table.partition(".")
                    gx_asset = ds.add_table_asset(name=asset.name, table_name=table, schema_name=schema)
                else:
                    gx_asset = ds.add_query_asset(name=asset.name, query=asset.query)
                batch = gx_asset.add_batch_definition_whole_table("whole_table")
                name = f"{suite.name}.{asset.name}"
                gx_suite = ctx.suites.add_or_update(gx.ExpectationSuite(
                    name=name, expectations=[_expectation(c) for c in asset.checks]))
                vd = ctx.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch,
                                                                                      suite=gx_suite))
                result = vd.run(run_id=gx_run, result_format={
                    "result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_KEYS,
                    "unexpected_index_column_names": list(asset.key_columns)})
                # match results to checks by type and column, not by position
                by_key = {(res.expectation_config.type, _column(res.expectation_config.kwargs)): res
                          for res in result.results}
                for check in asset.checks:
                    res = by_key[(_snake(check.expectation), _column(check.kwargs))]
                    rows.append(_result_row(base, suite, asset, check, res, conn))
    docs = None
    if build_docs:
        ctx.build_data_docs()
        docs = str(docs_index(root))
        log.info("Data Docs: %s", docs)
        print(f"Data Docs: {docs}")
    return rows, docs, time.monotonic() - started
