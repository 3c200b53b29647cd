"""Runs the suites of `expectations/` (see `suites`) with Great Expectations 1.x and turns results into result rows.

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

from nps.quality.result import CRITICAL
from nps.quality.suites import Suite

log = logging.getLogger(__name__)

URL_VAR = "NPS_GX_WAREHOUSE_URL"
DATASOURCE = "nps_warehouse"
SAMPLE_KEYS = 10
_lock = threading.Lock()
_contexts: dict[Path, Any] = {}
_datasource_dsn: dict[Path, str] = {}


def sqlalchemy_url(dsn: str) -> str:
    """libpq URL -> SQLAlchemy URL with the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://"):
        if dsn.startswith(prefix):
            return dsn
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix):]
    raise ValueError(f"not a postgres URL: {dsn.split('@')[-1]!r}")


def _datasource(ctx, root: Path, dsn: str):
    """The warehouse datasource, reused while the DSN stays the same (each new one opens its own engine/pool)."""
    with _lock:
        if _datasource_dsn.get(root) == dsn:
            return ctx.data_sources.get(DATASOURCE)
        if DATASOURCE in ctx.data_sources.all():
            try:
                ctx.data_sources.get(DATASOURCE).get_engine().dispose()
            except Exception:  # an engine that never connected has nothing to dispose
                log.debug("no engine to dispose", exc_info=True)
        ds = ctx.data_sources.add_or_update_postgres(name=DATASOURCE, connection_string="${" + URL_VAR + "}")
        _datasource_dsn[root] = dsn
        return ds


def docs_index(root: Path) -> Path:
    return Path(root) / "data_docs" / "index.html"


def context(root: Path):
    """One GX context per root and process (creating it costs ~0.05 s, importing GX ~3 s).

    Ephemeral (suites and validation definitions live in memory, loaded from `expectations/` each run: a file
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


def prune(root: Path, keep_days: int | None = None) -> int:
    """Disk hygiene: drop stored validation results and their pages older than NPS_GX_KEEP_DAYS (default 30).

    By file age, not business time: the history that matters is in quality.expectation_results."""
    keep = keep_days if keep_days is not None else int(os.environ.get("NPS_GX_KEEP_DAYS") or 30)
    cutoff = time.time() - keep * 86_400
    removed = 0
    for folder, pattern in ((root / "validations", "*.json"), (root / "data_docs" / "validations", "*.html")):
        for path in folder.rglob(pattern) if folder.exists() else ():
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def _relation_exists(conn: psycopg.Connection, qualified: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (qualified,)).fetchone()[0]


def _column(kwargs: dict) -> str | None:
    if kwargs.get("column"):
        return kwargs["column"]
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def _row(base: dict, expectation: dict, success: bool, **fields) -> dict:
    """One result row; `expectation` as GX serialises it (type, kwargs, description, severity)."""
    return {**base, "expectation": expectation["type"], "column": _column(expectation["kwargs"]),
            "description": expectation["description"], "success": success, "severity": expectation["severity"],
            "unexpected_count": None, "element_count": None, "sample_keys": [], "observed_value": None, **fields}


def _result_row(base: dict, asset: dict, res) -> dict:
    data = res.to_json_dict()
    expectation = data["expectation_config"]
    result = data.get("result") or {}
    exc = data.get("exception_info") or {}
    if exc.get("raised_exception"):
        return _row(base, expectation, False, observed_value={"error": exc.get("exception_message")})
    success = bool(data["success"])
    unexpected = result.get("unexpected_count")
    observed = result.get("observed_value")
    samples: list[dict] = []
    if not success:
        keys = set(asset["key_columns"])
        # multicolumn expectations list the offending column values themselves instead of an index list
        items = result.get("partial_unexpected_index_list") or [
            v for v in result.get("partial_unexpected_list") or [] if isinstance(v, dict)]
        for item in items:
            sample = {k: v for k, v in item.items() if k in keys}
            if sample and sample not in samples:
                samples.append(sample)
        samples = samples[:SAMPLE_KEYS]
        if observed is None and result.get("partial_unexpected_counts"):
            observed = {"unexpected_values": [c["value"] for c in result["partial_unexpected_counts"]][:SAMPLE_KEYS]}
    return _row(base, expectation, success, unexpected_count=unexpected, element_count=result.get("element_count"),
                sample_keys=samples, observed_value=observed)


def run_suites(dsn: str, suites: list[Suite], run_id: str, logical_date, checked_at: datetime,
               root: Path, build_docs: bool = True) -> tuple[list[dict], str | None, float]:
    """Validate each file of each suite against its asset; returns (rows, Data Docs index path, seconds in GX)."""
    started = time.monotonic()
    os.environ[URL_VAR] = sqlalchemy_url(dsn)
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    ctx = context(root)
    ds = _datasource(ctx, root, dsn)
    gx_run = RunIdentifier(run_name=run_id, run_time=checked_at)
    built: list = []
    rows: list[dict] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for suite in suites:
            for part in suite.parts:
                asset = part["meta"]["asset"]
                base = {"run_id": run_id, "logical_date": logical_date, "checked_at": checked_at,
                        "suite": suite.name, "asset": asset.get("label") or asset["table"]}
                if "table" in asset and not _relation_exists(conn, asset["table"]):
                    # one clear row per expectation: a missing table is a critical failure, not a crash
                    rows += [_row(base, e, False, severity=CRITICAL,
                                  observed_value={"error": f"table {asset['table']} does not exist"})
                             for e in part["expectations"]]
                    continue
                name = part["name"]
                asset_name = name.partition(".")[2]
                if asset_name in ds.get_asset_names():
                    ds.delete_asset(asset_name)     # queries and tables may change between runs
                if "table" in asset:
                    schema, _, table = asset["table"].partition(".")
                    gx_asset = ds.add_table_asset(name=asset_name, table_name=table, schema_name=schema)
                else:
                    gx_asset = ds.add_query_asset(name=asset_name, query=asset["query"])
                batch = gx_asset.add_batch_definition_whole_table("whole_table")
                gx_suite = ctx.suites.add_or_update(gx.ExpectationSuite(**part))
                vd = ctx.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch,
                                                                                      suite=gx_suite))
                result = vd.run(run_id=gx_run, expectation_parameters=suite.parameters, result_format={
                    "result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_KEYS,
                    "unexpected_index_column_names": asset["key_columns"]})
                suite_id = ExpectationSuiteIdentifier(name=name)
                built += [suite_id, ValidationResultIdentifier(expectation_suite_identifier=suite_id, run_id=gx_run,
                                                               batch_identifier=result.batch_id)]
                rows += [_result_row(base, asset, res) for res in result.results]
    docs = None
    if build_docs and built:
        prune(root)
        # render only this run's pages (a full build re-renders every kept result); the index lists them all
        ctx.build_data_docs(resource_identifiers=built)
        docs = str(docs_index(root))
        log.info("Data Docs: %s", docs)
        print(f"Data Docs: {docs}")
    return rows, docs, time.monotonic() - started
