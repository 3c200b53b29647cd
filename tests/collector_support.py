"""Helpers for the collector tests: a login as nps_collector on the test database, settings, tokens, signing."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import free_port
from nps import tokens, warehouse
from nps.collector.app import create_app
from nps.collector.settings import CollectorSettings
from nps.collector.webhook import public_key_b64, sign

TOKEN_SECRET = "collector-test-secret"
# Roles are cluster-wide: every test session on this server shares this fixed password (set, never unset).
COLLECTOR_TEST_PASSWORD = "nps-collector-test-pw"
PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = public_key_b64(PRIVATE_KEY)


def collector_url(warehouse_url: str) -> str:
    """The same database, as nps_collector (INSERT on landing only)."""
    return warehouse.collector_dsn(warehouse_url, COLLECTOR_TEST_PASSWORD)


def settings(db_url: str, spool_dir: Path, **overrides) -> CollectorSettings:
    values = dict(db_url=db_url, token_secret=TOKEN_SECRET, spool_dir=spool_dir, webhook_public_key=PUBLIC_KEY,
                  rate_limit_per_minute=0, replay_interval_s=0.2, db_timeout_s=1.0)
    values.update(overrides)
    return CollectorSettings(**values)


def token(survey_id: str, issued_at: datetime | None = None, ttl_days: int = 60) -> str:
    return tokens.mint(survey_id, issued_at=issued_at or datetime.now(UTC), ttl=timedelta(days=ttl_days),
                       secret=TOKEN_SECRET)


def signed(body: bytes, timestamp: int | None = None, key=None) -> dict[str, str]:
    ts = int(datetime.now(UTC).timestamp()) if timestamp is None else timestamp
    return {**sign(key or PRIVATE_KEY, body, ts), "Content-Type": "application/json"}


def count(conn: psycopg.Connection, table: str, survey_id: str | None = None) -> int:
    if survey_id is None:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]
    return conn.execute(f"select count(*) from {table} where survey_id = %s", (survey_id,)).fetchone()[0]


def add_sends(conn: psycopg.Connection, *surveys: str) -> None:
    """Record an invite for each survey: the loader takes answers only to surveys that were sent."""
    for s in surveys:
        conn.execute("insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language, "
                     "status, logical_date, claimed_at) values (%s, 'invite', %s, 'c1', 'a@example.com', 'uk', 'sent', "
                     "'2026-03-01', now()) on conflict do nothing", (s, "p-" + s))


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Run an app under a real uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("collector did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live_collector(warehouse_url, tmp_path):
    """The collector under a real uvicorn on a free loopback port (its base URL)."""
    with serve(create_app(settings(collector_url(warehouse_url), tmp_path / "spool"))) as base:
        yield base
