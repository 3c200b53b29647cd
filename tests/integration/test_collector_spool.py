"""Nothing accepted is lost: answers taken while Postgres is stopped are spooled (fsync) and loaded later."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from collector_support import add_sends, collector_url, settings, signed, token, wait_for
from fastapi.testclient import TestClient

from conftest import free_port
from nps import warehouse
from nps.collector.app import create_app
from nps.collector.spool import Spool
from nps.collector.store import replay
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


def _ready_file(folder: Path, lines: list[bytes]) -> Path:
    """A sealed spool file as a crashed or older writer may have left it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ready-{time.time_ns()}-{uuid.uuid4().hex[:8]}.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _answer(survey: str, score: int) -> bytes:
    return json.dumps({"table": "responses", "row": {"survey_id": survey, "score": score, "comment": None,
                                                      "reasons": [], "language": "uk", "signal": "submit",
                                                      "responded_at": "2026-03-02T09:00:00+00:00"}}).encode()


def test_bad_spool_lines_reach_quarantine_and_good_ones_land(warehouse_url, db, tmp_path):
    """The collector's own login replays (it writes only landing); the loader then quarantines what could not land."""
    good, refused = f"s-{uuid.uuid4().hex[:10]}", f"s-{uuid.uuid4().hex[:10]}"
    add_sends(db, good, refused)
    path = _ready_file(tmp_path / "spool", [_answer(good, 7), b'{"table":"responses","row":{"surv\x00',
                                            b'{"table":"nowhere","row":{}}', _answer(refused, 11)])
    assert replay(Spool(tmp_path / "spool"), collector_url(warehouse_url)) == {"files": 1, "rows": 1, "bad_lines": 3}
    assert db.execute("select survey_id from landing.responses where survey_id = any(%s)",
                      ([good, refused],)).fetchall() == [(good,)]
    run = f"run-{uuid.uuid4().hex[:8]}"
    assert load_landing(warehouse_url, run)["spool_quarantined"] == 3
    assert load_landing(warehouse_url, run)["spool_quarantined"] == 0  # once each
    reasons = dict(db.execute("select source_key, reason from raw.quarantine where source = 'spool' and run_id = %s",
                              (run,)).fetchall())
    assert reasons[f"{path.name}:1"] == "unreadable spool line"
    assert reasons[f"{path.name}:2"] == "not a spool record: KeyError('nowhere')"
    assert reasons[f"{path.name}:3"].startswith("refused by the database: ")
    assert db.execute("select score from raw.survey_responses where survey_id = %s", (good,)).fetchone() == (7,)


def test_a_file_landed_by_a_replayer_that_died_before_deleting_it_lands_once(warehouse_url, db, tmp_path):
    survey = f"s-{uuid.uuid4().hex[:10]}"
    path = _ready_file(tmp_path / "spool", [_answer(survey, 4)])
    kept = path.read_bytes()
    assert replay(Spool(tmp_path / "spool"), warehouse_url)["rows"] == 1
    path.write_bytes(kept)  # as if the replayer had committed, then crashed before deleting its claimed file
    assert replay(Spool(tmp_path / "spool"), warehouse_url) == {"files": 1, "rows": 0, "bad_lines": 0}
    assert list((tmp_path / "spool").iterdir()) == []
    assert db.execute("select count(*) from landing.responses where survey_id = %s", (survey,)).fetchone() == (1,)


def test_a_spooled_kiosk_contact_reaches_ops_on_replay(warehouse_url, db, tmp_path):
    """A kiosk answer and its consented contact taken while the database was away: the collector's own login replays
    both, the contact through landing.kiosk_contact into ops (which it may not read), once however often replayed."""
    answer = "kq" + uuid.uuid4().hex
    contact = {"answer_id": answer, "location_id": "spool-shop", "phone": "+380671234567", "email": None,
               "language": "ru", "consent_text": "Я согласен(на)", "consented_at": "2026-03-02T09:00:00+00:00"}
    row = json.loads(_answer(answer, 2))["row"] | {"channel": "kiosk", "answer_id": answer, "location_id": "spool-shop"}
    lines = [json.dumps({"table": "contacts", "row": contact}).encode(),
             json.dumps({"table": "responses", "row": row}).encode()]
    try:
        for _ in range(2):  # the kiosk resent it and both copies were spooled
            _ready_file(tmp_path / "spool", lines)
        assert replay(Spool(tmp_path / "spool"), collector_url(warehouse_url)) == {"files": 2, "rows": 4,
                                                                                   "bad_lines": 0}
        assert db.execute("select phone, language, consented_at from ops.kiosk_contacts where answer_id = %s",
                          (answer,)).fetchall() == [("+380671234567", "ru", datetime(2026, 3, 2, 9, tzinfo=UTC))]
        assert db.execute("select count(*) from landing.responses where survey_id = %s", (answer,)).fetchone() == (1,)
    finally:
        db.execute("delete from ops.kiosk_contacts where answer_id = %s", (answer,))
        db.execute("delete from landing.responses where survey_id = %s", (answer,))
