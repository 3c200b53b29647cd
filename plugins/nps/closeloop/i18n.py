"""Digest strings in uk (default), ru, en, pl: the catalog templates/strings.yml, plurals, date format."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from nps import i18n
from nps.collector.i18n import REASONS, TEXTS

STRINGS = Path(__file__).parent / "templates" / "strings.yml"
SEPARATORS = {"no-break space": "\u00a0"}  # the catalog names it: a blank value would read as a missing text


def strings(language: str) -> dict[str, str]:
    return i18n.texts(STRINGS, language)


def plural_form(language: str, n: int) -> str:
    """CLDR cardinal categories reduced to one / few / many (en: one / many)."""
    n = abs(n)
    if language == "en":
        return "one" if n == 1 else "many"
    if language == "pl":
        if n == 1:
            return "one"
        return "few" if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else "many"
    # uk, ru
    if n % 10 == 1 and n % 100 != 11:
        return "one"
    return "few" if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else "many"


def count(language: str, unit: str, n: int) -> str:
    """'3 дні', '5 днів', '1 business day', '2 orders' ... unit is 'day', 'bday' or 'order'."""
    return strings(language)[f"{unit}_{plural_form(language, n)}"].format(n=n)


def fmt_date(language: str, value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    return value.strftime(strings(language)["date_format"])


def fmt_amount(language: str, value) -> str:
    """Whole hryvnias with thousands grouped by the language's separator: '52 300' (a no-break space), '52,300'."""
    separator = strings(language)["thousands_sep"]
    return f"{round(value or 0):,}".replace(",", SEPARATORS.get(separator, separator))


def reason_label(language: str, code: str) -> str:
    """The label the customer clicked on the survey page; an unknown code is shown as it is."""
    return TEXTS[language][code] if code in REASONS else code
