"""
### nps_transform: validate raw → dbt (staging → intermediate → marts) → validate marts → publish

Runs whenever a load emits one of the raw Assets (1C, CRM or survey answers):

1. `check_source_freshness`: `dbt source freshness` on the raw tables (fails naming the stale source).
2. `validate_raw`: Great Expectations suites on the raw landings + row counts (`nps.quality`); a critical failure
   stops the run before anything is built, a warning lets it through and alerts.
3. `prepare_marts_build`: `marts_build` as a fresh copy of `marts` (so the incremental mart `fct_survey_responses`
   builds incrementally). The marts are built there, never in `marts` directly.
4. `dbt_staging` + `dbt` (one Cosmos task per model / snapshot with its tests), or with the param `replay=true`
   one `dbt_build_all` task (same selection, same result: the cheap path for replays and backfills). The data
   tests read the rows this run changed; the param `full_tests=true` makes them read everything.
5. `validate_marts`: the marts' invariants on `marts_build`; a critical failure leaves yesterday's `marts` untouched.
6. `publish`: swaps `marts_build` in as `marts` in one transaction, reports NPS drift, emits `nps://marts/nps`.

Logic: `plugins/nps/transform/` (dbt), `plugins/nps/quality/` (gates, swap); models: `dbt_project/`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from nps.assets import MARTS, RAW_CRM, RAW_ONEC, RAW_RESPONSES
from nps.dag_defaults import DAG_KWARGS
from nps.transform.dbt_group import BUILD_SCHEMA, dbt_task_group, snapshot_at_for


@dag(
    dag_id="nps_transform",
    schedule=(RAW_ONEC | RAW_CRM | RAW_RESPONSES),
    **DAG_KWARGS,
    tags=["nps", "dbt", "transform", "quality"],
    doc_md=__doc__,
    user_defined_macros={"nps_snapshot_at": snapshot_at_for},
    params={"replay": Param(False, type="boolean",
                            description="one `dbt build` task instead of a task per model (replays, backfills)"),
            "full_tests": Param(False, type="boolean",
                                description="data tests read every row, not only the rows this run changed")},
)
def nps_transform():
    @task
    def check_source_freshness() -> dict:
        from nps.transform import source_freshness

        outcome = source_freshness()
        return {"sources": len(outcome.statuses), "warn": outcome.count("warn")}

    @task
    def validate_raw(dag_run=None, run_id=None) -> dict:
        from nps import quality
        from nps.connections import warehouse_dsn

        # row counts judge a night's loads: only when extraction triggered this run
        extraction = any(getattr(e, "uri", "") != RAW_RESPONSES.uri for e in _triggering_events(dag_run)) \
            or not _triggering_events(dag_run)
        result = quality.validate_raw(warehouse_dsn(), run_id, _moment(dag_run), row_counts=extraction)
        result.raise_if_critical()
        return result.as_dict()

    @task
    def prepare_marts_build() -> dict:
        from nps.connections import warehouse_dsn
        from nps.quality.swap import prepare_build

        copied = prepare_build(warehouse_dsn(), BUILD_SCHEMA, copy_from="marts")
        return {"schema": BUILD_SCHEMA, "copied": copied}

    @task.branch
    def choose_path(params=None) -> str:
        return "dbt_build_all" if params and params.get("replay") else "dbt_staging"

    @task
    def dbt_build_all(dag_run=None, params=None) -> dict:
        from nps.transform import build

        outcome = build(as_of=_moment(dag_run), dbt_vars={"marts_schema": BUILD_SCHEMA},
                        full_tests=_full_tests(params))
        return {"nodes": len(outcome.statuses), "warn": outcome.count("warn")}

    @task
    def dbt_staging(dag_run=None, params=None) -> dict:
        from nps.transform import build_staging

        outcome = build_staging(as_of=_moment(dag_run), full_tests=_full_tests(params))
        return {"nodes": len(outcome.statuses), "warn": outcome.count("warn")}

    @task(trigger_rule="none_failed_min_one_success")
    def validate_marts(dag_run=None, run_id=None) -> dict:
        from nps import quality
        from nps.connections import warehouse_dsn

        result = quality.validate_marts(warehouse_dsn(), run_id, _moment(dag_run), schema=BUILD_SCHEMA)
        result.raise_if_critical()
        return result.as_dict()

    @task(outlets=[MARTS])
    def publish(dag_run=None, run_id=None) -> dict:
        from nps.connections import warehouse_dsn
        from nps.quality.drift import report_drift
        from nps.quality.swap import swap_in
        from nps.transform.publish import marts_summary

        dsn = warehouse_dsn()
        swap_in(dsn, BUILD_SCHEMA, "marts")
        drifts = report_drift(dsn, _moment(dag_run).date(), run_id=run_id)
        return {**marts_summary(dsn), "drift_alerts": len(drifts)}

    path, build_all, staging, per_model = choose_path(), dbt_build_all(), dbt_staging(), dbt_task_group("dbt")
    check_source_freshness() >> validate_raw() >> prepare_marts_build() >> path >> [build_all, staging]
    staging >> per_model
    [build_all, per_model] >> validate_marts() >> publish()


def _moment(dag_run):
    """The run's instant: its logical date, or when it was queued (Asset-triggered runs have no logical date)."""
    return dag_run.logical_date or dag_run.run_after


def _full_tests(params) -> bool:
    return bool(params and params.get("full_tests"))


def _triggering_events(dag_run) -> list:
    return list(getattr(dag_run, "consumed_asset_events", None) or [])


nps_transform()
