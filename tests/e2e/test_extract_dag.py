"""`dag.test()` of nps_extract for one logical date, against the fakes and the test warehouse."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def fakes_env(fake_stack, monkeypatch, warehouse_url):
    for key, value in fake_stack.airflow_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NPS_EXTRACT_BACKOFF", "0.01")
    return fake_stack


def test_dag_shape():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS / "nps_extract.py")).get_dag("nps_extract")
    assert dag.catchup is False
    assert dag.timetable.expression == "0 1 * * *"
    assert "Europe/Kyiv" in str(dag.timetable.timezone)
    assert dag.timetable.interval == timedelta(days=1)  # data interval: the 24 hours before the run
    outlets = {t.task_id: [a.uri for a in t.outlets] for t in dag.tasks}
    assert outlets == {"extract_onec": ["nps://raw/onec"], "extract_crm": ["nps://raw/crm"]}


RAW = ("raw.onec_customers", "raw.onec_orders", "raw.onec_order_lines", "raw.onec_sales", "raw.onec_sale_lines",
       "raw.onec_deliveries", "raw.crm_contacts", "raw.crm_companies", "raw.crm_users", "raw.load_state",
       "raw.quarantine")


@pytest.fixture
def raw(db):
    db.execute(f"truncate {', '.join(RAW)}")
    yield db
    db.execute(f"truncate {', '.join(RAW)}")  # the session's warehouse is shared with other tests


def test_dag_test_for_a_logical_date(fakes_env, raw):
    from airflow.dag_processing.dagbag import DagBag

    db = raw
    dag = DagBag(dag_folder=str(DAGS / "nps_extract.py")).get_dag("nps_extract")
    logical = datetime(2026, 2, 18, 1, 0, tzinfo=ZoneInfo("Europe/Kyiv"))
    run = dag.test(logical_date=logical)
    assert run.state == "success"
    assert run.data_interval_end == logical
    sales = db.execute("select count(*), count(distinct _run_id), max(sale_date) from raw.onec_sales").fetchone()
    assert sales[0] > 0 and sales[1] == 1 and sales[2] < datetime(2026, 2, 18, 1, 0)
    assert db.execute("select count(*) from raw.crm_contacts").fetchone()[0] > 0
    assert db.execute("select count(*) from raw.load_state where source like 'crm.%'").fetchone()[0] == 2
    # the same logical date again: nothing doubles
    counts = db.execute("select (select count(*) from raw.onec_sales), (select count(*) from raw.onec_sale_lines), "
                        "(select count(*) from raw.crm_contacts)").fetchone()
    assert dag.test(logical_date=logical).state == "success"
    assert db.execute("select (select count(*) from raw.onec_sales), (select count(*) from raw.onec_sale_lines), "
                      "(select count(*) from raw.crm_contacts)").fetchone() == counts
    assert os.environ["AIRFLOW_CONN_NPS_ONEC"]
