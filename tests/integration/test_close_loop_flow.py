"""Close loop on a real Postgres: owners, as-of cutoff, digests (content, language, exactly once, overdue),
Bitrix24 tasks (created once, status read back) and the BI mart's numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from closeloop_support import (
    add_case,
    add_crm_user,
    add_region_manager,
    cleanup,
    connect_fakes,
    reset,
    sent_bodies,
    text_of,
)

from nps.closeloop import cases, digest, owners, run, send
from nps.closeloop.business_days import BusinessCalendar
from nps.closeloop.cases import RunDay
from nps.closeloop.settings import settings


def day(d: str, token: str = "run#1") -> RunDay:
    """A run whose logical date is 00:00 UTC of `d` (02:00 in Kyiv): 'the next morning'."""
    return RunDay.of(datetime.fromisoformat(d).replace(tzinfo=UTC), "Europe/Kyiv", token)


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    """The project's fakes (SendGrid validates against the official OAI file; Bitrix24 keeps tasks)."""
    from nps_dev.fakes import start_fakes

    with start_fakes(tmp_path_factory.mktemp("close-loop-fakes")) as stack:
        yield stack


@pytest.fixture
def env(db, monkeypatch, fakes):
    reset(db)
    connect_fakes(monkeypatch, fakes, crm=False)
    monkeypatch.setenv("NPS_FALLBACK_MANAGER_EMAIL", "cx@firm.ua")
    add_crm_user(db, "7", "olena@firm.ua", "Олена", "uk")
    add_crm_user(db, "9", "pavel@firm.ua", "Павел", "ru")
    add_crm_user(db, "11", "gone@firm.ua", "Former", "uk", active=False)
    add_region_manager(db, "Львівська", "lviv@firm.ua", "Андрій", "uk")
    yield db
    cleanup(db)


def states(db) -> dict[str, dict]:
    cur = db.execute("select survey_id, owner_email, owner_source, status, notified_at, digest_id, sla_due_date, "
                     "crm_task_id, closed_at from ops.case_state")
    names = [c.name for c in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur}


def test_owner_resolution_cutoff_and_idempotent_rerun(env):
    db = env
    add_case(db, "s-crm", assigned_by="7")
    add_case(db, "s-inactive", assigned_by="11", region="Львівська")
    add_case(db, "s-seed", region="Львівська")
    add_case(db, "s-fallback", region="Волинська")
    add_case(db, "s-late", assigned_by="7", responded_at="2026-03-02T09:00:00+02:00")  # after the cutoff
    summary = cases.open_cases(db, day("2026-03-02"), settings())
    assert summary["opened"] == 4 and summary["unowned"] == 0
    st = states(db)
    assert {k: (v["owner_email"], v["owner_source"]) for k, v in st.items()} == {
        "s-crm": ("olena@firm.ua", "crm"), "s-inactive": ("lviv@firm.ua", "seed"),
        "s-seed": ("lviv@firm.ua", "seed"), "s-fallback": ("cx@firm.ua", "fallback")}
    assert st["s-crm"]["sla_due_date"] == date(2026, 3, 3)       # Sunday's answer: Mon, Tue
    assert cases.open_cases(db, day("2026-03-02"), settings())["opened"] == 0   # re-run: nothing new
    assert cases.open_cases(db, day("2026-03-03"), settings())["opened"] == 1   # the next day sees the later answer


def test_unowned_case_is_reported_until_someone_owns_it(env, monkeypatch):
    db = env
    monkeypatch.setenv("NPS_FALLBACK_MANAGER_EMAIL", "")
    add_case(db, "s-orphan", region="Херсонська")
    summary = cases.open_cases(db, day("2026-03-02"), settings())
    assert summary["unowned"] == 1 and summary["unowned_ids"] == ["s-orphan"]
    assert states(db)["s-orphan"]["owner_source"] == "none"
    result = run.send_digests(day("2026-03-02"))
    assert result["unowned_cases"] == 1 and result["sent"] == 0
    add_region_manager(db, "Херсонська", "kherson@firm.ua", "Ірина")
    summary = cases.open_cases(db, day("2026-03-03"), settings())
    assert summary["reassigned"] == 1 and summary["unowned"] == 0
    assert states(db)["s-orphan"]["owner_source"] == "seed"


