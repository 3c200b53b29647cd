"""The Cosmos task group of nps_transform: one Airflow task per dbt node (intermediate, snapshot, marts, ops) running
`dbt build` of that node with its tests; staging and seeds are built just before in one task (nps.transform). Rendered from dbt's manifest (no dbt call while Airflow parses the DAG); the warehouse profile comes from
the `nps_warehouse` connection, so no password is in any file.
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


# the nightly test scope, or every row when the run asks for full tests (a template Airflow renders per run)
_TEST_SCOPE = "{{ 'all' if params.full_tests else '" + transform.NIGHTLY_VARS["test_scope"] + "' }}"


def dbt_task_group(group_id: str = "dbt", **kwargs: Any):
    """The DbtTaskGroup. Falls back to `dbt ls` rendering only when the manifest is missing or older than the
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

    use_manifest = transform.manifest_is_current()
    if not use_manifest:
        log.warning("dbt manifest missing or stale (%s): rendering with dbt ls", transform.MANIFEST_PATH)
    return DbtTaskGroup(
        group_id=group_id,
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
            select=list(transform.SELECT),
            exclude=list(transform.STAGING_SELECT),  # built by the staging task before this group
            emit_datasets=False,
            # exposures document the BI dashboards; there is nothing to run for them
            node_converters={DbtResourceType.EXPOSURE: _skip_node},
        ),
        operator_args={
            # the run's instant stamps the snapshot (a libpq option: no re-parse per run, see nps.transform)
            "env": {"PGOPTIONS": "-c nps.snapshot_at={{ nps_snapshot_at(dag_run) }}", **transform.NIGHTLY_ENV},
            # the nightly vars of nps.transform.build(); params.full_tests makes the tests read every row
            "vars": {**transform.NIGHTLY_VARS, "marts_schema": BUILD_SCHEMA, "test_scope": _TEST_SCOPE},
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
