"""The foundation: own Postgres, warehouse bootstrap, generated env file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg

from nps import envfile, warehouse

REPO = Path(__file__).resolve().parents[1]


def test_env_file_sets_contract_names():
    text = envfile.render()
    for name in ("AIRFLOW_HOME", "NPS_WAREHOUSE_URL", "AIRFLOW_CONN_NPS_WAREHOUSE", "AIRFLOW_CONN_NPS_ONEC",
                 "AIRFLOW_CONN_NPS_CRM", "AIRFLOW_CONN_NPS_SENDGRID", "AIRFLOW__CORE__LOAD_EXAMPLES",
                 "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__COSMOS__ENABLE_TELEMETRY", "DBT_SEND_ANONYMOUS_USAGE_STATS"):
        assert f"{name}=" in text, name


def test_env_file_keeps_user_overrides():
    script = envfile.render() + 'printf "%s" "$AIRFLOW_CONN_NPS_ONEC"'
    env = {"PATH": os.environ["PATH"], "AIRFLOW_CONN_NPS_ONEC": "http://user:pw@onec.example.com/base/"}
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert out == "http://user:pw@onec.example.com/base/"


def test_env_jwt_secret_is_long_enough():
    script = envfile.render() + 'printf "%s" "$AIRFLOW__API_AUTH__JWT_SECRET"'
    out = subprocess.run(["bash", "-c", script], env={"PATH": os.environ["PATH"]}, capture_output=True,
                         text=True, check=True).stdout
    assert len(out.encode()) >= 64


def test_postgres_listens_on_loopback_tcp(server_url):
    with psycopg.connect(server_url) as conn:
        host = conn.execute("select inet_server_addr()::text").fetchone()[0]
        assert host.startswith("127.0.0.1")


def test_warehouse_schemas_and_roles(db):
    schemas = {r[0] for r in db.execute("select schema_name from information_schema.schemata")}
    assert {"landing", "raw", "ops", "quality", "marts"} <= schemas
    roles = {r[0] for r in db.execute("select rolname from pg_roles")}
    assert {"nps_collector", "nps_bi"} <= roles


def test_bootstrap_is_idempotent(warehouse_url, db):
    warehouse.bootstrap(warehouse_url)
    warehouse.bootstrap(warehouse_url)
    assert db.execute("select count(*) from raw.load_state").fetchone()[0] == 0


def test_bi_role_reads_marts_only(db):
    db.execute("create table if not exists marts._probe (x int)")
    db.execute("create table if not exists ops._probe (x int)")
    try:
        assert db.execute("select has_table_privilege('nps_bi', 'marts._probe', 'select')").fetchone()[0]
        assert not db.execute("select has_table_privilege('nps_bi', 'ops._probe', 'select')").fetchone()[0]
    finally:
        db.execute("drop table marts._probe; drop table ops._probe")


def test_requirements_lock_is_fully_pinned():
    lines = [ln.strip() for ln in (REPO / "requirements.txt").read_text().splitlines()]
    reqs = [ln for ln in lines if ln and not ln.startswith(("#", "-"))]
    assert len(reqs) > 150
    assert all("==" in ln for ln in reqs), [ln for ln in reqs if "==" not in ln]
