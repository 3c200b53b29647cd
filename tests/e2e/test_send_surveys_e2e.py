"""raw 1C/CRM rows -> the real dbt due queue -> `nps_send_surveys` (dag.test) -> the fake SendGrid, on a database of
its own: who gets an invite, who is excluded (unsubscribed, bounced, throttled, cancelled), reminders five days later
to those who did not answer, and nothing twice; a run for a day that is not today by the clock (a backfill) sends
nothing and reports what it would have sent.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import psycopg
import pytest

from nps import clock, transform, warehouse
from nps_dev.fakes.sendgrid import SendGridFake

KYIV = ZoneInfo("Europe/Kyiv")
DAY = date(2027, 6, 15)  # far from the dates other test modules load into the shared session database
KEY = "SG.e2e-key"
# customer -> (language in the CRM, what happens to them)
CUSTOMERS = {
    "a": ("en", "delivered 14 days ago"),
    "b": ("pl", "delivered 14 days ago"),
    "c": ("uk", "surveyed 30 days ago: throttled"),
    "d": ("ru", "unsubscribed in SendGrid"),
    "e": ("uk", "purchase cancelled"),
    "f": ("uk", "never delivered, promised 14 days ago"),
    "g": ("en", "bounced in SendGrid"),
}


def survey_id(sale_ref: str) -> str:  # nps.tokens.sale_survey_id, raw.onec_sales.survey_id
    return "sv" + hashlib.md5(sale_ref.encode()).hexdigest()[:24]


@pytest.fixture
def own_warehouse(server_url, warehouse_url, monkeypatch):
    name = f"nps_e2e_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    warehouse.bootstrap(url)
    parts = urlsplit(url)
    monkeypatch.setenv("NPS_WAREHOUSE_URL", url)
    monkeypatch.setenv("AIRFLOW_CONN_NPS_WAREHOUSE", json.dumps({
        "conn_type": "postgres", "host": parts.hostname, "port": parts.port, "login": parts.username,
        "password": parts.password, "schema": name}))
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def seed(conn: psycopg.Connection) -> None:
    bought = datetime(2027, 5, 20, 11, 0)
    for c, (language, _) in CUSTOMERS.items():
        conn.execute("""insert into raw.onec_customers (ref_key, code, name, legal_kind, email, region_raw, payload)
                        values (%s, %s, %s, 'person', %s, 'Київська область', '{}')""",
                     (f"cust-{c}", f"C-{c}", f"Customer {c.upper()}", f"{c}@example.com"))
        conn.execute("""insert into raw.crm_contacts (id, name, last_name, onec_code, language, email, payload)
                        values (%s, %s, 'Tester', %s, %s, %s, '{}')""",
                     (f"ct-{c}", f"Name{c.upper()}", f"C-{c}", language, f"{c}@example.com"))
        promised = DAY - timedelta(days=14 if c == "f" else 16)
        conn.execute("""insert into raw.onec_orders (ref_key, number, order_date, customer_ref, promised_date, posted,
                        payload) values (%s, %s, %s, %s, %s, true, '{}')""",
                     (f"ord-{c}", f"O-{c}", bought, f"cust-{c}", promised))
        if c != "f":
            conn.execute("""insert into raw.onec_deliveries (order_ref, delivered_at, status, payload)
                            values (%s, %s, 'Доставлено', '{}')""", (f"ord-{c}", datetime(2027, 6, 1, 15, 30)))
        conn.execute("""insert into raw.onec_sales (ref_key, number, sale_date, order_ref, customer_ref, amount,
                        currency, posted, deletion_mark, payload) values (%s, %s, %s, %s, %s, 100, 'UAH', true, %s,
                        '{}')""", (f"sale-{c}", f"S-{c}", bought, f"ord-{c}", f"cust-{c}", c == "e"))
    # c: an earlier purchase's survey went out 30 days ago (the throttle counts sends, not answers)
    conn.execute("""insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language, status,
                    message_id, logical_date, claimed_at, sent_at) values ('svold', 'invite', 'sale-old', 'cust-c',
                    'c@example.com', 'uk', 'sent', 'm-old', %s, now(), now())""", (DAY - timedelta(days=30),))


def sent(fake: SendGridFake) -> list[tuple[str, str, str]]:
    return [(p["custom_args"]["survey_id"], p["custom_args"]["kind"], p["to"][0]["email"])
            for m in fake.messages() for p in m["body"]["personalizations"]]


def return_value(dag_run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id,
                                                 key="return_value")).one()
        return XComModel.deserialize_value(row)


@pytest.fixture
def stack(own_warehouse, monkeypatch, tmp_path):
    """The fake SendGrid as nps_sendgrid, the simulated clock, the seed and its due queue built by dbt."""
    fake = SendGridFake(api_keys=(KEY,)).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_NPS_SENDGRID", json.dumps({"conn_type": "http", "host": fake.base_url,
                                                                    "password": KEY}))
        monkeypatch.setenv("NPS_TOKEN_SECRET", "e2e-secret")
        clock_file = tmp_path / "clock"  # the simulated clock says which day is today (contract §6a)
        monkeypatch.setenv("NPS_SIMULATION", "1")
        monkeypatch.setenv("NPS_CLOCK_FILE", str(clock_file))
        clock.set_simulated_now(clock_file, datetime(2027, 6, 15, 1, 0, tzinfo=KYIV))
        fake.unsubscribe("d@example.com", group_id=1001)  # our survey group: synced by the DAG's first task
        fake.bounce("g@example.com")
        with psycopg.connect(own_warehouse, autocommit=True) as conn:
            seed(conn)
            transform.run(["build", "--select", "+int_survey_due_queue", "--exclude", "resource_type:test"],
                          target_path=tmp_path / "dbt", as_of=clock.now())
            yield SimpleNamespace(fake=fake, conn=conn, clock_file=clock_file)
    finally:
        fake.stop()


def send_dag():
    """nps_send_surveys parsed now (its approval timeout is read from the environment at parse time)."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(transform.REPO_ROOT / "dags" / "nps_send_surveys.py")).get_dag("nps_send_surveys")
    for t in dag.tasks:
        t.retries = 0
    return dag


