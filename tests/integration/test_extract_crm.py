"""run_crm over HTTP against the fake Bitrix24 (nps_dev.fakes) and a real Postgres: first load, watermark
increments, backfills, quarantine, the leaky bucket, and auth errors."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest

from nps.bitrix_client import BitrixClient, LeakyBucket, mask, php_query
from nps.extract import run_crm
from nps.extract.errors import QuarantineThresholdExceeded
from nps.sources import RetryPolicy, SourceAuthError, SourceUnavailable

END = datetime(2026, 2, 17, 23, 0, tzinfo=UTC)  # 01:00 Kyiv; the generated CRM was last modified in January
START = END - timedelta(days=1)
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
RAW = ("raw.crm_contacts", "raw.crm_companies", "raw.crm_users", "raw.quarantine", "raw.load_state")


@pytest.fixture(scope="module")
def crm_dir(fake_data_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("crm-extract")
    shutil.copytree(fake_data_dir / "crm", data / "crm")
    return data / "crm"


@pytest.fixture
def crm(crm_dir):
    """A fresh Bitrix24 fake per test (tests edit its data), generous rate limit unless a test says otherwise."""
    from nps_dev.fakes.bitrix import Bitrix24Fake

    fake = Bitrix24Fake(crm_dir, rate=1000, burst=10_000).start()
    yield fake
    fake.stop()


@pytest.fixture
def raw(db):
    db.execute(f"truncate {', '.join(RAW)}")
    yield db
    db.execute(f"truncate {', '.join(RAW)}")  # the session's warehouse is shared with other tests


def client(fake, **kw) -> BitrixClient:
    return BitrixClient(fake.webhook_url, retry=FAST, **kw)


def load(fake, warehouse_url, *, run_id="run-1", start=START, end=END, bucket=None, **kw):
    with client(fake, bucket=bucket or LeakyBucket(capacity=10_000, drain=1000)) as c:
        return run_crm(start, end, run_id, client=c, dsn=warehouse_url, **kw), c


def count(db, table, where="true"):
    return db.execute(f"select count(*) from {table} where {where}").fetchone()[0]


def test_first_load_and_typed_columns(crm, raw, warehouse_url):
    stats, c = load(crm, warehouse_url)
    contacts, companies, users = (list(crm.entities[e].values()) for e in ("crm.contact", "crm.company", "user"))
    assert stats["contacts"]["inserted"] == len(contacts) == count(raw, "raw.crm_contacts")
    assert stats["companies"]["inserted"] == len(companies) == count(raw, "raw.crm_companies")
    assert stats["users"]["inserted"] == len(users) == count(raw, "raw.crm_users")
    one = next(x for x in contacts if x.get("EMAIL") and x.get("UF_CRM_1C_CODE"))
    row = raw.execute("select name, last_name, onec_code, language, assigned_by_id, email, date_modify, "
                      "payload->>'ID' from raw.crm_contacts where id = %s", (one["ID"],)).fetchone()
    assert row[:6] == (one["NAME"], one["LAST_NAME"], one["UF_CRM_1C_CODE"], one.get("UF_CRM_LANGUAGE"),
                       one["ASSIGNED_BY_ID"], one["EMAIL"][0]["VALUE"])
    assert row[6] == datetime.fromisoformat(one["DATE_MODIFY"]) and row[7] == one["ID"]
    seg = raw.execute("select count(*) from raw.crm_companies where segment is not null").fetchone()[0]
    assert seg > 0
    assert raw.execute("select count(*) from raw.crm_users where active is false").fetchone()[0] >= 1
    newest = max(datetime.fromisoformat(x["DATE_MODIFY"]) for x in contacts)
    wm = dict(raw.execute("select source, watermark from raw.load_state").fetchall())
    assert datetime.fromisoformat(wm["crm.contact"]) == newest
    # the first page of all three lists came in one batch call; the rest by ID cursor (50 rows a page)
    pages = sum(-(-len(x) // 50) for x in (contacts, companies)) + (len(contacts) % 50 == 0)
    assert c.requests <= 1 + pages + -(-len(users) // 50)


def test_increment_by_watermark_and_rerun_changes_nothing(crm, raw, warehouse_url):
    load(crm, warehouse_url)
    before = raw.execute("select id, xmin from raw.crm_contacts order by id").fetchall()
    stats, _ = load(crm, warehouse_url, run_id="run-2")
    assert all(s["inserted"] == s["updated"] == 0 for s in stats.values())
    wm = max(datetime.fromisoformat(x["DATE_MODIFY"]) for x in crm.entities["crm.contact"].values())
    overlap = [x for x in crm.entities["crm.contact"].values()
               if datetime.fromisoformat(x["DATE_MODIFY"]) > wm - timedelta(minutes=10)]
    assert stats["contacts"]["read"] == len(overlap) < 5  # only the overlap behind the watermark is read again
    assert raw.execute("select id, xmin from raw.crm_contacts order by id").fetchall() == before

    contact = dict(crm.entities["crm.contact"]["3"])
    contact.update(NAME="Змінене", DATE_MODIFY="2026-02-17T12:00:00+02:00")
    crm.upsert("crm.contact", contact)
    next_end = END + timedelta(days=1)
    stats, c = load(crm, warehouse_url, run_id="run-3", start=END, end=next_end)
    assert (stats["contacts"]["read"], stats["contacts"]["updated"]) == (len(overlap) + 1, 1)
    assert raw.execute("select name, _run_id from raw.crm_contacts where id = '3'").fetchone() == ("Змінене", "run-3")
    assert raw.execute("select watermark from raw.load_state where source = 'crm.contact'").fetchone()[0] == \
        "2026-02-17T12:00:00+02:00"


def test_changes_after_the_interval_wait_for_their_run(crm, raw, warehouse_url):
    contact = dict(crm.entities["crm.contact"]["4"])
    contact.update(NAME="Пізніше", DATE_MODIFY="2026-02-20T09:00:00+02:00")
    crm.upsert("crm.contact", contact)
    load(crm, warehouse_url)
    assert raw.execute("select name from raw.crm_contacts where id = '4'").fetchone() is None  # not as of END
    load(crm, warehouse_url, start=END + timedelta(days=2), end=END + timedelta(days=3))
    assert raw.execute("select name from raw.crm_contacts where id = '4'").fetchone()[0] == "Пізніше"


def test_backfill_of_an_old_date_reads_nothing_and_keeps_the_watermark(crm, raw, warehouse_url, caplog):
    load(crm, warehouse_url)
    wm = raw.execute("select source, watermark from raw.load_state order by 1").fetchall()
    with caplog.at_level("INFO"):
        stats, _ = load(crm, warehouse_url, run_id="old", start=datetime(2025, 11, 1, tzinfo=UTC),
                        end=datetime(2025, 11, 2, tzinfo=UTC))
    assert stats["contacts"]["read"] == stats["companies"]["read"] == 0
    assert "is past this interval's end" in caplog.text
    assert raw.execute("select source, watermark from raw.load_state order by 1").fetchall() == wm
    # a fresh warehouse backfilled from an old date loads what existed then, and moves forward run by run
    raw.execute("truncate raw.crm_contacts, raw.crm_companies, raw.crm_users, raw.load_state")
    old_end = datetime(2025, 12, 20, tzinfo=UTC)
    stats, _ = load(crm, warehouse_url, start=old_end - timedelta(days=1), end=old_end)
    early = [x for x in crm.entities["crm.contact"].values() if datetime.fromisoformat(x["DATE_MODIFY"]) < old_end]
    assert 0 < stats["contacts"]["inserted"] == len(early) < len(crm.entities["crm.contact"])
    stats, _ = load(crm, warehouse_url)
    assert count(raw, "raw.crm_contacts") == len(crm.entities["crm.contact"])


def test_malformed_contacts_are_quarantined(crm, raw, warehouse_url, monkeypatch):
    crm.upsert("crm.contact", {"ID": "9001", "NAME": "Без дати", "DATE_MODIFY": "вчора"})
    crm.upsert("crm.contact", {"ID": "9002", "NAME": "Поганий EMAIL", "EMAIL": "a@b.ua",
                               "DATE_MODIFY": "2026-01-01T10:00:00+02:00"})
    monkeypatch.setenv("NPS_QUARANTINE_THRESHOLD", "0.5")
    stats, _ = load(crm, warehouse_url)
    assert stats["contacts"]["quarantined"] == 1  # "вчора" does not pass the DATE_MODIFY filter at all
    q = raw.execute("select source, source_key, reason, payload->>'NAME' from raw.quarantine").fetchall()
    assert q == [("crm.contact", "9002", "EMAIL is not a list of values: str", "Поганий EMAIL")]
    assert count(raw, "raw.crm_contacts") == len(crm.entities["crm.contact"]) - 2
    monkeypatch.setenv("NPS_QUARANTINE_THRESHOLD", "0.001")
    raw.execute("delete from raw.load_state")
    with pytest.raises(QuarantineThresholdExceeded, match=r"Bitrix24 crm.contact.list: 1 of \d+ rows"):
        load(crm, warehouse_url, run_id="strict")
    assert count(raw, "raw.quarantine") == 1


def test_rate_limit_is_hit_and_obeyed(crm_dir, raw, warehouse_url, caplog):
    """A portal whose bucket is already full (other apps use it): 503 QUERY_LIMIT_EXCEEDED, back off, then pace
    at the drain rate so the portal does not refuse again, and finish the load."""
    from nps_dev.fakes.bitrix import Bitrix24Fake

    drain = 5.0
    fake = Bitrix24Fake(crm_dir, rate=drain, burst=1).start()  # one request of room: the 2nd in a burst is refused
    for i in range(250):  # enough contacts for several pages
        fake.upsert("crm.contact", {"NAME": f"Контакт {i}", "DATE_MODIFY": "2026-01-10T10:00:00+02:00"})
    try:
        seen: list[tuple[float, int]] = []
        real_handle = fake.handle

        def handle(req):
            resp = real_handle(req)
            seen.append((time.monotonic(), resp.status))
            return resp

        fake.handle = handle
        with caplog.at_level("WARNING"):
            stats, c = load(fake, warehouse_url, bucket=LeakyBucket(capacity=50, drain=drain))
        assert stats["contacts"]["inserted"] == len(fake.entities["crm.contact"])
        assert stats["companies"]["inserted"] == len(fake.entities["crm.company"])
        assert fake.throttled >= 1 and c.rate_limited == fake.throttled
        assert "QUERY_LIMIT_EXCEEDED" in caplog.text
        # obeyed: after the first refusal the client paces itself at the drain rate instead of retrying at once
        first = next(i for i, (_, status) in enumerate(seen) if status == 503)
        after = seen[first:]
        assert len(after) >= 5 and [s for _, s in after[1:]].count(503) <= 1  # (a loaded test machine jitters)
        gaps = sorted(b[0] - a[0] for a, b in zip(after, after[1:], strict=False))
        assert gaps[len(gaps) // 2] >= 0.9 / drain
    finally:
        fake.stop()


def test_rate_limit_that_never_clears_fails_naming_bitrix(crm, warehouse_url):
    crm.burst = 0  # every request refused
    c = client(crm, bucket=LeakyBucket(capacity=50, drain=50), max_rate_wait=0.5)
    with pytest.raises(SourceUnavailable, match=r"Bitrix24 at http://127\.0\.0\.1:\d+/rest/1/\*\*\*/ kept refusing "
                                                r"batch with QUERY_LIMIT_EXCEEDED"):
        run_crm(START, END, "r", client=c, dsn=warehouse_url)


def test_wrong_webhook_code_fails_at_once_without_leaking_it(crm, warehouse_url):
    c = BitrixClient(crm.webhook_url.replace("/demo/", "/s3cr3t/"), retry=FAST)
    with pytest.raises(SourceAuthError, match=r"Bitrix24 at http://127\.0\.0\.1:\d+/rest/1/\*\*\*/ rejected the "
                                              r"webhook of connection nps_crm \(401 NO_AUTH_FOUND") as err:
        run_crm(START, END, "r", client=c, dsn=warehouse_url)
    assert "s3cr3t" not in str(err.value) and c.requests == 1


def test_unreachable_bitrix_retries_then_says_why(warehouse_url):
    from conftest import free_port

    c = BitrixClient(f"http://127.0.0.1:{free_port()}/rest/1/abc/", retry=FAST)
    with pytest.raises(SourceUnavailable, match=r"Bitrix24 at .*/rest/1/\*\*\*/ \(connection nps_crm\) is "
                                                r"unavailable: ConnectError.* after 3 attempts"):
        run_crm(START, END, "r", client=c, dsn=warehouse_url)
    assert c.requests == 3


def test_batch_and_php_query(crm):
    assert php_query({"filter": {">DATE_MODIFY": "2026-01-01T00:00:00+02:00", ">ID": 0}, "select": ["*", "UF_*"],
                      "order": {"ID": "ASC"}, "start": -1}) == (
        "filter[%3EDATE_MODIFY]=2026-01-01T00%3A00%3A00%2B02%3A00&filter[%3EID]=0&select[]=%2A&select[]=UF_%2A"
        "&order[ID]=ASC&start=-1")
    with client(crm) as c:
        out = c.batch({"a": ("crm.contact.list", c.list_params({}, ["ID"])), "u": ("user.get", {"start": 0})})
        assert len(c.rows(out["a"].result)) == 50 and out["u"].total == len(crm.entities["user"])
    assert mask("https://x.bitrix24.ua/rest/7/abcdef123/") == "https://x.bitrix24.ua/rest/7/***/"


def test_connection_from_airflow_env(crm, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NPS_CRM", json.dumps({"conn_type": "http", "host": crm.webhook_url,
                                                           "extra": {"rate_capacity": 10, "rate_drain": 1}}))
    with BitrixClient.from_connection() as c:
        assert c.base == crm.webhook_url and c.bucket.capacity == 10 and c.bucket.drain == 1