def test_digest_content_per_manager_rendered_and_localized(env):
    db = env
    add_case(db, "s-1", assigned_by="7", comment="Привезли пізно <script>alert(1)</script>")
    add_case(db, "s-2", assigned_by="9", customer="Пётр Сидоров", company="ООО Вектор", phone="+380671234567",
             email="petr@vector.ua", delivered_at=None, delay_days=None, is_in_full=None, reasons=("price", "other"),
             score=0)
    s = settings()
    cases.open_cases(db, day("2026-03-02"), s)
    directory = owners.load_directory(db, s.managers_relation, s.fallback_email, s.default_language)
    planned = {d.manager_email: d for d in digest.plan(db, day("2026-03-02"), s.cases_relation, directory)}
    assert set(planned) == {"olena@firm.ua", "pavel@firm.ua"}
    cal = BusinessCalendar("")
    subject, text, html = digest.render(planned["olena@firm.ua"], cal, "Europe/Kyiv")
    assert subject == "NPS: нові критики — 1, прострочені — 0 (02.03.2026)"
    for expected in ("Доброго ранку, Олена!", "Іван Петренко", "ТОВ Ромашка", "+380501112233", "ivan@example.com",
                     "ЗК-000123", "доставлено 27.02.2026, обіцяно 24.02.2026, із запізненням на 3 дні, "
                     "не в повному обсязі", "3/10", "Швидкість доставки", "Термін реакції: 03.03.2026"):
        assert expected in text, expected
    assert "&lt;script&gt;" in html and "<script>" not in html      # the customer's comment is escaped
    assert "Пётр" not in text                                         # each manager sees only their cases
    subject, text, _ = digest.render(planned["pavel@firm.ua"], cal, "Europe/Kyiv")
    assert subject.startswith("NPS: новые критики — 1")
    assert "Доброе утро, Павел!" in text and "не доставлено" in text and "Цена, Другое" in text
    assert "0/10" in text


def test_digest_shows_the_1c_sale_of_a_case_without_an_order(env):
    db = env
    add_case(db, "s-counter", assigned_by="7", order_number=None, delivered_at=None, promised_date=None,
             delay_days=None, is_in_full=True)          # a counter sale, as ops.detractor_cases gives it
    s = settings()
    cases.open_cases(db, day("2026-03-02"), s)
    directory = owners.load_directory(db, s.managers_relation, s.fallback_email, s.default_language)
    (planned,) = digest.plan(db, day("2026-03-02"), s.cases_relation, directory)
    _, text, _ = digest.render(planned, BusinessCalendar(""), "Europe/Kyiv")
    assert "   Замовлення: без замовлення (реалізація 1С p-s-counter)\n" in text
    assert "   Доставка: доставки в 1С немає\n" in text


def test_digest_sent_exactly_once_across_reruns_and_retries(env, fakes):
    db = env
    add_case(db, "s-1", assigned_by="7")
    add_case(db, "s-2", assigned_by="7", customer="Марія")
    run.open_cases(day("2026-03-02"))
    fakes.sendgrid.rate_limit = 0                         # SendGrid refuses the first request (429): nothing left
    try:
        with pytest.raises(run.CloseLoopError, match="refused"):
            run.send_digests(day("2026-03-02", "run#1"))
    finally:
        fakes.sendgrid.rate_limit = 600
    assert sent_bodies(fakes) == []
    assert {s["digest_id"] for s in states(db).values()} == {None}          # released for the retry
    result = run.send_digests(day("2026-03-02", "run#2"))                  # Airflow's retry
    assert result["sent"] == 1 and len(sent_bodies(fakes)) == 1
    message = sent_bodies(fakes)[0]
    assert message["personalizations"][0]["to"][0]["email"] == "olena@firm.ua"
    assert {c["type"] for c in message["content"]} == {"text/plain", "text/html"}
    assert message["custom_args"]["kind"] == "digest"
    text = text_of(message)
    assert "Іван Петренко" in text and "Марія" in text
    row = db.execute("select status, message_id, survey_ids from ops.digests").fetchone()
    assert row[0] == "sent" and sorted(row[2]) == ["s-1", "s-2"]
    assert row[1] == fakes.sendgrid.messages()[0]["message_id"]             # X-Message-Id recorded
    assert all(s["notified_at"] is not None for s in states(db).values())
    # a whole re-run of the day, and the next day: no second entry for these cases
    run.open_cases(day("2026-03-02", "rerun#1"))
    assert run.send_digests(day("2026-03-02", "rerun#1"))["sent"] == 0
    assert run.send_digests(day("2026-03-03", "next#1"))["sent"] == 0
    assert len(sent_bodies(fakes)) == 1


