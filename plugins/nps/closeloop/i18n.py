"""Digest strings in uk (default), ru, en, pl: catalogs in templates/strings/<lang>.json, plurals, date format."""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from nps.closeloop.settings import LANGUAGES

STRINGS_DIR = Path(__file__).parent / "templates" / "strings"


@lru_cache(maxsize=8)
def strings(language: str) -> dict[str, str]:
    if language not in LANGUAGES:
        raise ValueError(f"unsupported digest language {language!r} (one of {LANGUAGES})")
    return json.loads((STRINGS_DIR / f"{language}.json").read_text(encoding="utf-8"))


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
    """'3 дні', '5 днів', '1 business day' ... unit is 'day' or 'bday'."""
    return strings(language)[f"{unit}_{plural_form(language, n)}"].format(n=n)


def fmt_date(language: str, value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat() if language == "en" else value.strftime("%d.%m.%Y")


def reason_label(language: str, code: str) -> str:
    return strings(language).get(f"reason_{code}", code)
