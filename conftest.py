"""Shared fixtures: throwaway databases on the project's own Postgres for each test session.

`make test` starts the server (`nps db-up`) and sources `.nps/env`; the session then creates `nps_test_<random>`,
bootstraps the warehouse schemas in it, points `NPS_WAREHOUSE_URL` and the `nps_warehouse` connection at it, and
drops it at the end. Airflow's metadata gets its own `airflow_test_<random>` database too (migrated before Airflow
is imported), so `dag.test()` runs never collide with the developer's Airflow or another test session.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from nps import warehouse

# A failing task under dag.test() waits out its retry delay: keep it short in tests (DAGs read it at parse time).
os.environ.setdefault("NPS_RETRY_DELAY_SECONDS", "1")


def _isolated_airflow_db() -> str | None:
    base = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    server = os.environ.get("NPS_WAREHOUSE_URL")
    if not base.startswith("postgresql") or not server:
        return None
    name = f"airflow_test_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = base.rsplit("/", 1)[0] + "/" + name
    migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], capture_output=True,
                             text=True)
    if migrate.returncode != 0:
        raise RuntimeError(f"airflow db migrate of {name} failed:\n{migrate.stdout[-2000:]}\n{migrate.stderr[-2000:]}")
    return name


def pytest_configure(config):
    config._nps_airflow_db = _isolated_airflow_db()


def pytest_collection_modifyitems(config, items):
    """tests/e2e (DAG runs, browsers, the demo) is slow as a whole: `pytest -m "not slow"` runs the rest in minutes."""
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.slow)


def pytest_unconfigure(config):
    name = getattr(config, "_nps_airflow_db", None)
    if name:
        if "airflow.settings" in sys.modules:  # close Airflow's pooled connections before the database goes
            sys.modules["airflow.settings"].dispose_orm()
        with psycopg.connect(os.environ["NPS_WAREHOUSE_URL"], autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


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
    with warehouse.throwaway(server_url, "nps_test") as url:
        yield url


@pytest.fixture
def db(warehouse_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        yield conn


# ---- local fakes (nps_dev.fakes): small generated data, started once per session --------------------------------------
@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory) -> Path:
    """A small generated distributor (seed 7, 60 customers) in the fakes' directory layout."""
    from nps_dev.generator import GeneratorConfig, generate

    path = tmp_path_factory.mktemp("fake-data")
    generate(path, GeneratorConfig(seed=7, customers=60, days=35))
    return path


@pytest.fixture(scope="session")
def fake_stack(fake_data_dir: Path):
    """The three fakes on free loopback ports over `fake_data_dir` (tests that mutate data should restore it)."""
    from nps_dev.fakes import start_fakes

    with start_fakes(fake_data_dir) as stack:
        yield stack
