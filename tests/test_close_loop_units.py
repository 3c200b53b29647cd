"""Close loop, pure parts: SLA business days, owner resolution, plurals and languages, settings."""

from __future__ import annotations

from datetime import date

import pytest

from nps.closeloop import i18n
from nps.closeloop.business_days import BusinessCalendar, orthodox_easter, ukrainian_holidays
from nps.closeloop.owners import Directory, resolve
from nps.closeloop.settings import normalize_language, settings


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


def test_catalogs_complete_and_languages_normalized():
    keys = set(i18n.strings("uk"))
    for lang in ("ru", "en", "pl"):
        assert set(i18n.strings(lang)) == keys, lang
    assert normalize_language("UK", "en") == "uk"
    assert normalize_language("ua", "en") == "uk"
    assert normalize_language("pl-PL", "uk") == "pl"
    assert normalize_language("de", "uk") == "uk"
    assert normalize_language(None, "ru") == "ru"


def test_settings_defaults_and_bad_values(monkeypatch):
    s = settings()
    assert (s.sla_business_days, s.default_language, s.include_passives, s.cases_relation) == (
        2, "uk", False, "ops.detractor_cases")
    monkeypatch.setenv("NPS_CLOSELOOP_INCLUDE_PASSIVES", "maybe")
    with pytest.raises(ValueError, match="true/false"):
        settings()
    monkeypatch.setenv("NPS_CLOSELOOP_INCLUDE_PASSIVES", "yes")
    monkeypatch.setenv("NPS_CLOSELOOP_MANAGERS_RELATION", "region_managers; drop table x")
    with pytest.raises(ValueError, match="schema.table"):
        settings()


@pytest.mark.parametrize("lang", ["uk", "ru", "en", "pl"])
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
