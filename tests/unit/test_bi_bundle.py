"""The dashboard bundle built from bi/dashboard.yaml, without Superset: consistent references, columns from the dbt
contracts, no NPS arithmetic in the BI layer, clear errors for a broken spec."""

from __future__ import annotations

import copy
import io
import re
import zipfile

import pytest
import yaml

from nps import bi

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
    next(iter(bad["tabs"].values()))[0].append(["no_such_chart", 1])
    with pytest.raises(bi.BiError, match="no_such_chart"):
        bi.check_spec(bad)
    bad = copy.deepcopy(spec)
    next(iter(bad["tabs"].values())).append([["nps_30d", 3]])
    with pytest.raises(bi.BiError, match="nps_30d.*placed twice"):
        bi.check_spec(bad)
    with pytest.raises(bi.BiError, match="postgresql://"):
        bi.superset_uri("mysql://nps_bi@host/nps")


def test_does_nps_pay_is_a_tab_of_company_wide_datasets():
    files = _files(bi.bundle(DB_URL))
    (dashboard,) = [f for name, f in files.items() if name.startswith("dashboards/")]
    tabs = [node["meta"]["text"] for node in dashboard["position"].values()
            if isinstance(node, dict) and node.get("type") == "TAB"]
    assert tabs == ["Огляд", "Чи окупається NPS?", "Що пишуть клієнти"]
    # a dataset with `where:` is the mart's rows the dashboard may show, with the contract's columns
    repurchase = files["datasets/nps_warehouse/repurchase_all.yaml"]
    assert repurchase["sql"].startswith("select * from marts.repurchase_by_category where dimension = 'all'")
    assert {c["column_name"] for c in repurchase["columns"]} == {c["name"] for c in
                                                                 bi.mart_columns()["repurchase_by_category"]}


def test_each_regional_manager_gets_a_login_limited_to_their_oblasts(monkeypatch):
    monkeypatch.setenv("SUPERSET_SECRET_KEY", "k1")
    monkeypatch.setenv("NPS_BI_DB_URL", DB_URL)
    seed = bi.managers()
    assert sum(len(m["regions"]) for m in seed) == 27  # every oblast, Kyiv, Crimea and Sevastopol: one manager each
    assert {m["username"] for m in seed} == {m["email"].split("@")[0] for m in seed}
    access = bi.access()
    # every dataset with an oblast column is filtered per manager; the rest are company-wide figures
    assert set(access["regional_datasets"]) == {bi._uuid("dataset", name) for name in (
        "nps_by_region", "survey_funnel_stages", "case_outcomes_by_region")}
    assert set(access["datasets"]) == {bi._uuid("dataset", name) for name in bi.load_spec()["datasets"]}
    lviv = next(m for m in access["managers"] if "Львівська область" in m["regions"])
    assert lviv["clause"].startswith("region in (") and "'Львівська область'" in lviv["clause"]
    assert all(f"'{region}'" in lviv["clause"] for region in lviv["regions"])
    # passwords: derived from the secret key, one per login, never the login itself
    passwords = {m["password"] for m in access["managers"]}
    assert len(passwords) == len(seed) and all(len(p) == 16 for p in passwords)
    assert lviv["password"] == bi.manager_password(lviv["username"])
    monkeypatch.setenv("SUPERSET_SECRET_KEY", "k2")
    assert lviv["password"] != bi.manager_password(lviv["username"])
