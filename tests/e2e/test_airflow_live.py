"""Operating it for real: `airflow standalone` (scheduler, dag-processor, api-server, triggerer) on the project's
Postgres with the login `.nps/env` configures: sign in with the README's admin / admin (REST and the UI's sign-in
page), then drive it through the REST API with `apache-airflow-client` and token auth: trigger `nps_extract` for a
date against the fakes, wait for it and for the Asset-triggered `nps_transform` to succeed, then stop everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from bi_support import CHROMIUM, CHROMIUM_ARGS

from conftest import free_port
from nps_dev import envfile

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
LOGIN = ("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")


def _login_settings() -> dict[str, str]:
    """Airflow's login settings as `.nps/env` exports them to `make airflow` (sourced in a clean shell)."""
    script = envfile.render() + "".join(f'printf "%s\\n" "${name}"; ' for name in LOGIN)
    out = subprocess.run(["bash", "-c", script], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
                         check=True).stdout
    return dict(zip(LOGIN, out.splitlines(), strict=True))


def _sign_in(base: str, password: str) -> httpx.Response:
    return httpx.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=10)


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


@pytest.fixture(scope="module")
def standalone(tmp_path_factory, warehouse_url, fake_stack):
    tmp_path = tmp_path_factory.mktemp("airflow-live")
    port = free_port()
    home = tmp_path / "airflow"
    home.mkdir()
    env = dict(os.environ)
    env.update(fake_stack.airflow_env())
    env.update(_login_settings())
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
        answer = _sign_in(base, "admin")
        assert answer.status_code == 201, f"admin / admin refused: {answer.status_code} {answer.text}"
        yield base, answer.json()["access_token"], proc, log
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


def test_readme_login_gets_a_token(standalone):
    base, token, _, _ = standalone          # the fixture signed in with admin / admin
    assert httpx.get(f"{base}/api/v2/dags", params={"limit": 1}, headers={"Authorization": f"Bearer {token}"},
                     timeout=10).status_code == 200
    assert _sign_in(base, "not-admin").status_code == 401


@pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (`make browser`)")
def test_readme_login_in_the_ui_sign_in_page(standalone):
    from playwright.sync_api import sync_playwright

    base, _, _, _ = standalone
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/auth/login")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "admin")
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)
            # signed in: the UI's session cookie opens the API
            assert page.request.get(f"{base}/api/v2/dags?limit=1").status == 200
        finally:
            browser.close()


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
