"""Test support for the close-loop tests: hand-made cases in place of the dbt model's rows (which answers make a
case is the model's rule, tests/integration/test_close_loop_cases.py) and of the region seed, and the project's fakes
(nps_dev.fakes) wired as the nps_crm / nps_sendgrid connections."""

from __future__ import annotations

# ops.detractor_cases is a view when dbt built it, a table when these tests made it: drop whichever is there
DROP_CASES = """
do $$ begin
    if to_regclass('ops.detractor_cases') is not null then
        execute (select case relkind when 'v' then 'drop view ' else 'drop table ' end || 'ops.detractor_cases'
                 from pg_class where oid = 'ops.detractor_cases'::regclass);
    end if;
end $$;
"""

INPUT_DDL = DROP_CASES + """
create table ops.detractor_cases (
    survey_id text primary key, purchase_id text, customer_ref text, region text, segment text,
    customer_name text, company_name text, phone text, email text, language text, crm_assigned_by_id text,
    score smallint, reasons text[], comment text, themes text[] default '{}', responded_at timestamptz,
    order_number text,
    delivered_at timestamp, promised_date date, delay_days integer, is_in_full boolean, nps_category text,
    history_days integer, orders_before integer, revenue_before numeric(18, 2), location_name text
);
create schema if not exists staging;
drop table if exists staging.region_managers;
create table staging.region_managers (region text, manager_email text, manager_name text, language text);
truncate ops.case_state, ops.digests, raw.crm_users;
"""


def reset(db) -> None:
    db.execute(INPUT_DDL)


def add_case(db, survey_id: str, *, region="Київська", assigned_by=None, score=3, category=None,
             responded_at="2026-03-01T10:00:00+02:00", comment="Привезли на 3 дні пізніше", reasons=("delivery_speed",),
             customer="Іван Петренко", company="ТОВ Ромашка", phone="+380501112233", email="ivan@example.com",
             delivered_at="2026-02-27 12:00", promised_date="2026-02-24", delay_days=3, is_in_full=False,
             order_number="ЗК-000123", orders_before=4, revenue_before=52300, location_name=None) -> None:
    category = category or ("detractor" if score <= 6 else "passive" if score <= 8 else "promoter")
    db.execute("""
        insert into ops.detractor_cases values (%s, %s, %s, %s, 'retail', %s, %s, %s, %s, 'uk', %s, %s, %s, %s,
                                                '{}', %s, %s, %s, %s, %s, %s, %s, 180, %s, %s, %s)
    """, (survey_id, None if location_name else f"p-{survey_id}", None if location_name else f"c-{survey_id}",
          region, customer, company, phone, email, assigned_by, score, list(reasons), comment, responded_at,
          order_number, delivered_at, promised_date, delay_days, is_in_full, category, orders_before,
          revenue_before, location_name))


def add_crm_user(db, user_id: str, email: str, name: str, language: str = "uk", active: bool = True) -> None:
    db.execute("insert into raw.crm_users (id, email, name, last_name, language, active, payload) "
               "values (%s, %s, %s, '', %s, %s, '{}')", (user_id, email, name, language, active))


def add_region_manager(db, region: str, email: str, name: str, language: str = "uk") -> None:
    db.execute("insert into staging.region_managers values (%s, %s, %s, %s)", (region, email, name, language))


def cleanup(db) -> None:
    """Leave the shared session database as other test modules expect it: no close-loop rows, no test inputs."""
    db.execute("""
        truncate ops.case_state, ops.digests, raw.crm_users;
        drop table if exists staging.region_managers;
    """)
    db.execute(DROP_CASES)


def connect_fakes(monkeypatch, stack, *, crm: bool = True) -> None:
    """Point the connections at a fake stack; start every test from empty mailboxes and task lists."""
    stack.sendgrid.clear_messages()
    stack.sendgrid.faults.fail_next = 0
    stack.crm.faults.fail_next = 0
    stack.crm.tasks.clear()
    for name, value in stack.airflow_env().items():
        monkeypatch.setenv(name, value)
    if not crm:
        monkeypatch.delenv("AIRFLOW_CONN_NPS_CRM", raising=False)
    monkeypatch.setenv("NPS_CLOSELOOP_CRM_TASKS", "auto" if crm else "off")


def sent_bodies(stack) -> list[dict]:
    return [m["body"] for m in stack.sendgrid.messages()]


def text_of(body: dict) -> str:
    return next(c["value"] for c in body["content"] if c["type"] == "text/plain")
