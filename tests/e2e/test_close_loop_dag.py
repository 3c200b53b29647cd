"""nps_close_loop end to end through Airflow's dag.test() for a logical date against the project's fakes: a digest
and a Bitrix24 task; a re-run of the same day sends and creates nothing more."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from closeloop_support import add_case, add_crm_user, cleanup, connect_fakes, reset, sent_bodies, text_of

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def stack(db, monkeypatch, tmp_path):
    from nps_dev.fakes import start_fakes

    with start_fakes(tmp_path) as fakes:
        connect_fakes(monkeypatch, fakes, crm=True)
        reset(db)
        yield fakes
        cleanup(db)


def test_dag_run_for_a_logical_date_and_its_rerun(db, stack):
    from airflow.dag_processing.dagbag import DagBag

    add_crm_user(db, "7", "olena@firm.ua", "Олена")
    add_case(db, "s-dag", assigned_by="7", responded_at="2026-03-01T18:00:00+02:00")
    add_case(db, "s-tomorrow", assigned_by="7", responded_at="2026-03-02T12:00:00+02:00")  # after the logical date
    dag = DagBag(dag_folder=str(DAGS_DIR / "nps_close_loop.py")).get_dag("nps_close_loop")
    logical = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    assert dag.test(logical_date=logical).state == "success"
    (body,) = sent_bodies(stack)
    (task_id,) = stack.crm.tasks
    assert body["personalizations"][0]["to"][0]["email"] == "olena@firm.ua"
    assert "s-dag" in text_of(body) and "s-tomorrow" not in text_of(body) and f"#{task_id}" in text_of(body)
    state = db.execute("select status, notified_at is not null, crm_task_id from ops.case_state").fetchall()
    assert state == [("open", True, task_id)]
    # the same day again: nothing new to anyone
    assert dag.test(logical_date=logical).state == "success"
    assert len(sent_bodies(stack)) == 1 and len(stack.crm.tasks) == 1
