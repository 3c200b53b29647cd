"""Close loop, pure parts: SLA business days, owner resolution, plurals, settings, the digest in every language."""

from __future__ import annotations

from datetime import date

import pytest

from nps.closeloop import i18n
from nps.closeloop.business_days import BusinessCalendar, orthodox_easter, ukrainian_holidays
from nps.closeloop.owners import Directory, resolve
from nps.closeloop.settings import settings
from nps.i18n import LANGUAGES


def test_business_days_skip_weekends():
    cal = BusinessCalendar("")
    assert cal.add_business_days(date(2026, 3, 2), 2) == date(2026, 3, 4)      # Mon -> Wed
    assert cal.add_business_days(date(2026, 3, 5), 2) == date(2026, 3, 9)      # Thu -> Mon
    assert cal.add_business_days(date(2026, 3, 7), 2) == date(2026, 3, 10)     # Sat -> Tue
    assert cal.add_business_days(date(2026, 3, 7), 0) == date(2026, 3, 9)      # weekend rolls to Monday
    assert cal.business_days_between(date(2026, 3, 4), date(2026, 3, 9)) == 3  # Thu, Fri, Mon
    assert cal.business_days_between(date(2026, 3, 9), date(2026, 3, 4)) == 0


def test_ukrainian_holidays_are_optional_and_carry_over_from_weekends():
    assert [orthodox_easter(y) for y in (2024, 2025, 2026)] == [date(2024, 5, 5), date(2025, 4, 20),
                                                                 date(2026, 4, 12)]
    days = ukrainian_holidays(2026)
    assert date(2026, 8, 24) in days and date(2026, 4, 13) in days            # Independence Day; Easter -> Monday
    assert date(2026, 3, 9) in days                                            # 8 March is a Sunday in 2026
    # weekends-only calendar (martial law): the holiday is a working day
    assert BusinessCalendar("").add_business_days(date(2026, 8, 21), 1) == date(2026, 8, 24)
    assert BusinessCalendar("ua").add_business_days(date(2026, 8, 21), 1) == date(2026, 8, 25)
    assert BusinessCalendar("2026-03-04").add_business_days(date(2026, 3, 2), 2) == date(2026, 3, 5)
    with pytest.raises(ValueError, match="neither 'ua' nor an ISO date"):
        BusinessCalendar("xmas")


DIRECTORY = Directory(
    crm_users={"7": {"email": "olena@firm.ua", "name": "Олена Коваль", "language": "uk"},
               "9": {"email": "pavel@firm.ua", "name": "Павел", "language": "ru"}},
    crm_by_email={"olena@firm.ua": "7", "pavel@firm.ua": "9", "lviv@firm.ua": "12"},
    regions={"львівська": {"email": "lviv@firm.ua", "name": "Андрій", "language": "uk"},
             "одеська": {"email": "odesa@firm.ua", "name": "Anna", "language": "en"}},
    fallback_email="cx@firm.ua", default_language="uk")


def test_owner_from_crm_responsible_user():
    owner = resolve("9", "Львівська", DIRECTORY)
    assert (owner.email, owner.source, owner.language, owner.crm_user_id) == ("pavel@firm.ua", "crm", "ru", "9")


def test_owner_from_region_seed_when_crm_user_unknown_or_inactive():
    owner = resolve("404", "Львівська", DIRECTORY)      # inactive users are not loaded into the directory
    assert (owner.email, owner.source, owner.crm_user_id) == ("lviv@firm.ua", "seed", "12")
    owner = resolve(None, " одеська ", DIRECTORY)
    assert (owner.email, owner.source, owner.language, owner.crm_user_id) == ("odesa@firm.ua", "seed", "en", None)


def test_owner_fallback_then_none():
    owner = resolve(None, "Волинська", DIRECTORY)
    assert (owner.email, owner.source) == ("cx@firm.ua", "fallback")
    nobody = Directory(DIRECTORY.crm_users, DIRECTORY.crm_by_email, DIRECTORY.regions, "", "uk")
    owner = resolve(None, None, nobody)
    assert (owner.email, owner.source) == (None, "none")


@pytest.mark.parametrize(("lang", "n", "expected"), [
    ("uk", 1, "1 день"), ("uk", 3, "3 дні"), ("uk", 5, "5 днів"), ("uk", 11, "11 днів"), ("uk", 21, "21 день"),
    ("ru", 2, "2 дня"), ("ru", 12, "12 дней"), ("pl", 1, "1 dzień"), ("pl", 22, "22 dni"), ("en", 1, "1 day"),
    ("en", 4, "4 days"),
])
def test_day_plurals(lang, n, expected):
    assert i18n.count(lang, "day", n) == expected


