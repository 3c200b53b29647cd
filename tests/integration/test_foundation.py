"""The foundation: own Postgres, warehouse bootstrap, generated env file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from nps import warehouse
from nps_dev import envfile

REPO = Path(__file__).resolve().parents[2]


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


def test_env_file_trusts_the_webhooks_of_the_local_fake_sendgrid(tmp_path, monkeypatch):
    from nps_dev.fakes.sendgrid import SendGridFake

    monkeypatch.setenv("NPS_STATE_DIR", str(tmp_path))  # a fresh checkout: `make fakes` has not made its data yet
    base = {"PATH": os.environ["PATH"]}

    def sourced(env: dict) -> str:
        script = envfile.render(env) + 'printf "%s" "${NPS_SENDGRID_WEBHOOK_PUBLIC_KEY:-}"'
        return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout

    key = sourced(base)
    assert key == SendGridFake(tmp_path / "fake-data" / "sendgrid").public_key  # what `make fakes` signs with
    assert sourced({**base, "NPS_SENDGRID_WEBHOOK_PUBLIC_KEY": "mine"}) == "mine"  # an exported value wins
    real = json.dumps({"conn_type": "http", "host": "https://api.sendgrid.com", "password": "SG.real"})
    assert sourced({**base, "AIRFLOW_CONN_NPS_SENDGRID": real}) == ""  # the real SendGrid: its key is yours to set


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
    # the session's warehouse is shared: other modules' load state (a landing watermark) must survive unchanged
    before = db.execute("select * from raw.load_state order by 1").fetchall()
    warehouse.bootstrap(warehouse_url)
    warehouse.bootstrap(warehouse_url)
    assert db.execute("select * from raw.load_state order by 1").fetchall() == before


def test_a_warehouse_from_before_the_stored_hashes_gets_them_filled(server_url):
    """Re-applying the DDL to a warehouse without raw.survey_responses.input_hash and raw.onec_sales.survey_id fills
    both for the rows there: the themes the classifier wrote with its in-code hash stay classified (none redone)."""
    from nps.comments.dictionary import load
    from nps.comments.run import classify_new
    from nps.tokens import sale_survey_id

    with warehouse.throwaway(server_url, "nps_migrate") as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("alter table raw.survey_responses drop column input_hash; "
                     "alter table raw.onec_sales drop column survey_id")
        conn.execute("insert into raw.onec_sales (ref_key, payload) values ('4f1c0b7e-2a7d-11ef-9c3b-00155d010b01', "
                     "'{}')")
        conn.execute("""insert into raw.survey_responses (survey_id, score, comment, language, responded_at) values
                        ('sv-a', 9, 'Швидка доставка', 'uk', now()), ('sv-b', 2, 'Too late', null, now()),
                        ('sv-c', 7, '  ', 'uk', now()), ('sv-d', 10, null, 'pl', now())""")
        # as classify_new wrote them when it hashed every answer itself
        conn.execute("""insert into raw.comment_themes (survey_id, theme, tone, source, dictionary_version, input_hash)
                        select survey_id, null, null, 'rule', %s,
                               md5(concat_ws(E'\\x1f', score, coalesce(language, ''), comment))
                        from raw.survey_responses where nullif(btrim(comment), '') is not null""",
                     (load().version,))
        warehouse.apply_ddl(conn)
        hashes = dict(conn.execute("select survey_id, input_hash from raw.survey_responses").fetchall())
        assert hashes["sv-c"] is None and hashes["sv-d"] is None  # nothing to classify
        stats = classify_new(conn)
        assert (stats["classified"], stats["dropped"]) == (0, 0)
        assert conn.execute("select ref_key, survey_id from raw.onec_sales").fetchone() == (
            "4f1c0b7e-2a7d-11ef-9c3b-00155d010b01", sale_survey_id("4f1c0b7e-2a7d-11ef-9c3b-00155d010b01"))


def test_bi_role_reads_marts_only(db):
    db.execute("create table if not exists marts._probe (x int)")
    db.execute("create table if not exists ops._probe (x int)")
    try:
        assert db.execute("select has_table_privilege('nps_bi', 'marts._probe', 'select')").fetchone()[0]
        assert not db.execute("select has_table_privilege('nps_bi', 'ops._probe', 'select')").fetchone()[0]
    finally:
        db.execute("drop table marts._probe; drop table ops._probe")


def _as_role(warehouse_url: str, role: str) -> str:
    from collector_support import COLLECTOR_TEST_PASSWORD

    if role == "nps_collector":
        return warehouse.collector_dsn(warehouse_url, COLLECTOR_TEST_PASSWORD)
    return warehouse.bi_dsn(warehouse_url, "tests-bi-password")  # the password test_dbt_transform sets


@pytest.mark.parametrize("role", ["nps_collector", "nps_bi"])
def test_service_roles_do_their_job_and_nothing_else(warehouse_url, db, role):
    dsn = _as_role(warehouse_url, role)
    db.execute("create table if not exists marts._probe (x int)")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            if role == "nps_collector":
                conn.execute("insert into landing.clicks (survey_id, clicked_at) values ('probe', now())")
            else:
                conn.execute("select count(*) from marts._probe")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("create temp table t (x int)")
        # Airflow's metadata database (this session's, on the same server) refuses them at the door
        airflow, _ = warehouse.airflow_database(warehouse_url)
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(urlunsplit(urlsplit(dsn)._replace(path=f"/{airflow}")), connect_timeout=5).close()
    finally:
        db.execute("drop table marts._probe; delete from landing.clicks where survey_id = 'probe'")


def test_requirements_lock_is_fully_pinned():
    lines = [ln.strip() for ln in (REPO / "requirements.txt").read_text().splitlines()]
    reqs = [ln for ln in lines if ln and not ln.startswith(("#", "-"))]
    assert len(reqs) > 150
    assert all("==" in ln for ln in reqs), [ln for ln in reqs if "==" not in ln]
