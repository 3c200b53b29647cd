"""nps_close_loop end to end through Airflow's dag.test() for a logical date: digest + Bitrix24 task, and a re-run of
the same day sends and creates nothing more."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from closeloop_support import BitrixStandIn, SendGridStandIn, add_case, add_crm_user, cleanup, reset

DAGS_DIR = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture
def stack(db, monkeypatch):
    sendgrid, bitrix = SendGridStandIn(), BitrixStandIn()
    monkeypatch.setenv("AIRFLOW_CONN_NPS_SENDGRID", json.dumps(
        {"conn_type": "http", "host": sendgrid.url, "password": "SG.test-key"}))
    monkeypatch.setenv("AIRFLOW_CONN_NPS_CRM", json.dumps({"conn_type": "http", "host": bitrix.webhook}))
    monkeypatch.setenv("NPS_CLOSELOOP_CRM_TASKS", "auto")
    yield sendgrid, bitrix
    cleanup(db)
    sendgrid.close()
    bitrix.close()


def test_dag_run_for_a_logical_date_and_its_rerun(db, stack):
    from airflow.dag_processing.dagbag import DagBag

    sendgrid, bitrix = stack
    reset(db)
    add_crm_user(db, "7", "olena@firm.ua", "Олена")
    add_case(db, "s-dag", assigned_by="7", responded_at="2026-03-01T18:00:00+02:00")
    add_case(db, "s-tomorrow", assigned_by="7", responded_at="2026-03-02T12:00:00+02:00")  # after the logical date
    dag = DagBag(dag_folder=str(DAGS_DIR / "nps_close_loop.py")).get_dag("nps_close_loop")
    logical = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    assert dag.test(logical_date=logical).state == "success"
    assert len(sendgrid.messages) == 1 and list(bitrix.tasks) == ["1000"]
    text = next(c["value"] for c in sendgrid.messages[0]["content"] if c["type"] == "text/plain")
    assert "s-dag" in text and "s-tomorrow" not in text and "#1000" in text
    state = db.execute("select status, notified_at is not null, crm_task_id from ops.case_state").fetchall()
    assert state == [("open", True, "1000")]
    # the same day again: nothing new to anyone
    assert dag.test(logical_date=logical).state == "success"
    assert len(sendgrid.messages) == 1 and bitrix.calls.count("tasks.task.add") == 1