def test_due_queue_to_sendgrid_end_to_end(stack):
    fake, conn, clock_file = stack.fake, stack.conn, stack.clock_file
    dag = send_dag()

    def run_day(day: date, today: date | None = None, **conf):
        """The run for `day` at 10:00, the clock at 10:00 `today` (default: the run's own day)."""
        clock.set_simulated_now(clock_file, datetime.combine(today or day, time(10), tzinfo=KYIV))
        dag_run = dag.test(logical_date=datetime.combine(day, time(10), tzinfo=KYIV), run_conf=conf)
        assert dag_run.state == "success"
        return dag_run

    # a backfill: the day after, DAY's run sends nothing and says what it would have sent
    report = return_value(run_day(DAY, today=DAY + timedelta(days=1)), "send_surveys")
    assert len(fake.messages()) == 0
    assert report["reported_only"] == f"logical date {DAY} is not today ({DAY + timedelta(days=1)}): " \
                                      "reported, nothing sent"
    assert (report["would_send"], report["sent"], report["requests"]) == (3, 0, 0)
    assert conn.execute("select count(*) from raw.survey_sends").fetchone()[0] == 1  # the seed's only

    run_day(DAY, limit=2)  # rollout: two today
    assert len(sent(fake)) == 2
    run_day(DAY)  # the day re-run without the limit: the third one, and nothing twice
    invites = {s for s, kind, _ in sent(fake) if kind == "invite"}
    assert invites == {survey_id(f"sale-{c}") for c in "abf"}
    assert {email for *_, email in sent(fake)} == {"a@example.com", "b@example.com", "f@example.com"}
    langs = dict(conn.execute("select customer_ref, language from raw.survey_sends where status = 'sent' "
                              "and logical_date = %s", (DAY,)).fetchall())
    assert langs == {"cust-a": "en", "cust-b": "pl", "cust-f": "uk"}

    run_day(DAY)  # another re-run sends nothing
    assert len(sent(fake)) == 3

    # a answers; five days later b and f get their one reminder, for the same survey
    conn.execute("insert into raw.survey_responses (survey_id, score, responded_at) values (%s, 9, %s)",
                 (survey_id("sale-a"), datetime(2027, 6, 16, 12, tzinfo=KYIV)))
    run_day(DAY + timedelta(days=5))
    reminders = sorted((s, e) for s, kind, e in sent(fake) if kind == "reminder")
    assert reminders == sorted([(survey_id("sale-b"), "b@example.com"),
                                (survey_id("sale-f"), "f@example.com")])
    run_day(DAY + timedelta(days=6))
    assert len(sent(fake)) == 5  # one reminder only
    assert conn.execute("select count(*) from raw.survey_sends where status <> 'sent'").fetchone()[0] == 0