def test_a_digest_whose_outcome_is_unknown_is_never_resent(env, fakes):
    db = env
    add_case(db, "s-1", assigned_by="7")
    run.open_cases(day("2026-03-02"))
    fakes.sendgrid.faults.fail_next = 1                   # a 500: SendGrid may have taken it
    assert run.send_digests(day("2026-03-02", "run#1"))["unknown"] == 1
    retry = run.send_digests(day("2026-03-02", "run#2"))
    assert (retry["sent"], retry["unconfirmed_cases"]) == (0, 1)
    assert run.send_digests(day("2026-03-03", "next#1"))["sent"] == 0
    assert sent_bodies(fakes) == []


def test_interrupted_send_is_never_repeated(env, fakes):
    db = env
    add_case(db, "s-1", assigned_by="7")
    run.open_cases(day("2026-03-02"))
    s = settings()
    directory = owners.load_directory(db, s.managers_relation, s.fallback_email, s.default_language)
    planned = digest.plan(db, day("2026-03-02"), s.cases_relation, directory)
    assert send.claim(db, planned[0], day("2026-03-02", "crashed#1"))        # claimed, then the worker died
    result = run.send_digests(day("2026-03-02", "crashed#2"))
    assert result["stale_claims"] == 1 and result["sent"] == 0 and result["already"] == 0
    assert db.execute("select status from ops.digests").fetchone()[0] == "unknown"
    result = run.send_digests(day("2026-03-03", "next#1"))
    assert result["sent"] == 0 and result["unconfirmed_cases"] == 1         # not in tomorrow's digest either
    assert sent_bodies(fakes) == []
    # the operator checked SendGrid: it never left. Released, it goes out in the next digest, once.
    digest_id = db.execute("select digest_id from ops.digests").fetchone()[0]
    assert send.release(db, digest_id) == 1
    assert run.send_digests(day("2026-03-04", "next#1"))["sent"] == 1
    assert len(sent_bodies(fakes)) == 1
    with pytest.raises(ValueError, match="sent ones stay sent"):
        send.release(db, db.execute("select max(digest_id) from ops.digests").fetchone()[0])


def test_overdue_cases_listed_again_until_closed(env, fakes):
    db = env
    add_case(db, "s-old", assigned_by="7", responded_at="2026-03-02T11:00:00+02:00")    # Monday: due Wednesday
    run.open_cases(day("2026-03-03"))
    run.send_digests(day("2026-03-03"))
    assert len(sent_bodies(fakes)) == 1
    add_case(db, "s-new", assigned_by="7", responded_at="2026-03-04T16:00:00+02:00", customer="Нова Клієнтка")
    run.open_cases(day("2026-03-05"))                    # Thursday
    result = run.send_digests(day("2026-03-05"))
    assert result["sent"] == 1
    second = sent_bodies(fakes)[1]
    text = text_of(second)
    assert "нові критики — 1, прострочені — 1" in second["subject"]
    new_part, overdue_part = text.split("== Прострочені випадки (1) ==")
    assert "Нова Клієнтка" in new_part and "Іван Петренко" in overdue_part
    assert "прострочено на 1 робочий день" in overdue_part
    row = db.execute("select overdue_ids, survey_ids from ops.digests where logical_date = '2026-03-05'").fetchone()
    assert row == (["s-old"], ["s-new"])
    db.execute("update ops.case_state set status = 'closed', closed_at = now() where survey_id = 's-old'")
    assert run.send_digests(day("2026-03-06"))["sent"] == 0   # s-new not yet overdue (due Fri), s-old closed
    assert len(sent_bodies(fakes)) == 2


