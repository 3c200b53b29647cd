"""nps_send_surveys: the surveys due today (dbt due queue) -> SendGrid -> raw.survey_sends, at most once."""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import CronTriggerTimetable, Param, dag, task

from nps.dag_defaults import DAG_KWARGS, TIMEZONE
from nps.surveys.approval import approval_timeout

DOC = """
### nps_send_surveys
Daily at 10:00 Europe/Kyiv. Sends every survey due on the run's logical date, once.

1. **sync_suppressions**: SendGrid's unsubscribes, bounces, spam reports and our ASM group's unsubscribes
   -> `raw.sendgrid_suppressions` (whole lists, replaced per list).
2. **check_batch**: counts what the run would send and records the plan (`raw.survey_send_plans`). An unusually
   large batch (more than 3x the median daily send of the last 28 days; with under 7 sending days of history, more
   than `NPS_SEND_APPROVAL_CEILING`) or the first batch after the eligibility settings changed goes to
   **approve_large_batch**: it waits in the Airflow UI (Browse > Required actions, or the run's task) for a person to
   Approve or Reject; nobody answering within `NPS_SEND_APPROVAL_TIMEOUT_HOURS` (6) rejects it. A rejected batch
   sends nothing; its surveys stay due (the catch-up window) and the next run asks again.
3. **send_surveys**: `intermediate.int_survey_due_queue` for the day (eligibility, throttling, reminders and
   catch-up of missed days live in that dbt model) -> batches of up to 1000 per (kind, language) ->
   `POST /v3/mail/send` -> `raw.survey_sends`. Each survey is claimed before its request; a crash or timeout
   leaves it `unknown`, never re-sent. Counts (due / sent / failed / unknown / skipped by limit, per language
   and kind) are in the task log and the task's return value.

Only a run whose logical date is today (by the platform clock, Europe/Kyiv) e-mails anyone. Any other run (a
backfill, a cleared run of an earlier day, `airflow dags test` with an old date) only reports what it would have
sent (`would_send`, and "logical date X is not today (Y): reported, nothing sent" in the log and the return
value); the days a run missed are sent by today's run, up to 7 days late (the due queue's catch-up).

Params: `dry_run` (SendGrid sandbox mode: validated, nothing delivered, rows marked `sandbox`) and `limit`
(at most this many surveys this run, oldest due first; for the first days of a rollout).
Logic: `plugins/nps/surveys/` (see `sender.py` for the send semantics).
"""


@dag(
    dag_id="nps_send_surveys",
    schedule=CronTriggerTimetable("0 10 * * *", timezone=TIMEZONE),
    **DAG_KWARGS,
    tags=["nps", "surveys", "sendgrid"],
    doc_md=DOC,
    params={
        "dry_run": Param(False, type="boolean", description="SendGrid sandbox mode: nothing is delivered"),
        "limit": Param(None, type=["null", "integer"], minimum=0,
                       description="send at most this many surveys in this run (rollout)"),
    },
)
def nps_send_surveys():
    @task
    def sync_suppressions() -> dict:
        from nps.surveys.tasks import sync_suppressions_task

        return sync_suppressions_task()

    @task.branch
    def check_batch(**context) -> str:
        from nps.surveys.tasks import check_batch_task

        return check_batch_task(context)

    approve_large_batch = ApprovalOperator(
        task_id="approve_large_batch",
        subject="Send the NPS surveys due {{ ds }}?",
        body="{{ ti.xcom_pull(task_ids='check_batch', key='plan') }}\n\nApprove sends them now; Reject (or no answer "
             "before the timeout) sends nothing and the next run asks again.",
        defaults="Reject",
        response_timeout=approval_timeout(),
    )

    @task(trigger_rule="none_failed_min_one_success")
    def send_surveys(**context) -> dict:
        from nps.surveys.tasks import send_surveys_task

        return send_surveys_task(context)

    check = check_batch()
    send = send_surveys()
    sync_suppressions() >> check >> [approve_large_batch, send]
    approve_large_batch >> send


nps_send_surveys()
