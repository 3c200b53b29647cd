"""The survey languages and the one format of every string catalog (collector pages, survey e-mails, digests).

A catalog is a YAML file `language -> key -> text`, one per component, beside that component's templates. Loading
checks that it holds exactly LANGUAGES with the same non-empty keys in each, so a missing translation fails on the
first load (and in the unit tests), never in a customer's or a manager's mail.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

LANGUAGES = ("uk", "ru", "en", "pl")  # Ukrainian first: the default and the fallback
ALIASES = {"ua": "uk"}  # the country code that people and CRMs often write for Ukrainian


@cache
def load(path: Path) -> dict[str, dict[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or set(data) != set(LANGUAGES) or not all(isinstance(t, dict) for t in data.values()):
        raise ValueError(f"{path}: needs exactly the languages {LANGUAGES}, each a mapping key -> text")
    keys = set(data[LANGUAGES[0]])
    for language, texts in data.items():
        if set(texts) != keys:
            raise ValueError(f"{path}: {language} keys differ from {LANGUAGES[0]}: {sorted(set(texts) ^ keys)}")
        empty = sorted(k for k, v in texts.items() if not isinstance(v, str) or not v.strip())
        if empty:
            raise ValueError(f"{path}: {language} has empty or non-text values {empty}")
    return data


def texts(path: Path, language: str) -> dict[str, str]:
    """One language of a catalog; an unsupported language is the caller's bug, so no silent fallback here."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}: expected one of {LANGUAGES}")
    return load(path)[language]


def pick(*candidates: str | None, default: str = LANGUAGES[0]) -> str:
    """The first candidate naming a supported language ('UK', 'uk-UA', 'ua' -> 'uk'), else default, else Ukrainian."""
    for value in candidates:
        code = (value or "").strip().lower()[:2]
        code = ALIASES.get(code, code)
        if code in LANGUAGES:
            return code
    return default if default in LANGUAGES else LANGUAGES[0]