def test_bitrix_task_created_once_and_status_read_back(env, fakes, monkeypatch):
    db = env
    connect_fakes(monkeypatch, fakes, crm=True)
    add_case(db, "s-crm", assigned_by="7")
    add_case(db, "s-seed-no-user", region="Львівська")   # lviv@firm.ua is no CRM user: no task, said so
    run.open_cases(day("2026-03-02"))
    result = run.create_crm_tasks(day("2026-03-02"))
    assert (result["created"], result["no_user"]) == (1, 1)
    (task_id, task), = fakes.crm.tasks.items()
    assert task["responsibleId"] == "7" and task["deadline"] == "2026-03-03T18:00:00+02:00"
    assert task["title"] == "NPS 3/10: Іван Петренко" and "+380501112233" in task["description"]
    # retried run, and the next day: no second task
    run.create_crm_tasks(day("2026-03-02", "run#2"))
    run.create_crm_tasks(day("2026-03-03"))
    assert len(fakes.crm.tasks) == 1 and states(db)["s-crm"]["crm_task_id"] == task_id
    # the manager starts it, then completes it in Bitrix24: read back into the case
    fakes.crm.set_task_status(task_id, 3)
    assert run.read_back_task_status(day("2026-03-03"))["in_progress"] == 1
    assert states(db)["s-crm"]["status"] == "in_progress"
    closed = fakes.crm.set_task_status(task_id, 5)["closedDate"]
    assert run.read_back_task_status(day("2026-03-05"))["closed"] == 1
    st = states(db)["s-crm"]
    assert st["status"] == "closed" and st["closed_at"] == datetime.fromisoformat(closed)
    assert run.read_back_task_status(day("2026-03-06"))["checked"] == 0   # closed cases are not polled
    # a case closed in the CRM is neither announced nor listed as overdue; the other one goes to its seed manager
    run.send_digests(day("2026-03-09"))
    (body,) = sent_bodies(fakes)
    assert body["personalizations"][0]["to"][0]["email"] == "lviv@firm.ua"
    assert "s-seed-no-user" in text_of(body) and "s-crm" not in text_of(body)


def test_refused_task_is_retried_interrupted_one_is_not(env, fakes, monkeypatch):
    db = env
    connect_fakes(monkeypatch, fakes, crm=True)
    add_case(db, "s-crm", assigned_by="7")
    run.open_cases(day("2026-03-02"))
    fakes.crm.faults.fail_next = 1                        # Bitrix24 answers 500 INTERNAL_SERVER_ERROR once
    with pytest.raises(run.CloseLoopError, match="could not be created"):
        run.create_crm_tasks(day("2026-03-02", "run#1"))
    assert fakes.crm.tasks == {} and states(db)["s-crm"]["crm_task_id"] is None
    assert run.create_crm_tasks(day("2026-03-02", "run#2"))["created"] == 1
    add_case(db, "s-dead", assigned_by="7", customer="Ще Один")
    run.open_cases(day("2026-03-03"))
    db.execute("update ops.case_state set crm_task_state = 'claimed', crm_task_claim = 'dead#1' "
               "where survey_id = 's-dead'")            # the worker died during tasks.task.add
    result = run.create_crm_tasks(day("2026-03-03", "dead#2"))
    assert result["stale_claims"] == 1 and result["created"] == 0 and len(fakes.crm.tasks) == 1
    # a task deleted in Bitrix24 is reported as missing, not fatal
    fakes.crm.tasks.clear()
    assert run.read_back_task_status(day("2026-03-04"))["missing"] == 1