def test_settings_defaults_and_bad_values(monkeypatch):
    from nps.config import dbt_env

    monkeypatch.delenv("NPS_CLOSELOOP_INCLUDE_PASSIVES", raising=False)
    s = settings()
    assert (s.sla_business_days, s.default_language, s.cases_relation) == (2, "uk", "ops.detractor_cases")
    # the passives setting is the dbt model's (var closeloop_include_passives), parsed once here
    assert dbt_env()["NPS_CLOSELOOP_INCLUDE_PASSIVES"] == "False"
    monkeypatch.setenv("NPS_CLOSELOOP_INCLUDE_PASSIVES", "maybe")
    with pytest.raises(ValueError, match="true/false"):
        settings()
    monkeypatch.setenv("NPS_CLOSELOOP_INCLUDE_PASSIVES", "yes")
    assert dbt_env()["NPS_CLOSELOOP_INCLUDE_PASSIVES"] == "True"
    monkeypatch.setenv("NPS_CLOSELOOP_MANAGERS_RELATION", "region_managers; drop table x")
    with pytest.raises(ValueError, match="schema.table"):
        settings()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_digest_renders_in_every_language(lang):
    from datetime import UTC, datetime

    from nps.closeloop.digest import Digest, render

    case = {"survey_id": "s-1", "kind": "detractor", "customer_name": "Jan Kowalski", "company_name": None,
            "phone": "+48 600 000 000", "email": "jan@example.pl", "region": "Львівська", "order_number": "ZK-9",
            "delivered_at": None, "promised_date": date(2026, 2, 24), "delay_days": None, "is_in_full": None,
            "score": 2, "reasons": "{delivery_speed,price}", "comment": "Za późno & drogo",
            "responded_at": datetime(2026, 3, 1, 8, tzinfo=UTC), "opened_at": datetime(2026, 3, 1, 8, tzinfo=UTC),
            "sla_due_date": date(2026, 2, 25), "crm_task_id": "77", "status": "open"}
    digest = Digest("m@firm.ua", None, lang, date(2026, 3, 2), overdue=[case])
    subject, text, html = render(digest, BusinessCalendar(""), "Europe/Kyiv")
    t = i18n.strings(lang)
    assert t["section_overdue"] in text and t["section_new"] not in text and t["greeting"] in text
    assert i18n.reason_label(lang, "price") in text and "#77" in text
    assert t["overdue_by"].format(days=i18n.count(lang, "bday", 3)) in text     # Wed 25.02 -> Mon 02.03
    assert "Za późno &amp; drogo" in html and f'lang="{lang}"' in html
    assert subject == t["subject"].format(new=0, overdue=1, date=i18n.fmt_date(lang, date(2026, 3, 2)))


def _case(survey_id: str, **overrides) -> dict:
    from datetime import UTC, datetime

    case = {"survey_id": survey_id, "kind": "detractor", "customer_name": f"Customer {survey_id}",
            "company_name": None, "phone": None, "email": None, "region": None, "purchase_id": f"sale-{survey_id}",
            "order_number": "ЗК00-000123", "delivered_at": None, "promised_date": date(2026, 2, 24),
            "delay_days": None, "is_in_full": True, "score": 3, "reasons": [], "comment": None,
            "responded_at": datetime(2026, 2, 27, 8, tzinfo=UTC), "sla_due_date": date(2026, 3, 3), "status": "open"}
    return {**case, **overrides}


def _render(lang: str, **lists) -> tuple[str, str, str]:
    from nps.closeloop.digest import Digest, render

    return render(Digest("m@firm.ua", None, lang, date(2026, 3, 2), **lists), BusinessCalendar(""), "Europe/Kyiv")


@pytest.mark.parametrize(("lang", "line"), [("uk", "Доставка: обіцяно 24.02.2026, не доставлено\n"),
                                            ("en", "Delivery: promised 2026-02-24, not delivered\n")],
                         ids=["uk", "en"])
def test_undelivered_purchase_is_not_called_in_full(lang, line):
    # the shipment was complete (is_in_full) but never arrived: only "not delivered"
    _, text, html = _render(lang, new=[_case("s-lost")])
    assert line in text
    assert i18n.strings(lang)["in_full"] not in text and i18n.strings(lang)["in_full"] not in html


