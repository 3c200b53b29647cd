"""Which answers make a close-loop case, on the relation dbt builds: detractors always, passives with a comment only
when NPS_CLOSELOOP_INCLUDE_PASSIVES is on (the model's rule, fed to dbt by nps.config.dbt_env), opened by
nps.closeloop.cases as it runs in production."""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from closeloop_support import DROP_CASES
from dbt_dataset import DAY, generate, latest_answers, load

from nps import transform
from nps.closeloop import cases
from nps.closeloop.cases import RunDay
from nps.closeloop.settings import settings

RAW_TABLES = ("raw.onec_customers", "raw.onec_orders", "raw.onec_order_lines", "raw.onec_sales", "raw.onec_sale_lines",
              "raw.onec_deliveries", "raw.crm_companies", "raw.crm_contacts", "raw.survey_sends",
              "raw.sendgrid_events", "raw.sendgrid_suppressions", "raw.survey_responses")


def _reset(conn: psycopg.Connection) -> None:
    conn.execute(f"truncate {', '.join(RAW_TABLES)}, ops.case_state")
    conn.execute("drop schema if exists staging cascade; drop schema if exists intermediate cascade")
    conn.execute(DROP_CASES)
    conn.execute("drop table if exists ops.customer_key_secret")


@pytest.fixture(scope="module")
def answers(warehouse_url: str, tmp_path_factory):
    """The generated answers, two passives without a comment among them, loaded into raw (nothing built yet)."""
    ds = generate()
    latest = latest_answers(ds)
    silent = sorted(sid for sid, a in latest.items() if a["score"] in (7, 8))[:2]
    latest[silent[0]]["comment"], latest[silent[1]]["comment"] = None, "  "
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        _reset(conn)
        load(conn, ds)
    yield {"latest": latest, "silent": set(silent), "target": tmp_path_factory.mktemp("dbt_cases_target")}
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        _reset(conn)


def _build(select: str, target) -> None:
    # cautious: only the tests whose every input is selected, as nps_transform's tasks run them
    outcome = transform.run(["build", "--select", select, "--indirect-selection", "cautious"], target_path=target,
                            as_of=DAY, env=transform.PIPELINE_ENV)
    assert outcome.success and not outcome.failures


def _cases(db) -> dict[str, tuple[str, str]]:
    return {sid: (kind, status) for sid, kind, status in db.execute("select survey_id, kind, status from ops.case_state")}


def test_passives_with_a_comment_make_cases_only_when_enabled(answers, db, monkeypatch):
    latest = answers["latest"]
    detractors = {sid for sid, a in latest.items() if a["score"] <= 6}
    commented = {sid for sid, a in latest.items() if a["score"] in (7, 8) and (a["comment"] or "").strip()}
    assert detractors and commented and answers["silent"].isdisjoint(commented)
    monkeypatch.setenv("NPS_CLOSELOOP_MAX_CASE_AGE_DAYS", "3650")   # the generated answers are weeks old

    monkeypatch.setenv("NPS_CLOSELOOP_INCLUDE_PASSIVES", "false")
    _build("+detractor_cases", answers["target"])
    cases.open_cases(db, RunDay.of(DAY, "Europe/Kyiv", "off#1"), settings())
    assert _cases(db) == dict.fromkeys(detractors, ("detractor", "open"))

    monkeypatch.setenv("NPS_CLOSELOOP_INCLUDE_PASSIVES", "true")
    _build("detractor_cases", answers["target"])     # the view (and its data tests) with the passives in it
    summary = cases.open_cases(db, RunDay.of(DAY + timedelta(days=1), "Europe/Kyiv", "on#1"), settings())
    assert summary["opened"] == len(commented)
    assert _cases(db) == {**dict.fromkeys(detractors, ("detractor", "open")),
                          **dict.fromkeys(commented, ("passive", "info"))}
    _build("detractor_cases", answers["target"])     # its data tests accept the passives' live 'info' status


def test_a_case_carries_what_the_customer_bought_before_the_answer(answers, db):
    """The digest's purchase line reads the case relation: the long window's "before" side of int_answer_outcomes
    (built nightly; an answer of the last hours has it from the next nightly build, the line is left out until then),
    filled for every case."""
    from nps.closeloop.digest import case_details

    _build("+detractor_cases", answers["target"])
    rows = db.execute("""
        select c.survey_id, c.history_days, c.orders_before, c.revenue_before, o.orders_before, o.revenue_before
          from ops.detractor_cases c
          left join intermediate.int_answer_outcomes o on o.survey_id = c.survey_id and o.window_days = 180
    """).fetchall()
    assert rows and all(r[1] == 180 and r[2] == r[4] and r[3] == r[5] for r in rows)
    # the surveyed order is among them (shipped before the answer); some customers bought more
    assert all(r[2] >= 1 for r in rows) and any(r[2] > 1 for r in rows)
    details = case_details(db, "ops.detractor_cases", [r[0] for r in rows])
    assert {(d["history_days"], d["orders_before"]) for d in details.values()} == {(180, r[2]) for r in rows}


