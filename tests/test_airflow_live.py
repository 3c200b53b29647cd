"""Operating it for real: `airflow standalone` (scheduler, dag-processor, api-server, triggerer) on the project's
Postgres, driven through the REST API with `apache-airflow-client` and token auth: trigger `nps_extract` for a date
against the fakes, wait for it and for the Asset-triggered `nps_transform` to succeed, then stop everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import free_port

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"airflow standalone exited ({proc.returncode}) while waiting for {what}:\n"
                                 f"{log.read_text()[-3000:]}")
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}:\n{log.read_text()[-3000:]}")


@pytest.fixture
def standalone(tmp_path, warehouse_url, fake_stack):
    port = free_port()
    home = tmp_path / "airflow"
    home.mkdir()
    env = dict(os.environ)
    env.update(fake_stack.airflow_env())
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    })
    log = tmp_path / "standalone.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "standalone"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=str(REPO))
    base = f"http://127.0.0.1:{port}"
    try:
        def healthy():
            try:
                return httpx.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(healthy, 180, "the api-server", proc, log)
        passwords = home / "simple_auth_manager_passwords.json.generated"
        _wait(passwords.exists, 60, "the admin password file", proc, log)
        password = json.loads(passwords.read_text())["admin"]
        token = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": password},
                           timeout=10).json()["access_token"]
        yield base, token, proc, log
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        # the session's warehouse is shared with other modules: leave no raw rows or dbt relations behind
        import psycopg

        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute("set client_min_messages = warning")
            for schema in ("staging", "intermediate", "marts_build", "marts_previous"):
                conn.execute(f"drop schema if exists {schema} cascade")
            raw_tables = [r[0] for r in conn.execute(
                "select format('raw.%I', table_name) from information_schema.tables "
                "where table_schema = 'raw' and table_name <> 'quarantine'")]
            conn.execute(f"truncate {', '.join(raw_tables)}")


def test_trigger_extract_and_the_asset_triggered_transform(standalone):
    import airflow_client.client as client
    from airflow_client.client.api.dag_api import DAGApi
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.models.dag_patch_body import DAGPatchBody
    from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody

    base, token, proc, log = standalone
    api = client.ApiClient(client.Configuration(host=base, access_token=token))
    dags, runs = DAGApi(api), DagRunApi(api)

    def parsed():
        try:
            ids = {d.dag_id for d in dags.get_dags(limit=100).dags}
        except client.ApiException:
            return False
        return {"nps_extract", "nps_transform"} <= ids

    _wait(parsed, 180, "the DAGs to be parsed", proc, log)
    for dag_id in ("nps_extract", "nps_transform"):
        dags.patch_dag(dag_id, DAGPatchBody(is_paused=False))

    logical = datetime(2026, 2, 9, 23, 0, tzinfo=UTC)  # 01:00 Kyiv on 10 Feb: the fake data ends 8 Feb
    run = runs.trigger_dag_run("nps_extract", TriggerDAGRunPostBody(logical_date=logical, conf={}))

    def finished(dag_id: str, run_id: str | None = None):
        if run_id:
            state = runs.get_dag_run(dag_id, run_id).state
        else:
            found = runs.get_dag_runs(dag_id, limit=5).dag_runs
            if not found:
                return None
            state = found[0].state
        state = getattr(state, "value", state)
        if state == "failed":
            raise AssertionError(f"{dag_id} failed:\n{log.read_text()[-3000:]}")
        return state == "success"

    _wait(lambda: finished("nps_extract", run.dag_run_id), 300, "nps_extract to succeed", proc, log)
    _wait(lambda: finished("nps_transform"), 600, "the Asset-triggered nps_transform to succeed", proc, log)
    transform_run = runs.get_dag_runs("nps_transform", limit=1).dag_runs[0]
    assert getattr(transform_run.run_type, "value", transform_run.run_type) == "asset_triggered"
