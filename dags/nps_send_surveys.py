"""nps_send_surveys: the surveys due today (dbt due queue) -> SendGrid -> raw.survey_sends, at most once."""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, Param, dag, task

from nps.dag_defaults import DAG_KWARGS, TIMEZONE

DOC = """
### nps_send_surveys
Daily at 10:00 Europe/Kyiv. Sends every survey due on the run's logical date, once.

1. **sync_suppressions**: SendGrid's unsubscribes, bounces, spam reports and our ASM group's unsubscribes
   -> `raw.sendgrid_suppressions` (whole lists, replaced per list).
2. **send_surveys**: `intermediate.int_survey_due_queue` for the day (eligibility, throttling, reminders and
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

    @task
    def send_surveys(**context) -> dict:
        from nps.surveys.tasks import send_surveys_task

        return send_surveys_task(context)

    sync_suppressions() >> send_surveys()


nps_send_surveys()
