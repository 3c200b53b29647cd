"""nps_send_surveys: shape, params, the run's day and whether it may send (dag.test against the fake SendGrid:
test_send_surveys_e2e)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nps.surveys import tasks

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "nps_send_surveys.py"
KYIV = ZoneInfo("Europe/Kyiv")


def test_dag_shape():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAG_FILE)).get_dag("nps_send_surveys")
    assert [t.task_id for t in dag.topological_sort()] == [
        "sync_suppressions", "check_batch", "approve_large_batch", "send_surveys"]
    approve = dag.get_task("approve_large_batch")
    assert approve.defaults == ["Reject"] and approve.response_timeout.total_seconds() == 6 * 3600
    assert dag.get_task("send_surveys").trigger_rule == "none_failed_min_one_success"
    assert dag.timetable.expression == "0 10 * * *"
    assert "Europe/Kyiv" in str(dag.timetable.timezone)
    assert dag.params["dry_run"] is False and dag.params["limit"] is None
    assert dag.max_active_runs == 1


def test_run_day_is_the_logical_instant_in_kyiv():
    late_utc = datetime(2026, 3, 1, 22, 30, tzinfo=ZoneInfo("UTC"))  # already 2 March in Kyiv
    assert tasks.sending_day(tasks.run_instant({"logical_date": late_utc})) == date(2026, 3, 2)
    assert tasks.run_instant({"logical_date": None, "data_interval_end": late_utc}) == late_utc
    with pytest.raises(ValueError):
        tasks.run_instant({})
    assert tasks.parse_limit(None) is None and tasks.parse_limit("7") == 7
    with pytest.raises(ValueError):
        tasks.parse_limit(-1)
    assert tasks.parse_bool("true") is True and tasks.parse_bool(False) is False
    with pytest.raises(ValueError):
        tasks.parse_bool("maybe")


def test_only_a_run_for_today_by_the_clock_sends():
    now = datetime(2026, 3, 2, 23, 30, tzinfo=ZoneInfo("UTC"))  # already 3 March in Kyiv
    assert tasks.not_today(date(2026, 3, 3), now) is None
    assert tasks.not_today(date(2026, 3, 2), now) == (
        "logical date 2026-03-02 is not today (2026-03-03): reported, nothing sent")
    assert tasks.not_today(date(2026, 3, 4), now) is not None  # nor a date ahead of the clock