def test_a_kiosk_answer_makes_a_case_only_with_a_consented_contact(answers, db, monkeypatch):
    """A shop kiosk's anonymous detractor makes a case once its customer left a phone with consent
    (ops.kiosk_contacts), in the location's oblast, with that phone and the shop in the manager's digest; the same
    answer without a contact, and a promoter with one, make none."""
    from nps.closeloop.digest import case_details, view

    monkeypatch.setenv("NPS_CLOSELOOP_MAX_CASE_AGE_DAYS", "3650")
    at = DAY - timedelta(days=2)
    ids = {key: "kq" + uuid.uuid4().hex for key in ("called", "silent", "happy")}
    db.execute("insert into ops.kiosk_locations (location_id, name, region, token_hash) "
               "values ('podil-test', 'Магазин на Подолі', 'Київщина', 'not-a-token')")
    try:
        for key, score in (("called", 2), ("silent", 3), ("happy", 10)):
            db.execute("insert into raw.survey_responses (survey_id, score, comment, language, channel, responded_at, "
                       "location_id, answer_id) values (%s, %s, 'Довго чекав на касі', 'uk', 'kiosk', %s, "
                       "'podil-test', %s)", (ids[key], score, at, ids[key]))
        for key in ("called", "happy"):
            db.execute("insert into ops.kiosk_contacts (answer_id, location_id, phone, language, consent_text, "
                       "consented_at) values (%s, 'podil-test', '+380671234567', 'uk', 'Я згоден(на)', %s)",
                       (ids[key], at))
        _build("+detractor_cases", answers["target"])
        rows = db.execute("select survey_id, region, segment, phone, email, location_name, purchase_id, customer_ref "
                          "from ops.detractor_cases where survey_id = any(%s)", (list(ids.values()),)).fetchall()
        assert rows == [(ids["called"], "Київська область", "anonymous", "+380671234567", None, "Магазин на Подолі",
                         None, None)]
        cases.open_cases(db, RunDay.of(DAY, "Europe/Kyiv", "kiosk#1"), settings())
        assert _cases(db)[ids["called"]] == ("detractor", "open")
        assert not {ids["silent"], ids["happy"]} & set(_cases(db))
        case = case_details(db, "ops.detractor_cases", [ids["called"]])[ids["called"]]
        shown = view("uk", {**case, "kind": "detractor"}, DAY.date(), cases.BusinessCalendar(settings().holidays),
                     ZoneInfo("Europe/Kyiv"))
        assert (shown["customer"], shown["company"], shown["phone"]) == (
            "Клієнт кіоску в магазині", "Магазин на Подолі", "+380671234567")
        assert shown["order"] is None and shown["delivery"] is None and shown["comment"] == "Довго чекав на касі"
    finally:
        db.execute("delete from ops.kiosk_contacts where location_id = 'podil-test'")
        db.execute("delete from ops.kiosk_locations where location_id = 'podil-test'")
        db.execute("delete from raw.survey_responses where survey_id = any(%s)", (list(ids.values()),))
        db.execute("delete from ops.case_state where survey_id = any(%s)", (list(ids.values()),))


def test_a_kiosk_contact_is_erased_after_its_case_closed_or_its_consent_expired(db, monkeypatch):
    """The consent is to be called back about one answer: nps_close_loop erases the contact
    NPS_KIOSK_CONTACT_RETENTION_DAYS after its case closed, or after the consent when no case is open."""
    monkeypatch.setenv("NPS_KIOSK_CONTACT_RETENTION_DAYS", "30")
    ids = {key: "kq" + uuid.uuid4().hex for key in ("open", "closed_lately", "closed_long_ago", "no_case", "fresh")}
    consented = {"open": 90, "closed_lately": 60, "closed_long_ago": 60, "no_case": 31, "fresh": 2}
    try:
        for key, days in consented.items():
            db.execute("insert into ops.kiosk_contacts (answer_id, location_id, phone, language, consent_text, "
                       "consented_at) values (%s, 'forget-test', '+380671234567', 'uk', 'так', %s)",
                       (ids[key], DAY - timedelta(days=days)))
        for key, status, closed in (("open", "open", None), ("closed_lately", "closed", 10),
                                    ("closed_long_ago", "closed", 31)):
            opened = DAY - timedelta(days=consented[key])
            db.execute("insert into ops.case_state (survey_id, kind, region, owner_source, opened_at, sla_due_date, "
                       "first_seen_on, status, closed_at) values (%s, 'detractor', 'Київська область', 'seed', %s, "
                       "%s, %s, %s, %s)", (ids[key], opened, opened.date(), opened.date(), status,
                                          DAY - timedelta(days=closed) if closed else None))
        run = RunDay.of(DAY, "Europe/Kyiv", "forget#1")
        assert cases.forget_kiosk_contacts(db, run, settings()) == 2
        kept = {r[0] for r in db.execute("select answer_id from ops.kiosk_contacts where location_id = 'forget-test'")}
        assert kept == {ids["open"], ids["closed_lately"], ids["fresh"]}
        assert cases.forget_kiosk_contacts(db, run, settings()) == 0  # a re-run erases nothing more
        assert db.execute("select count(*) from ops.case_state where survey_id = %s",
                          (ids["closed_long_ago"],)).fetchone() == (1,)  # the case itself stays
    finally:
        db.execute("delete from ops.kiosk_contacts where location_id = 'forget-test'")
        db.execute("delete from ops.case_state where survey_id = any(%s)", (list(ids.values()),))
