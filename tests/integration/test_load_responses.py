"""nps_load_responses on a real Postgres: landing -> raw, file drops, spool sweep, dedupe, quarantine, dag.test()."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from collector_support import add_sends, collector_url, serve, settings, token
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from nps.collector.app import create_app
from nps.collector.spool import Spool
from nps.collector.store import replay
from nps.responses.files import load_drop_dir
from nps.responses.known import unknown_surveys
from nps.responses.landing import load_landing
from nps.tokens import sale_survey_id

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HEADER = "survey_id,score,comment,responded_at,channel\n"


def sid() -> str:
    return "s-" + uuid.uuid4().hex[:12]


def raw_answer(db, survey: str):
    return db.execute("select score, comment, reasons, language, channel, responded_at from raw.survey_responses "
                      "where survey_id = %s", (survey,)).fetchone()


def test_token_post_landing_raw_end_to_end(warehouse_url, db, tmp_path):
    survey = sid()
    add_sends(db, survey)
    with TestClient(create_app(settings(collector_url(warehouse_url), tmp_path / "spool"))) as client:
        tok = token(survey)
        assert client.post(f"/s/{tok}?lang=en", data={"score": "9"},
                           headers={"Accept": "application/json"}).json()["stored"] == "db"
        assert client.post(f"/s/{tok}?lang=en", data={"score": "10", "comment": "Fast & friendly",
                                                       "reasons": "service"}, follow_redirects=False).status_code == 303
    load_landing(warehouse_url, "test-run")
    score, comment, reasons, language, channel, _ = raw_answer(db, survey)
    assert (score, comment, reasons, language, channel) == (10, "Fast & friendly", ["service"], "en", "email")


def test_landing_to_raw_latest_wins_dedupes_and_quarantines(warehouse_url, db):
    survey, other = sid(), sid()
    add_sends(db, survey, other)
    ins = ("insert into landing.responses (survey_id, score, comment, language, responded_at, signal) "
           "values (%s, %s, %s, 'uk', %s, 'submit')")
    db.execute(ins, (survey, 2, "later answer", T0 + timedelta(hours=1)))
    db.execute(ins, (survey, 9, "earlier answer, landed last", T0))  # a spooled answer can land late
    db.execute(ins, (other, 7, None, T0))
    db.execute(ins, ("bad id!", 5, None, T0))
    db.execute("insert into landing.clicks (survey_id, score, clicked_at, user_agent) values (%s, 9, %s, 'ua'),"
               " (%s, 9, %s, 'ua')", (survey, T0, survey, T0))  # the same click twice (spool replay)
    ev_id = "ev-" + uuid.uuid4().hex
    event = {"email": "a@example.com", "event": "delivered", "timestamp": int(T0.timestamp()), "sg_event_id": ev_id,
             "sg_message_id": "m1.f", "survey_id": survey, "kind": "invite"}
    for payload in (event, event, {**event, "sg_event_id": "ev-bad-" + uuid.uuid4().hex, "timestamp": "soon"}):
        db.execute("insert into landing.sendgrid_events (sg_event_id, event, payload) values (%s, %s, %s)",
                   (payload["sg_event_id"], payload["event"], Jsonb(payload)))

    first = load_landing(warehouse_url, "run-1")
    again = load_landing(warehouse_url, "run-2")  # re-running doubles nothing
    assert first["events_quarantined"] >= 1 and again["events_quarantined"] == 0
    assert again["responses_quarantined"] == 0 and again["clicks_inserted"] == 0 and again["events_inserted"] == 0
    assert raw_answer(db, survey)[:2] == (2, "later answer")
    assert raw_answer(db, other)[0] == 7
    assert db.execute("select count(*) from raw.survey_clicks where survey_id = %s", (survey,)).fetchone()[0] == 1
    row = db.execute("select event, survey_id, kind, occurred_at from raw.sendgrid_events where sg_event_id = %s",
                     (ev_id,)).fetchone()
    assert row == ("delivered", survey, "invite", T0)
    reasons = {r[0] for r in db.execute("select reason from raw.quarantine where run_id = 'run-1'")}
    assert {"survey_id is not a survey id", "missing or bad timestamp"} <= reasons


def test_watermark_advances_past_settled_rows(warehouse_url, db, monkeypatch):
    monkeypatch.setenv("NPS_LANDING_SETTLE_S", "0")
    survey = sid()
    add_sends(db, survey)
    db.execute("insert into landing.responses (survey_id, score, responded_at, signal) values (%s, 6, %s, 'submit')",
               (survey, T0))
    stats = load_landing(warehouse_url)
    top = db.execute("select max(id) from landing.responses").fetchone()[0]
    assert stats["responses_watermark"] == top
    assert db.execute("select watermark from raw.load_state where source = 'landing.responses'").fetchone()[0] == str(top)
    assert load_landing(warehouse_url)["responses_upserted"] == 0


PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"


def test_only_answers_a_person_gave_count(warehouse_url, db):
    """An answer counts with a human signal, from no known scanner agent, and not as one of several scores of a
    survey opened from one client within seconds (a mail gateway opening every button); the rest stays in landing."""
    s = {name: sid() for name in ("touch", "no_signal", "scanner", "headless", "burst", "changed_mind", "later")}
    add_sends(db, *s.values())
    rows = [(s["touch"], 9, "touch", PHONE, "h1", T0),
            (s["no_signal"], 8, None, PHONE, "h1", T0),  # e.g. the old page's on-load POST
            (s["scanner"], 10, "visible_3s", "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))", "h2", T0),
            (s["headless"], 7, "pointer", "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/124.0 Safari/537.36",
             "h2", T0),
            *[(s["burst"], n, "visible_3s", PHONE, "h3", T0 + timedelta(seconds=n / 5)) for n in (0, 5, 10)],
            (s["changed_mind"], 9, "visible_3s", PHONE, "h4", T0),
            (s["changed_mind"], 6, "submit", PHONE, "h4", T0 + timedelta(seconds=10)),  # judged alone
            (s["later"], 4, "key", PHONE, "h5", T0),
            (s["later"], 8, "touch", PHONE, "h5", T0 + timedelta(minutes=10))]  # tapped another button later
    with db.cursor() as cur:
        cur.executemany("insert into landing.responses (survey_id, score, signal, user_agent, client_hash, "
                        "responded_at) values (%s, %s, %s, %s, %s, %s)", rows)
    stats = load_landing(warehouse_url, "run-h")
    assert stats["responses_not_counted"] >= 6
    counted = dict(db.execute("select survey_id, score from raw.survey_responses where survey_id = any(%s)",
                              (list(s.values()),)).fetchall())
    assert counted == {s["touch"]: 9, s["changed_mind"]: 6, s["later"]: 8}
    assert db.execute("select count(*) from raw.quarantine where run_id = 'run-h' and payload->>'survey_id' = any(%s)",
                      (list(s.values()),)).fetchone()[0] == 0  # not bad data: kept in landing for audit


def test_answer_to_a_survey_never_sent_is_quarantined(warehouse_url, db):
    """A row written straight into landing (the collector's login) for a survey we never sent never reaches raw."""
    sent, never = sid(), sid()
    add_sends(db, sent)
    db.execute("insert into landing.responses (survey_id, score, responded_at, signal) values (%s, 10, %s, 'submit'),"
               " (%s, 10, %s, 'submit')", (sent, T0, never, T0))
    load_landing(warehouse_url, "run-u1")
    load_landing(warehouse_url, "run-u2")  # quarantined once
    assert raw_answer(db, sent)[0] == 10 and raw_answer(db, never) is None
    assert db.execute("select run_id, reason from raw.quarantine where source = 'landing.responses' "
                      "and payload->>'survey_id' = %s", (never,)).fetchall() == [
        ("run-u1", "unknown survey_id (no send, no 1C sale)")]


def test_an_answer_finds_its_sale_by_the_stored_survey_id(db):
    """A QR answer has no send: its survey is found among the sales by the column raw.onec_sales.survey_id, through
    its index (no hash of every sale)."""
    sold = str(uuid.uuid4())
    db.execute("insert into raw.onec_sales (ref_key, sale_date, posted, payload) values (%s, %s, true, '{}')",
               (sold, T0.replace(tzinfo=None)))
    survey, stranger = sale_survey_id(sold), sale_survey_id(str(uuid.uuid4()))
    try:
        assert unknown_surveys(db, [survey, stranger, "kq-anonymous"]) == {stranger}
        with db.transaction():
            db.execute("set local enable_seqscan = off")  # a few rows here: the planner would read them all
            plan = db.execute("explain select survey_id from raw.onec_sales where survey_id = any(%s)",
                              ([survey],)).fetchall()
        assert "onec_sales_survey_id_idx" in " ".join(row[0] for row in plan)
    finally:
        db.execute("delete from raw.onec_sales where ref_key = %s", (sold,))  # the session's warehouse is shared


def _drop(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_file_drop_loads_moves_and_is_processed_once(warehouse_url, db, tmp_path):
    a, b = sid(), sid()
    add_sends(db, a, b)
    text = (HEADER + f'{a},8,"Зручно, швидко",2026-03-02T10:00:00,kiosk\n'
            f"{b},3,,2026-03-02T10:05:00+02:00,kiosk\n{a},9,changed my mind,2026-03-02T11:00:00,kiosk\n")
    drop = tmp_path / "drop"
    _drop(drop, "kiosk-0302.csv", text)
    [result] = load_drop_dir(warehouse_url, T0 + timedelta(days=1), "run-f", drop)
    assert result == {"file": "kiosk-0302.csv", "status": "loaded", "rows": 3, "surveys": 2, "quarantined": 0}
    assert (drop / "done" / "kiosk-0302.csv").exists() and not (drop / "kiosk-0302.csv").exists()
    score, comment, _, _, channel, responded = raw_answer(db, a)
    assert (score, comment, channel) == (9, "changed my mind", "file:kiosk")
    assert responded == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 11:00 Europe/Kyiv (UTC+2)
    # the same bytes dropped again are not loaded twice
    _drop(drop, "kiosk-0302-copy.csv", text)
    [again] = load_drop_dir(warehouse_url, T0 + timedelta(days=1), "run-f2", drop)
    assert again["status"] == "already loaded"


def test_file_drop_rejects_bad_files_with_reason(warehouse_url, db, tmp_path, monkeypatch):
    monkeypatch.setenv("NPS_QUARANTINE_THRESHOLD", "0.5")
    good, unknown = sid(), sid()
    add_sends(db, good)
    drop = tmp_path / "drop"
    _drop(drop, "a-wrong-header.csv", "id,score\n1,2\n")
    _drop(drop, "b-mostly-bad.csv", HEADER + f"{good},11,,2026-03-02T10:00:00,kiosk\nx y,5,,nope,kiosk\n")
    _drop(drop, "c-some-bad.csv", HEADER + f"{good},4,ok,2026-03-02T10:00:00,kiosk\n"
                                           f"{good},4,ok,2026-03-02T10:00:00,KIOSK STAND\n"
                                           f"{good},5,fine,2026-03-02T12:00:00,tool\n"
                                           f"{unknown},5,,2026-03-02T10:00:00,kiosk\n")
    _drop(drop, "d-not-utf8.csv", "x")
    (drop / "d-not-utf8.csv").write_bytes(HEADER.encode() + "ок".encode("cp1251") + b",1,,2026-03-02,k\n")
    results = {r["file"]: r for r in load_drop_dir(warehouse_url, T0 + timedelta(days=1), "run-r", drop)}
    assert results["a-wrong-header.csv"]["status"] == "rejected"
    assert "missing ['survey_id', 'comment', 'responded_at', 'channel']" in (drop / "rejected" / "a-wrong-header.csv.reason.txt"
                                                                ).read_text()
    assert results["b-mostly-bad.csv"]["status"] == "rejected"
    assert "2 of 2 rows are bad" in (drop / "rejected" / "b-mostly-bad.csv.reason.txt").read_text()
    assert results["c-some-bad.csv"] == {"file": "c-some-bad.csv", "status": "loaded", "rows": 2, "surveys": 1,
                                         "quarantined": 2}
    assert raw_answer(db, good)[:2] == (5, "fine")
    assert raw_answer(db, unknown) is None
    assert results["d-not-utf8.csv"]["status"] == "rejected"
    quarantined = dict(db.execute("select source_key, reason from raw.quarantine where run_id = 'run-r'").fetchall())
    assert quarantined == {"c-some-bad.csv:3": "channel must be 1-32 chars of a-z 0-9 _ -",
                           "c-some-bad.csv:5": "unknown survey_id (no send, no 1C sale)"}
    assert sorted(p.name for p in drop.glob("*.csv")) == []


def test_the_latest_answer_wins_across_channels(warehouse_url, db, tmp_path):
    """One rule for every channel (nps.responses.latest): an older kiosk answer does not replace a newer e-mail one."""
    survey = sid()
    add_sends(db, survey)
    db.execute("insert into landing.responses (survey_id, score, responded_at, signal) values (%s, 9, %s, 'submit')",
               (survey, T0 + timedelta(hours=1)))
    load_landing(warehouse_url)

    def kiosk(name: str, score: int, at: datetime) -> tuple:
        _drop(tmp_path / "drop", name, HEADER + f"{survey},{score},,{at.isoformat()},kiosk\n")
        load_drop_dir(warehouse_url, T0 + timedelta(days=1), "run-x", tmp_path / "drop")
        return raw_answer(db, survey)[0::4]  # score, channel

    assert kiosk("older.csv", 2, T0) == (9, "email")
    assert kiosk("newer.csv", 3, T0 + timedelta(hours=2)) == (3, "file:kiosk")


def test_loader_sweeps_spool_each_file_once(warehouse_url, db, tmp_path):
    survey = sid()
    add_sends(db, survey)
    spool = Spool(tmp_path / "spool")
    spool.append([{"table": "responses", "row": {"survey_id": survey, "score": 1, "comment": "db was down",
                                                 "reasons": ["price"], "language": "pl", "responded_at": T0,
                                                 "signal": "submit"}}])
    spool.append([{"table": "sendgrid_events", "row": {"sg_event_id": "sp-" + survey, "event": "open",
                                                       "payload": json.dumps({"event": "open", "timestamp": 1})}}])
    spool.seal()
    with (tmp_path / "spool" / f"ready-1-{survey}.jsonl").open("wb") as fh:  # a torn tail: never acknowledged
        fh.write(b'{"table":"responses","row":{"survey_id":"torn"')
    assert replay(Spool(tmp_path / "spool"), warehouse_url) == {"files": 2, "rows": 2, "bad_lines": 0}
    assert replay(Spool(tmp_path / "spool"), warehouse_url) == {"files": 0, "rows": 0, "bad_lines": 0}
    assert list((tmp_path / "spool").iterdir()) == []
    rows = db.execute("select score, comment, source, signal from landing.responses where survey_id = %s",
                      (survey,)).fetchall()
    assert rows == [(1, "db was down", "spool", "submit")]
    load_landing(warehouse_url)
    assert raw_answer(db, survey)[:4] == (1, "db was down", ["price"], "pl")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))


