"""
### nps_transform: raw → dbt (staging → intermediate → marts) → publish

Runs whenever a load emits one of the raw Assets (1C, CRM or survey answers):

1. `check_source_freshness`: `dbt source freshness` on the raw tables (fails when past `error_after`).
2. `dbt_staging`: the staging views and the seeds with their tests, in one `dbt build`.
3. `dbt`: one task per model / snapshot of intermediate, marts and ops (Cosmos, rendered from the manifest), each
   a `dbt build` of that node with its tests; tests spanning several models run as their own tasks.
4. `publish`: emits the `nps://marts/nps` Asset that `nps_close_loop` waits for.

Data-quality gates (GX) go in before `dbt` and before `publish`. Replays use `nps.transform.build()` (one
`dbt build`, same result). Logic: `plugins/nps/transform/`, models: `dbt_project/`.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from nps.assets import MARTS, RAW_CRM, RAW_ONEC, RAW_RESPONSES
from nps.dag_defaults import DEFAULT_ARGS, START_DATE
from nps.transform.dbt_group import dbt_task_group, snapshot_at_for


@dag(
    dag_id="nps_transform",
    schedule=(RAW_ONEC | RAW_CRM | RAW_RESPONSES),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["nps", "dbt", "transform"],
    doc_md=__doc__,
    user_defined_macros={"nps_snapshot_at": snapshot_at_for},
)
def nps_transform():
    @task
    def check_source_freshness() -> dict:
        from nps.transform import source_freshness

        outcome = source_freshness()
        return {"sources": len(outcome.statuses), "warn": outcome.count("warn")}

    @task
    def dbt_staging(dag_run=None) -> dict:
        from nps.transform import build_staging

        outcome = build_staging(as_of=dag_run.logical_date or dag_run.run_after)
        return {"nodes": len(outcome.statuses), "warn": outcome.count("warn")}

    @task(outlets=[MARTS])
    def publish() -> dict:
        from nps.transform.publish import marts_summary

        return marts_summary()

    check_source_freshness() >> dbt_staging() >> dbt_task_group("dbt") >> publish()


nps_transform()
