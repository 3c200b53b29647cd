"""Nothing accepted is lost: answers taken while Postgres is stopped are spooled (fsync) and loaded later."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from collector_support import add_sends, settings, signed, token, wait_for
from fastapi.testclient import TestClient

from conftest import free_port
from nps import warehouse
from nps.collector.app import create_app
from nps.collector.spool import Spool
from nps.config import state_dir
from nps.responses.landing import load_landing
from nps_dev.pgserver import LocalPostgres


def test_spool_append_seal_claim_read(tmp_path):
    spool = Spool(tmp_path)
    spool.append([{"table": "responses", "row": {"n": 1}}, {"table": "responses", "row": {"n": 2}}])
    assert spool.has_active() and not list(tmp_path.glob("ready-*"))
    # another process' view: the live writer's active file is not sealed behind its back
    assert Spool(tmp_path).seal_orphans() == 0
    spool.seal()
    [claimed] = Spool(tmp_path).claim()
    assert Spool(tmp_path).claim() == []  # one owner per file
    records, bad = Spool.read(claimed)
    assert [r["row"]["n"] for r in records] == [1, 2] and bad == []


def test_orphaned_active_file_of_a_dead_writer_is_sealed(tmp_path):
    (tmp_path / "active-999999-1.jsonl").write_text('{"table":"clicks","row":{}}\n')  # nobody holds its lock
    assert Spool(tmp_path).seal_orphans() == 1
    assert len(list(tmp_path.glob("ready-*.jsonl"))) == 1


@pytest.fixture
def own_postgres(tmp_path, monkeypatch):
    """A throwaway Postgres server of our own, so the test can stop it without disturbing anyone."""
    monkeypatch.setenv("NPS_PG_PORT", str(free_port()))
    # Not under pytest's tmp dir: parallel pytest sessions reset /tmp/pytest-of-<user> to 0700, which would lock
    # the server's system user out of its own data directory.
    root = Path(tempfile.mkdtemp(prefix="spool-test-pg-", dir=state_dir()))
    pg = LocalPostgres(root)
    pg.start()
    warehouse.bootstrap(pg.url(), collector_password="spool-test-pw")
    try:
        yield pg
    finally:
        pg.destroy()


def test_answers_survive_a_stopped_postgres(own_postgres, tmp_path):
    pg = own_postgres
    owner_url = pg.url()
    cfg = settings(pg.url(user="nps_collector", password="spool-test-pw"), tmp_path / "spool", db_timeout_s=0.5)
    surveys = [f"s-{uuid.uuid4().hex[:10]}" for _ in range(6)]
    with TestClient(create_app(cfg), follow_redirects=False) as client:
        r = client.post(f"/s/{token(surveys[0])}", data={"score": "8"}, headers={"Accept": "application/json"})
        assert r.json() == {"ok": True, "stored": "db"}
        pg.stop()
        for n, survey in enumerate(surveys[1:], start=1):
            tok = token(survey)
            assert client.get(f"/s/{tok}/{n}").status_code == 200  # the click is spooled too
            r = client.post(f"/s/{tok}", data={"score": str(n), "comment": f"offline {n}"},
                            headers={"Accept": "application/json"} if n == 1 else {})
            if n == 1:
                assert r.json() == {"ok": True, "stored": "spool"}, (pg.is_running(), os.listdir(tmp_path / "spool"))
            else:
                assert r.status_code == 303 and r.headers["location"].endswith("&thanks=1")  # the customer sees thanks
        body = json.dumps([{"event": "delivered", "sg_event_id": f"off-{surveys[1]}", "timestamp": int(time.time()),
                            "survey_id": surveys[1], "kind": "invite"}]).encode()
        assert client.post("/webhooks/sendgrid", content=body, headers=signed(body)).status_code == 200
        spooled = [p for p in (tmp_path / "spool").iterdir() if p.suffix == ".jsonl"]
        assert spooled and os.path.getsize(spooled[0]) > 0
        assert client.get("/healthz").json()["database"] is False
        pg.start()
        with psycopg.connect(owner_url, autocommit=True) as conn:
            # the collector's background task replays the spool once the database is back
            wait_for(lambda: conn.execute("select count(*) from landing.responses").fetchone()[0] == 6)
            assert conn.execute("select count(*) from landing.clicks").fetchone()[0] == 5
            assert conn.execute("select count(*) from landing.sendgrid_events").fetchone()[0] == 1
            assert conn.execute("select count(*) from landing.responses where source = 'spool'").fetchone()[0] == 5
    assert [p.name for p in (tmp_path / "spool").iterdir()] == []
    with psycopg.connect(owner_url, autocommit=True) as conn:
        add_sends(conn, *surveys)
    load_landing(owner_url)
    with psycopg.connect(owner_url) as conn:
        rows = dict(conn.execute("select survey_id, score from raw.survey_responses").fetchall())
        assert rows == {s: (8 if i == 0 else i) for i, s in enumerate(surveys)}
        assert conn.execute("select count(*) from raw.sendgrid_events").fetchone()[0] == 1


def test_claim_of_a_crashed_replayer_is_released_after_a_while(tmp_path):
    stuck = tmp_path / "ready-1-1.jsonl.claimed"
    stuck.write_text('{"table":"clicks","row":{}}\n')
    assert Spool(tmp_path, stale_claim_s=600).claim() == []  # still owned
    os.utime(stuck, (time.time() - 601, time.time() - 601))
    [again] = Spool(tmp_path, stale_claim_s=600).claim()
    assert again.name == "ready-1-1.jsonl.claimed" and len(Spool.read(again)[0]) == 1