@pytest.mark.parametrize(("lang", "order", "delivery"), [
    ("uk", "Замовлення: без замовлення (реалізація 1С sale-s-counter)", "Доставка: доставки в 1С немає"),
    ("en", "Order: no order (1C sale sale-s-counter)", "Delivery: no delivery in 1C"),
], ids=["uk", "en"])
def test_case_without_order_shows_its_1c_sale(lang, order, delivery):
    counter_sale = _case("s-counter", order_number=None, promised_date=None)   # the model: no order, "in full"
    _, text, html = _render(lang, new=[counter_sale, _case("s-none", order_number=None, purchase_id=None)])
    assert f"   {order}\n" in text and f"   {delivery}\n" in text
    assert f"   {i18n.strings(lang)['order']}: {i18n.strings(lang)['order_unknown']}\n" in text
    assert "sale-s-counter" in html and i18n.strings(lang)["in_full"] not in text


@pytest.mark.parametrize(("lang", "line"), [
    ("uk", "Купівлі за 180 днів до відповіді: 4 замовлення, 52\u00a0300 грн"),
    ("ru", "Покупки за 180 дней до ответа: 5 заказов, 1\u00a0250\u00a0000 грн"),
    ("en", "Bought in the 180 days before the answer: 1 order, UAH 990"),
    ("pl", "Zakupy w ciągu 180 dni przed odpowiedzią: 2 zamówienia, 12\u00a0000 UAH"),
], ids=["uk", "ru", "en", "pl"])
def test_digest_says_what_the_customer_bought_before_the_answer(lang, line):
    orders, revenue = {"uk": (4, 52300), "ru": (5, 1250000), "en": (1, 990.4), "pl": (2, 12000)}[lang]
    bought = _case("s-buyer", history_days=180, orders_before=orders, revenue_before=revenue)
    none = _case("s-new", history_days=180, orders_before=0, revenue_before=0)
    unknown = _case("s-unknown")           # no history row (a relation without it): the line is left out
    _, text, html = _render(lang, new=[bought, none, unknown])
    t = i18n.strings(lang)
    assert f"   {line}\n" in text and line.split(": ", 1)[1] in html
    assert f"{t['bought'].format(days=i18n.count(lang, 'day', 180))}: {t['bought_none']}" in text
    assert text.count(t["bought"].split("{")[0]) == 2


@pytest.mark.parametrize("lang", ["uk", "en"])
def test_subject_counts_the_cases_the_body_lists(lang):
    import re

    t = i18n.strings(lang)
    late_new = _case("s-late", sla_due_date=date(2026, 2, 25), customer_name="Late New")   # Wed -> Mon: 3 days
    fresh = _case("s-fresh", customer_name="Fresh New")
    repeat = _case("s-repeat", sla_due_date=date(2026, 2, 26), customer_name="Repeat Old")
    subject, text, _ = _render(lang, new=[late_new, fresh], overdue=[repeat])
    assert subject == t["subject"].format(new=1, overdue=2, date=i18n.fmt_date(lang, date(2026, 3, 2)))
    headings = dict(re.findall(r"^== (.+) \((\d+)\) ==$", text, re.M))
    assert headings == {t["section_new"]: "1", t["section_overdue"]: "2"}
    new_part, overdue_part = text.split(f"== {t['section_overdue']} (2) ==")
    assert "Fresh New" in new_part and "Late New" not in new_part and t["overdue_by"].split(" {")[0] not in new_part
    assert overdue_part.index("Late New") < overdue_part.index("Repeat Old")          # earliest due first
    assert t["overdue_by"].format(days=i18n.count(lang, "bday", 3)) in overdue_part


@pytest.mark.parametrize(("lang", "line"), [
    ("uk", "Теми: Терміни доставки (−), Ціна, Менеджер (+)\n"),
    ("ru", "Темы: Сроки доставки (−), Цена, Менеджер (+)\n"),
    ("en", "Themes: Delivery time (−), Price, Sales manager (+)\n"),
    ("pl", "Tematy: Termin dostawy (−), Cena, Handlowiec (+)\n"),
], ids=["uk", "ru", "en", "pl"])
def test_case_shows_its_comment_themes_with_their_labels(lang, line):
    from nps.closeloop.digest import task_fields

    # in the dictionary's theme order whatever the array's; a neutral theme has no mark; an unknown id is left out
    themes = ["manager:+", "price:0", "delivery_time:-", "retired_theme:-"]
    _, text, html = _render(lang, new=[_case("s-themes", themes=themes)])
    assert line in text
    assert line.split(": ", 1)[1].strip() in html
    task = task_fields(lang, _case("s-themes", themes="{manager:+,price:0,delivery_time:-}"), "7", "2026-03-04",
                       BusinessCalendar(""), date(2026, 3, 2), "Europe/Kyiv")
    assert line.strip() in task["DESCRIPTION"]
    _, plain, _ = _render(lang, new=[_case("s-none", themes=[])])
    assert i18n.strings(lang)["themes"] + ":" not in plain
