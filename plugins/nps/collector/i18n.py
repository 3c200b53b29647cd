"""The survey page texts (templates/strings.yml) and the language choice for a request."""

from __future__ import annotations

from pathlib import Path

from nps.i18n import load, pick

REASONS = ("delivery_speed", "delivery_accuracy", "product_quality", "price", "service", "other")
TEXTS = load(Path(__file__).parent / "templates" / "strings.yml")


def choose(query_lang: str | None, accept_language: str | None, default: str) -> str:
    """`?lang=` (the sender appends the survey's language to every link) wins; then Accept-Language; then default."""
    ranked = []
    for i, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, i, tag))
    return pick(query_lang, *(tag for _, _, tag in sorted(ranked)), default=default)
