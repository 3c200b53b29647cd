"""The survey e-mail: HTML + plain text in uk / ru / en / pl, rendered from the templates in `templates/`.

A batch request to SendGrid carries ONE `content` (HTML + text) for up to 1000 recipients, so the e-mail is
rendered once per (language, kind) with SendGrid substitution tags where the recipient differs:

- `-token-`          the survey's signed token (contract §6), inside every survey link;
- `-greeting-`       the greeting line for the plain-text part ("Добрий день, Олено!");
- `-greeting_html-`  the same, HTML-escaped, for the HTML part.

SendGrid replaces the tags per personalization (`substitutions`), exactly like `apply_substitutions` below, which
previews, tests and the README screenshot use to see the e-mail a given customer receives. The unsubscribe link is
SendGrid's own ASM tag `<%asm_group_unsubscribe_raw_url%>`, filled in by SendGrid for the message's `asm` group.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2
import yaml
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("uk", "ru", "en", "pl")
KINDS = ("invite", "reminder")
SCORES = range(11)

TOKEN_TAG = "-token-"
GREETING_TAG = "-greeting-"
GREETING_HTML_TAG = "-greeting_html-"
UNSUBSCRIBE_URL = "<%asm_group_unsubscribe_raw_url%>"

# Button colours: detractors 0-6 red, passives 7-8 grey-yellow, promoters 9-10 green. Each pair keeps the digit's
# contrast with its background at WCAG AA or better (red 5.6:1, khaki 9.7:1, green 5.1:1).
RED, KHAKI, GREEN = ("#c62828", "#ffffff"), ("#dccb7a", "#2b2b2b"), ("#2e7d32", "#ffffff")


def button_colors(score: int) -> tuple[str, str]:
    """(background, text) colour of a score button."""
    if not 0 <= score <= 10:
        raise ValueError(f"score must be 0..10, got {score}")
    return RED if score <= 6 else KHAKI if score <= 8 else GREEN


@dataclass(frozen=True)
class Email:
    """One rendered e-mail (or a batch template still holding substitution tags)."""

    language: str
    kind: str
    from_name: str
    subject: str
    html: str
    text: str


@cache
def strings() -> dict[str, dict[str, str]]:
    data = yaml.safe_load((TEMPLATES / "strings.yml").read_text(encoding="utf-8"))
    missing = [lang for lang in LANGUAGES if lang not in data]
    if missing:
        raise ValueError(f"templates/strings.yml lacks languages {missing}")
    return data


@cache
def _env(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=autoescape,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _check(language: str, kind: str) -> dict[str, str]:
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}: expected one of {LANGUAGES}")
    if kind not in KINDS:
        raise ValueError(f"unsupported kind {kind!r}: expected one of {KINDS}")
    return strings()[language]


def survey_url(base_url: str, token: str, score: int | None = None) -> str:
    """The collector's routes (contract §6): `/s/{token}` and `/s/{token}/{score}`."""
    url = f"{base_url.rstrip('/')}/s/{token}"
    return url if score is None else f"{url}/{score}"


def greeting(language: str, name: str | None) -> str:
    s = strings()[language]
    name = " ".join((name or "").split())
    return s["greeting_named"].format(name=name) if name else s["greeting_anonymous"]


def render_template(language: str, kind: str, base_url: str) -> Email:
    """The batch e-mail for (language, kind), holding the substitution tags in the module docstring."""
    s = _check(language, kind)
    buttons = []
    for score in SCORES:
        bg, fg = button_colors(score)
        buttons.append({"score": score, "href": survey_url(base_url, TOKEN_TAG, score), "bg": bg, "fg": fg,
                        "label": s["score_label"].format(score=score)})
    context = {"lang": language, "s": s, "subject": s[f"subject_{kind}"], "preheader": s[f"preheader_{kind}"],
               "intro": s[f"intro_{kind}"], "buttons": buttons, "survey_href": survey_url(base_url, TOKEN_TAG),
               "unsubscribe_href": UNSUBSCRIBE_URL}
    # SendGrid looks for its ASM tag verbatim, also inside an href: it must not be HTML-escaped.
    html_context = {**context, "unsubscribe_href": Markup(UNSUBSCRIBE_URL)}
    # The greeting tags are inserted after rendering: autoescape would leave them alone, but keeping them out of
    # the template context makes it impossible to escape a recipient's name twice.
    body_html = _env(True).get_template("survey.html.j2").render(greeting="@@GREETING@@", **html_context)
    body_text = _env(False).get_template("survey.txt.j2").render(greeting="@@GREETING@@", **context)
    return Email(language=language, kind=kind, from_name=s["sender_name"], subject=s[f"subject_{kind}"],
                 html=body_html.replace("@@GREETING@@", GREETING_HTML_TAG),
                 text=body_text.replace("@@GREETING@@", GREETING_TAG))


def substitutions(language: str, token: str, name: str | None) -> dict[str, str]:
    """One recipient's values for the batch template's tags (SendGrid `personalizations[].substitutions`)."""
    text = greeting(language, name)
    return {TOKEN_TAG: token, GREETING_TAG: text, GREETING_HTML_TAG: html.escape(text, quote=False)}


def apply_substitutions(value: str, subs: dict[str, str]) -> str:
    """What SendGrid does with `substitutions`: a plain replace of every tag in the content."""
    for tag, replacement in subs.items():
        value = value.replace(tag, replacement)
    return value


def render_for(language: str, kind: str, base_url: str, token: str, name: str | None) -> Email:
    """The e-mail one customer receives (previews, tests, the README screenshot)."""
    template = render_template(language, kind, base_url)
    subs = substitutions(language, token, name)
    return Email(language=language, kind=kind, from_name=template.from_name, subject=template.subject,
                 html=apply_substitutions(template.html, subs), text=apply_substitutions(template.text, subs))
