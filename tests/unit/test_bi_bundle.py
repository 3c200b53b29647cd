"""The dashboard bundle built from bi/dashboard.yaml, without Superset: consistent references, columns from the dbt
contracts, no NPS arithmetic in the BI layer, clear errors for a broken spec."""

from __future__ import annotations

import copy
import io
import re
import zipfile

import pytest
import yaml

from nps_dev import bi

DB_URL = "postgresql://nps_bi:s3cret@127.0.0.1:5432/nps"


def _files(raw: bytes) -> dict[str, dict]:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return {name.split("/", 1)[1]: yaml.safe_load(archive.read(name)) for name in archive.namelist()}


def test_bundle_references_resolve_and_the_layout_holds_every_chart():
    files = _files(bi.bundle(DB_URL))
    assert files["metadata.yaml"]["type"] == "Dashboard"
    database = files["databases/nps_warehouse.yaml"]
    assert database["sqlalchemy_uri"] == "postgresql+psycopg2://nps_bi:s3cret@127.0.0.1:5432/nps"
    datasets = {f["uuid"]: f for name, f in files.items() if name.startswith("datasets/")}
    charts = {f["uuid"]: f for name, f in files.items() if name.startswith("charts/")}
    assert all(d["database_uuid"] == database["uuid"] and d["schema"] == "marts" for d in datasets.values())
    assert all(c["dataset_uuid"] in datasets for c in charts.values())
    (dashboard,) = [f for name, f in files.items() if name.startswith("dashboards/")]
    placed = {node["meta"]["uuid"] for node in dashboard["position"].values()
              if isinstance(node, dict) and node.get("type") == "CHART"}
    assert placed == set(charts)
    # every metric a chart names is one its dataset defines
    for chart in charts.values():
        params = chart["params"]
        names = params.get("metrics") or ([params["metric"]] if "metric" in params else [])
        defined = {m["metric_name"] for m in datasets[chart["dataset_uuid"]]["metrics"]}
        assert set(names) <= defined, chart["slice_name"]
    # the same names give the same UUIDs: a re-import replaces, never duplicates
    assert set(charts) == {f["uuid"] for n, f in _files(bi.bundle(DB_URL)).items() if n.startswith("charts/")}


def test_dataset_columns_come_from_the_dbt_contracts():
    files = _files(bi.bundle(DB_URL, kind="assets"))
    assert files["metadata.yaml"]["type"] == "assets"
    region = files["datasets/nps_warehouse/nps_by_region.yaml"]
    columns = {c["column_name"]: c for c in region["columns"]}
    contract = {c["name"]: c for c in bi.mart_columns()["nps_by_region"]}
    assert set(columns) == set(contract)
    assert columns["month"]["is_dttm"] and not columns["nps"]["is_dttm"]
    assert columns["nps_moe_95"]["description"] == contract["nps_moe_95"]["description"]
    assert region["main_dttm_col"] == "month"


def test_the_dashboard_never_computes_nps_itself():
    """NPS figures are mart values (the dbt macro's): the BI layer may pick a row's value, not redo the formula."""
    spec = bi.load_spec()
    for dataset in spec["datasets"].values():
        for metric in dataset.get("metrics", {}).values():
            assert not re.search(r"promoters|detractors", metric["sql"]) or "cases" in metric["sql"], metric


def test_a_broken_spec_says_what_is_wrong():
    spec = bi.load_spec()
    bad = copy.deepcopy(spec)
    bad["charts"]["nps_30d"]["dataset"] = "nps_weekly"
    with pytest.raises(bi.BiError, match="nps_weekly"):
        bi.bundle(DB_URL, bi.check_spec(bad))
    bad = copy.deepcopy(spec)
    bad["layout"][0].append(["no_such_chart", 1])
    with pytest.raises(bi.BiError, match="no_such_chart"):
        bi.check_spec(bad)
    with pytest.raises(bi.BiError, match="postgresql://"):
        bi.superset_uri("mysql://nps_bi@host/nps")
