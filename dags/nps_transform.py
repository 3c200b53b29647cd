"""
### nps_transform: validate raw → dbt (the nightly or the answers cadence, marts gated by dbt) → publish

Runs whenever a load emits one of the raw Assets (1C, CRM or survey answers):

1. `check_source_freshness`: `dbt source freshness` on the raw tables (fails naming the stale source).
2. `validate_raw`: Great Expectations suites on the raw landings + row counts (`nps.quality`); a critical failure
   (future dates, broken keys, an unreadable source) stops the run before anything is built; a warning (an empty or
   unusual load) lets it through and alerts.
3. `prepare_marts_build`: an empty `marts_build`; the marts are built there, never in `marts` directly.
4. `choose_path`: the cadence (`dbt_project/selectors.yml`): `dbt_nightly` (everything) when a 1C / CRM load
   triggered the run, `dbt_answers` (the answer side, every mart and ops, on the purchase side the last nightly run
   built) when only the responses load did; the param `cadence` forces one. One Cosmos task per dbt node with its
   tests, or with the param `replay=true` one `dbt_build_all` task (same selection, same result: the cheap path for
   replays and backfills).
   The marts' rules are dbt's (contract constraints per row, tests across rows, run with each model): a failure
   stops the run before `publish`, so the live `marts` stay untouched.
5. `publish` (once a build path succeeded): swaps `marts_build` in as `marts` in one transaction (refusing a build
   that lacks a live relation), reports NPS drift, emits `nps://marts/nps`.

Logic: `plugins/nps/transform/` (dbt), `plugins/nps/quality/` (gates, swap); models: `dbt_project/`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from nps.assets import MARTS, RAW_CRM, RAW_ONEC, RAW_RESPONSES
from nps.dag_defaults import DAG_KWARGS
from nps.transform import ANSWERS, NIGHTLY
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
            "cadence": Param("auto", enum=["auto", NIGHTLY, ANSWERS],
                             description="auto: answers when only the responses load triggered the run")},
)
def nps_transform():
    @task
    def check_source_freshness() -> dict:
        from nps.transform import source_freshness

        outcome = source_freshness()
        return {"sources": len(outcome.statuses), "warn": outcome.count("warn")}

    @task
    def validate_raw(dag_run=None, run_id=None, params=None) -> dict:
        from nps import quality
        from nps.connections import warehouse_dsn

        # row counts judge a night's loads: only when extraction triggered this run
        nightly = _cadence(dag_run, params) == NIGHTLY
        result = quality.validate_raw(warehouse_dsn(), run_id, _moment(dag_run), row_counts=nightly)
        result.raise_if_critical()
        return result.as_dict()

    @task
    def prepare_marts_build() -> dict:
        from nps.connections import warehouse_dsn
        from nps.quality.swap import prepare_build

        prepare_build(warehouse_dsn(), BUILD_SCHEMA)
        return {"schema": BUILD_SCHEMA}

    @task.branch
    def choose_path(dag_run=None, params=None) -> str:
        return "dbt_build_all" if params and params.get("replay") else f"dbt_{_cadence(dag_run, params)}"

    @task
    def dbt_build_all(dag_run=None, params=None) -> dict:
        from nps.transform import build

        cadence = _cadence(dag_run, params)
        outcome = build(as_of=_moment(dag_run), cadence=cadence, dbt_vars={"marts_schema": BUILD_SCHEMA})
        return {"cadence": cadence, "nodes": len(outcome.statuses), "warn": outcome.count("warn")}

    @task(outlets=[MARTS], trigger_rule="none_failed_min_one_success")
    def publish(dag_run=None, run_id=None) -> dict:
        from nps.connections import warehouse_dsn
        from nps.quality.drift import report_drift
        from nps.quality.swap import swap_in
        from nps.transform.publish import marts_summary

        dsn = warehouse_dsn()
        swap_in(dsn, BUILD_SCHEMA, "marts")
        drifts = report_drift(dsn, _moment(dag_run).date(), run_id=run_id)
        return {**marts_summary(dsn), "drift_alerts": len(drifts)}

    builds = [dbt_build_all(), dbt_task_group(NIGHTLY), dbt_task_group(ANSWERS)]
    check_source_freshness() >> validate_raw() >> prepare_marts_build() >> choose_path() >> builds
    builds >> publish()


def _moment(dag_run):
    """The run's instant: its logical date, or when it was queued (Asset-triggered runs have no logical date)."""
    return dag_run.logical_date or dag_run.run_after


def _cadence(dag_run, params) -> str:
    from nps.transform import cadence_for

    events = getattr(dag_run, "consumed_asset_events", None) or []   # each event's .asset is the Asset it updated
    return cadence_for([getattr(getattr(e, "asset", None), "uri", "") for e in events], RAW_RESPONSES.uri,
                       (params or {}).get("cadence", "auto"))


nps_transform()
