"""`dag.test()` of nps_send_surveys for one logical date against the fake SendGrid."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nps.fakes.sendgrid import SendGridFake
from nps.surveys import tasks

DAG_FILE = Path(__file__).resolve().parents[1] / "dags" / "nps_send_surveys.py"
KYIV = ZoneInfo("Europe/Kyiv")
KEY = "SG.dag-test-key"


@pytest.fixture
def stand_in_queue(db):
    """`intermediate.int_survey_due_queue` as a table of the model's columns (the sender's input) unless dbt built it."""
    exists = db.execute("select to_regclass('intermediate.int_survey_due_queue')").fetchone()[0]
    if exists:
        pytest.skip("the dbt due-queue model is built in this database; the dbt tests cover it")
    db.execute("create schema if not exists intermediate")
    db.execute("""create table intermediate.int_survey_due_queue (survey_id text, kind text, purchase_id text,
                  customer_ref text, email text, language text, customer_name text, due_date date, days_late int)""")
    db.execute("truncate raw.survey_sends, raw.sendgrid_suppressions")
    try:
        yield
    finally:
        db.execute("drop table intermediate.int_survey_due_queue")


def test_dag_test_sends_the_days_surveys(db, stand_in_queue, monkeypatch):
    fake = SendGridFake(api_keys=(KEY,)).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_NPS_SENDGRID", json.dumps({"conn_type": "http", "host": fake.base_url,
                                                                    "password": KEY}))
        monkeypatch.setenv("NPS_TOKEN_SECRET", "dag-test-secret")
        fake.unsubscribe("gone@example.com")
        for i, lang in enumerate(["uk", "ru", "en", "pl", "uk"]):
            db.execute("""insert into intermediate.int_survey_due_queue values
                          (%s, 'invite', %s, %s, %s, %s, 'Name', '2026-03-02', 0)""",
                       (f"dag{i}", f"p{i}", f"c{i}", f"c{i}@example.com", lang))

        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(DAG_FILE))
        assert bag.import_errors == {}
        dag = bag.get_dag("nps_send_surveys")
        for t in dag.tasks:  # a failure should fail the test now, not after Airflow's retry delays
            t.retries = 0
        run = dag.test(logical_date=datetime(2026, 3, 2, 10, 0, tzinfo=KYIV), run_conf={"limit": 4})
        assert run.state == "success"
        assert db.execute("select count(*), min(logical_date), max(logical_date) from raw.survey_sends "
                          "where status = 'sent'").fetchone() == (4, date(2026, 3, 2), date(2026, 3, 2))
        assert len(fake.messages()) == 4  # four languages among the first four
        assert db.execute("select email, list from raw.sendgrid_suppressions").fetchall() == [
            ("gone@example.com", "unsubscribes")]
    finally:
        fake.stop()


def test_dag_shape():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAG_FILE)).get_dag("nps_send_surveys")
    assert [t.task_id for t in dag.topological_sort()] == ["sync_suppressions", "send_surveys"]
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
