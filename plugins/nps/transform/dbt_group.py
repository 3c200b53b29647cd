"""The Cosmos task groups of nps_transform, one per cadence (dbt_project/selectors.yml): an Airflow task per dbt node
running `dbt build` of that node with its tests. Rendered from dbt's manifest (no dbt call while Airflow parses the
DAG); the warehouse profile comes from the `nps_warehouse` connection, so no password is in any file.
"""

from __future__ import annotations

import logging
from typing import Any

from nps import transform

log = logging.getLogger(__name__)
# the marts are built here and swapped in as `marts` after validation (nps.quality.swap)
BUILD_SCHEMA = "marts_build"


def profile_config():
    from cosmos import ProfileConfig
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    return ProfileConfig(
        profile_name="nps",
        target_name="airflow",
        profile_mapping=PostgresUserPasswordProfileMapping(
            conn_id="nps_warehouse", profile_args={"schema": "staging", "threads": 1}),
    )


def dbt_task_group(cadence: str, **kwargs: Any):
    """The DbtTaskGroup of a cadence (group id `dbt_<cadence>`). Falls back to `dbt ls` rendering only when the manifest is missing or older than the
    project (run `make dbt-manifest`, which every make target that runs Airflow does)."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import (
        DbtResourceType,
        ExecutionMode,
        InvocationMode,
        LoadMode,
        TestBehavior,
        TestIndirectSelection,
    )

    from nps.config import dbt_env

    use_manifest = transform.manifest_is_current()
    if not use_manifest:
        log.warning("dbt manifest missing or stale (%s): rendering with dbt ls", transform.MANIFEST_PATH)
    return DbtTaskGroup(
        group_id=f"dbt_{cadence}",
        project_config=ProjectConfig(
            dbt_project_path=transform.PROJECT_DIR,
            manifest_path=transform.MANIFEST_PATH if use_manifest else None,
            install_dbt_deps=False,
            partial_parse=True,
        ),
        profile_config=profile_config(),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # each model's task runs the tests that only need it; tests spanning models run as their own tasks
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST if use_manifest else LoadMode.DBT_LS,
            test_behavior=TestBehavior.BUILD,
            should_detach_multiple_parents_tests=True,
            selector=cadence,
            emit_datasets=False,
            # exposures document the BI dashboards; there is nothing to run for them
            node_converters={DbtResourceType.EXPOSURE: _skip_node},
        ),
        operator_args={
            # the run's instant stamps the snapshot (a libpq option: no re-parse per run, see nps.transform)
            # and the settings dbt's vars read (nps.config.dbt_env), as nps.transform.run() passes them
            "env": {"PGOPTIONS": "-c nps.snapshot_at={{ nps_snapshot_at(dag_run) }}", **transform.PIPELINE_ENV,
                    **dbt_env()},
            "vars": {"marts_schema": BUILD_SCHEMA},
        },
        **kwargs,
    )


def _skip_node(**_: Any) -> None:
    return None


def snapshot_at_for(dag_run) -> str:
    """Template macro: the run's logical instant (else when it was queued) as the snapshot's validity stamp."""
    from nps.clock import now

    moment = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None) or now()
    return transform.snapshot_at(moment)
