"""nps_close_loop: detractor cases -> manager digests (+ Bitrix24 tasks), case status read back."""

from __future__ import annotations

from airflow.sdk import dag, task

from nps.assets import MARTS
from nps.dag_defaults import DAG_KWARGS

DOC = """
### Close the loop
Runs after `nps_transform` publishes the marts (Asset `nps://marts/nps`). As of the run's logical date (Europe/Kyiv):

1. **open_cases** - new detractors (and, with `NPS_CLOSELOOP_INCLUDE_PASSIVES`, passives with a comment) from
   `ops.detractor_cases` into `ops.case_state`, each with an owner: the CRM's responsible user, else the region's
   manager (seed), else `NPS_FALLBACK_MANAGER_EMAIL`; cases nobody owns are reported.
2. **read_back_task_status** - `tasks.task.get` for open cases with a Bitrix24 task: status and closed_at.
3. **create_crm_tasks** - one `tasks.task.add` per case (deadline = SLA), created once (when `nps_crm` is set).
4. **send_digests** - one e-mail per manager and day (SendGrid, manager's language): new cases and open cases past
   their SLA (`NPS_CASE_SLA_BUSINESS_DAYS`, default 2). Claimed before sending: a re-run never sends twice.
5. **forget_kiosk_contacts** - the phones / e-mails kiosk customers left with consent, erased
   `NPS_KIOSK_CONTACT_RETENTION_DAYS` (30) after their case closed, or after the consent when it made no case.

Logic: `plugins/nps/closeloop/`. State: `ops.case_state`, `ops.digests`.
"""


@dag(
    dag_id="nps_close_loop",
    schedule=[MARTS],
    **DAG_KWARGS,
    tags=["nps", "close-loop"],
    doc_md=DOC,
)
def nps_close_loop():
    @task
    def open_cases(**context) -> dict:
        from nps.closeloop import run

        return run.open_cases(run.run_day(context))

    # CRM trouble must not hold back the e-mails: the later steps run whatever happened before them
    @task(trigger_rule="all_done")
    def read_back_task_status(**context) -> dict:
        from nps.closeloop import run

        return run.read_back_task_status(run.run_day(context))

    @task(trigger_rule="all_done")
    def create_crm_tasks(**context) -> dict:
        from nps.closeloop import run

        return run.create_crm_tasks(run.run_day(context))

    @task(trigger_rule="all_done")
    def send_digests(**context) -> dict:
        from nps.closeloop import run

        return run.send_digests(run.run_day(context))

    @task(trigger_rule="all_done")
    def forget_kiosk_contacts(**context) -> dict:
        from nps.closeloop import run

        return run.forget_kiosk_contacts(run.run_day(context))

    open_cases() >> read_back_task_status() >> create_crm_tasks() >> send_digests() >> forget_kiosk_contacts()


nps_close_loop()