def test_dag_shape(dagbag):
    dag = dagbag.get_dag("nps_load_responses")
    assert [t.task_id for t in dag.topological_sort()] == ["replay_spool", "load_file_drops", "load_landing",
                                                           "classify_comments", "announce"]
    assert [o.uri for o in dag.get_task("announce").outlets] == ["nps://raw/responses"]


def test_dag_test_loads_everything(dagbag, warehouse_url, db, tmp_path, monkeypatch):
    monkeypatch.setenv("NPS_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("NPS_FILE_DROP_DIR", str(tmp_path / "drop"))
    web, kiosk, spooled = sid(), sid(), sid()
    add_sends(db, web, kiosk, spooled)
    db.execute("insert into landing.responses (survey_id, score, responded_at, signal) values (%s, 0, %s, 'touch')",
               (web, T0))
    _drop(tmp_path / "drop", "batch.csv", HEADER + f"{kiosk},10,Швидка доставка,2026-03-02T10:00:00,kiosk\n")
    spool = Spool(tmp_path / "spool")
    spool.append([{"table": "responses", "row": {"survey_id": spooled, "score": 6, "comment": None, "reasons": [],
                                                 "language": "ru", "responded_at": T0, "signal": "visible_3s"}}])
    spool.seal()
    dag = dagbag.get_dag("nps_load_responses")
    run = dag.test(logical_date=datetime(2026, 3, 2, 10, tzinfo=UTC))
    assert run.state == "success"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["announce"] == "success"
    assert raw_answer(db, web)[0] == 0
    assert raw_answer(db, kiosk)[4] == "file:kiosk"
    assert raw_answer(db, spooled)[0] == 6
    assert (tmp_path / "drop" / "done" / "batch.csv").exists()
    assert db.execute("select theme, tone from raw.comment_themes where survey_id = %s", (kiosk,)).fetchall() == \
        [("delivery_time", "+")]  # classified before the Asset event
    # the next hour: nothing new, so no Asset event (the announce task is skipped) and nothing doubled
    rerun = dag.test(logical_date=datetime(2026, 3, 2, 11, tzinfo=UTC))
    assert rerun.state == "success"
    assert {ti.task_id: ti.state for ti in rerun.get_task_instances()}["announce"] == "skipped"
    assert db.execute("select count(*) from raw.survey_responses where survey_id = any(%s)",
                      ([web, kiosk, spooled],)).fetchone()[0] == 3


def test_fake_sendgrid_signed_batches_over_http_reach_raw(warehouse_url, db, tmp_path):
    """The fake SendGrid signs batches with its key and POSTs them; the collector verifies; the loader parses."""
    from nps_dev.fakes.sendgrid import SendGridFake

    fake, stranger = SendGridFake(), SendGridFake()
    survey = sid()
    message = {"message_id": "fakeMsg" + survey, "body": {
        "personalizations": [{"to": [{"email": "olena@example.com"}],
                              "custom_args": {"survey_id": survey, "kind": "reminder"}}]}}
    events = fake.make_events(message, "delivered") + fake.make_events(message, "bounce")
    app = create_app(settings(collector_url(warehouse_url), tmp_path / "spool", webhook_public_key=fake.public_key))
    with serve(app) as base:
        assert stranger.emit_events(f"{base}/webhooks/sendgrid", events, retries=0) == 403
        assert fake.emit_events(f"{base}/webhooks/sendgrid", events, retries=0) == 200
        assert fake.emit_events(f"{base}/webhooks/sendgrid", events, retries=0) == 200  # a retry: acknowledged
    load_landing(warehouse_url)
    rows = db.execute("select event, kind, email, reason from raw.sendgrid_events where survey_id = %s order by event",
                      (survey,)).fetchall()
    assert rows == [("bounce", "reminder", "olena@example.com",
                     "550 5.1.1 The email account that you tried to reach does not exist"),
                    ("delivered", "reminder", "olena@example.com", None)]
