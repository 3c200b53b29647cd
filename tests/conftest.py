"""Shared fixtures: a throwaway database on the project's own Postgres for each test session.

`make test` starts the server (`nps db-up`) and sources `.nps/env`; the session then creates `nps_test_<random>`,
bootstraps the warehouse schemas in it, points `NPS_WAREHOUSE_URL` and the `nps_warehouse` connection at it, and
drops it at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from nps import warehouse

# A failing task under dag.test() waits out its retry delay: keep it short in tests (DAGs read it at parse time).
os.environ.setdefault("NPS_RETRY_DELAY_SECONDS", "1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def server_url() -> str:
    url = os.environ.get("NPS_WAREHOUSE_URL")
    if not url:
        pytest.fail("NPS_WAREHOUSE_URL is not set: run tests through `make test` (it starts Postgres)")
    return url


@pytest.fixture(scope="session")
def warehouse_url(server_url: str) -> Iterator[str]:
    """A fresh, bootstrapped warehouse database for this test session."""
    name = f"nps_test_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = _with_database(server_url, name)
    warehouse.bootstrap(url)
    saved = {key: os.environ.get(key) for key in ("NPS_WAREHOUSE_URL", "AIRFLOW_CONN_NPS_WAREHOUSE")}
    os.environ["NPS_WAREHOUSE_URL"] = url
    conn_json = json.loads(os.environ.get("AIRFLOW_CONN_NPS_WAREHOUSE", "{}") or "{}")
    conn_json.update({"conn_type": "postgres", "schema": name})
    parts = urlsplit(url)
    conn_json.setdefault("host", parts.hostname)
    conn_json.setdefault("port", parts.port)
    conn_json.setdefault("login", parts.username)
    conn_json.setdefault("password", parts.password)
    os.environ["AIRFLOW_CONN_NPS_WAREHOUSE"] = json.dumps(conn_json)
    try:
        yield url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def db(warehouse_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        yield conn


# ---- local fakes (nps.fakes): small generated data, started once per session --------------------------------------
@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory) -> Path:
    """A small generated distributor (seed 7, 60 customers) in the fakes' directory layout."""
    from nps.generator import GeneratorConfig, generate

    path = tmp_path_factory.mktemp("fake-data")
    generate(path, GeneratorConfig(seed=7, customers=60, days=35))
    return path


@pytest.fixture(scope="session")
def fake_stack(fake_data_dir: Path):
    """The three fakes on free loopback ports over `fake_data_dir` (tests that mutate data should restore it)."""
    from nps.fakes import start_fakes

    with start_fakes(fake_data_dir) as stack:
        yield stack