def test_a_large_batch_waits_for_a_person(stack, monkeypatch):
    """Over the ceiling (no history yet): Reject and a timeout send nothing, Approve sends; then the first batch after
    an eligibility setting changed waits again. Answers come through the UI's own handler (nps_dev.operator)."""
    from nps_dev.operator import Operator, expire_timed_out

    fake, conn, clock_file = stack.fake, stack.conn, stack.clock_file
    monkeypatch.setenv("NPS_SEND_APPROVAL_CEILING", "2")
    monkeypatch.setenv("NPS_SEND_APPROVAL_TIMEOUT_HOURS", "0.0005")  # 1.8 s
    dag = send_dag()

    def run_day(day: date, decide):
        clock.set_simulated_now(clock_file, datetime.combine(day, time(10), tzinfo=KYIV))
        with Operator(decide, user="e2e-operator", poll_s=0.2) as operator:
            dag_run = dag.test(logical_date=datetime.combine(day, time(10), tzinfo=KYIV))
        assert dag_run.state == "success"
        states = {ti.task_id: str(ti.state).split(".")[-1].lower() for ti in dag_run.get_task_instances()}
        return states, operator.answered

    def sweep_timeouts(_request):  # the scheduler's job: dag.test runs none
        expire_timed_out()

    states, answered = run_day(DAY, lambda request: "Reject")
    assert [option for _, option in answered] == ["Reject"]
    assert "3 surveys exceed the ceiling of 2" in answered[0][0].body
    assert (states["approve_large_batch"], states["send_surveys"]) == ("success", "skipped")
    assert fake.messages() == []

    states, answered = run_day(DAY, sweep_timeouts)  # nobody answers: the timeout rejects
    assert answered == [] and states["send_surveys"] == "skipped" and fake.messages() == []

    states, answered = run_day(DAY, lambda request: "Approve")
    assert states["send_surveys"] == "success"
    assert {s for s, kind, _ in sent(fake)} == {survey_id(f"sale-{c}") for c in "abf"}
    assert conn.execute("select would_send, sending_days, sent_at is not null from raw.survey_send_plans "
                        "where approval_reason is not null order by planned_at desc limit 1"
                        ).fetchone() == (3, 0, True)

    monkeypatch.setenv("NPS_SEND_APPROVAL_CEILING", "1000")
    monkeypatch.setenv("NPS_REMINDER_AFTER_DAYS", "6")  # changed: the next batch waits for a person
    states, answered = run_day(DAY + timedelta(days=6), lambda request: "Approve")
    assert "eligibility settings changed (reminder_after_days 5 -> 6)" in answered[0][0].body
    assert sorted(kind for _, kind, _ in sent(fake)) == ["invite"] * 3 + ["reminder"] * 3
    states, answered = run_day(DAY + timedelta(days=7), lambda request: "Reject")
    assert answered == [] and states["approve_large_batch"] == "skipped"  # unchanged, small: no approval
