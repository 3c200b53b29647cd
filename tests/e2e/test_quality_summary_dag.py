"""nps_quality_summary for a logical date: the day's failed checks and alerts reach the data team via SendGrid."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


def test_summary_dag_mails_the_days_failures(db, fake_stack, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_CONN_NPS_SENDGRID", fake_stack.airflow_env()["AIRFLOW_CONN_NPS_SENDGRID"])
    monkeypatch.setenv("NPS_DQ_SUMMARY_EMAILS", "data-team@example.com")
    day = date(2026, 3, 9)
    db.execute(
        """insert into quality.alerts (kind, dag_id, task_id, run_id, logical_date, message, details, raised_at)
           values ('task_failure', 'nps_extract', 'extract_onec', 'r1', %s, 'extract_onec failed: 1C unreachable',
                   '{}'::jsonb, %s)""", (day, datetime(2026, 3, 9, 8, 0, tzinfo=UTC)))
    before = len(fake_stack.sendgrid.messages())
    dag = DagBag(dag_folder=str(DAGS_DIR / "nps_quality_summary.py")).get_dag("nps_quality_summary")
    # the 07:00 run of 10 March summarises 9 March
    assert dag.test(logical_date=datetime(2026, 3, 10, 5, 0, tzinfo=UTC)).state == "success"
    sent = fake_stack.sendgrid.messages()[before:]
    assert len(sent) == 1
    body = json.dumps(sent[0]["body"], ensure_ascii=False)
    assert "data-team@example.com" in body and "1C unreachable" in body
