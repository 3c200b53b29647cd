"""The survey e-mail: HTML + plain text in uk / ru / en / pl, rendered from the templates in `templates/`.

A batch request to SendGrid carries ONE `content` (HTML + text) for up to 1000 recipients, so the templates are
rendered ONCE, language-neutral, into a *skeleton* that holds SendGrid substitution tags wherever a word or a
recipient differs:

- localized tags `-nps_<key>-` (e.g. `-nps_intro-`, `-nps_question-`, `-nps_score_label_7-`, `-nps_lang-`): one
  string of `templates/strings.yml` in the e-mail's language and kind; a key whose text needs HTML escaping in
  some language has a second tag `-nps_<key>_html-` for the HTML part (see `localized`);
- recipient tags: `-token-` (the survey's signed token, contract §6, inside every survey link), `-greeting-` (the
  greeting line for the plain-text part, "Добрий день, Олено!") and `-greeting_html-` (the same, HTML-escaped).

The localized tags are filled in once per (language, kind) here (`render_template`) when a request holds one
language and kind; a request that mixes them sends the skeleton and each recipient's `substitutions` carry the
localized strings as well (see `nps.surveys.sender`). Either way the customer gets the same bytes: SendGrid
replaces the tags per personalization exactly like `apply_substitutions` below, which previews, tests and the
README screenshot use. No value ever holds a tag, so the order of replacement does not matter. The unsubscribe link
is SendGrid's own ASM tag `<%asm_group_unsubscribe_raw_url%>`, filled in by SendGrid for the message's `asm` group.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

import jinja2
from markupsafe import Markup
from markupsafe import escape as markupsafe_escape

from nps import i18n
from nps.i18n import LANGUAGES

TEMPLATES = Path(__file__).parent / "templates"
STRINGS = TEMPLATES / "strings.yml"
KINDS = ("invite", "reminder")
SCORES = range(11)

TOKEN_TAG = "-token-"
GREETING_TAG = "-greeting-"
GREETING_HTML_TAG = "-greeting_html-"
UNSUBSCRIBE_URL = "<%asm_group_unsubscribe_raw_url%>"
NAME_MAX = 100  # characters of a customer's name used (greeting, `to.name`): bounds a personalization's size

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


def strings() -> dict[str, dict[str, str]]:
    return i18n.load(STRINGS)


@cache
def _env(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=autoescape,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _check(language: str, kind: str) -> dict[str, str]:
    texts = i18n.texts(STRINGS, language)
    if kind not in KINDS:
        raise ValueError(f"unsupported kind {kind!r}: expected one of {KINDS}")
    return texts


def survey_url(base_url: str, token: str, score: int | None = None) -> str:
    """The collector's routes (contract §6): `/s/{token}` and `/s/{token}/{score}`."""
    url = f"{base_url.rstrip('/')}/s/{token}"
    return url if score is None else f"{url}/{score}"


def greeting(language: str, name: str | None) -> str:
    s = strings()[language]
    name = " ".join((name or "").split())[:NAME_MAX].strip()
    return s["greeting_named"].format(name=name) if name else s["greeting_anonymous"]


LOCAL_TAG = "-nps_{}-"  # a localized string; `_html` suffix for its HTML-escaped variant
GENERIC_KEYS = ("subject", "preheader", "intro")  # kind-specific strings: `<key>_<kind>` in strings.yml


@dataclass(frozen=True)
class Skeleton:
    """The language-neutral e-mail: localized and recipient tags in place of every word that differs."""

    html: str
    text: str
    tags: frozenset[str]  # the localized tags in html + text


def _plain_values(language: str, kind: str) -> dict[str, str]:
    """Every localized string the templates use, by generic key (`intro`, not `intro_invite`)."""
    s = _check(language, kind)
    values = {k: v for k, v in s.items() if not k.startswith(tuple(f"{g}_" for g in GENERIC_KEYS))}
    values.update({g: s[f"{g}_{kind}"] for g in GENERIC_KEYS})
    values.update({f"score_label_{n}": s["score_label"].format(score=n) for n in SCORES})
    values["lang"] = language
    return values


@cache
def _html_tagged() -> frozenset[str]:
    """Keys whose text changes under HTML escaping in some language: their HTML part gets a tag of its own."""
    return frozenset(k for lang in LANGUAGES for kind in KINDS for k, v in _plain_values(lang, kind).items()
                     if str(markupsafe_escape(v)) != v)


def _tag(key: str, html: bool) -> str:
    return LOCAL_TAG.format(f"{key}_html" if html and key in _html_tagged() else key)


@cache
def skeleton(base_url: str) -> Skeleton:
    """The templates rendered once with tags for every localized string and every recipient's bits."""
    keys = _plain_values(LANGUAGES[0], KINDS[0]).keys()

    def context(html: bool) -> dict:
        s = {k: _tag(k, html) for k in keys}
        buttons = []
        for score in SCORES:
            bg, fg = button_colors(score)
            buttons.append({"score": score, "href": survey_url(base_url, TOKEN_TAG, score), "bg": bg, "fg": fg,
                            "label": s[f"score_label_{score}"]})
        # SendGrid looks for its ASM tag verbatim, also inside an href: it must not be HTML-escaped.
        return {"lang": s["lang"], "s": s, "subject": s["subject"], "preheader": s["preheader"],
                "intro": s["intro"], "buttons": buttons, "survey_href": survey_url(base_url, TOKEN_TAG),
                "unsubscribe_href": Markup(UNSUBSCRIBE_URL) if html else UNSUBSCRIBE_URL}

    # The greeting tags are inserted after rendering: keeping them out of the template context makes it
    # impossible to escape a recipient's name twice.
    body_html = _env(True).get_template("survey.html.j2").render(greeting="@@GREETING@@", **context(True))
    body_text = _env(False).get_template("survey.txt.j2").render(greeting="@@GREETING@@", **context(False))
    html_out = body_html.replace("@@GREETING@@", GREETING_HTML_TAG)
    text_out = body_text.replace("@@GREETING@@", GREETING_TAG)
    tags = frozenset(t for k in keys for t in {_tag(k, True), _tag(k, False)} if t in html_out or t in text_out)
    return Skeleton(html=html_out, text=text_out, tags=tags)


@cache
def localized(language: str, kind: str, base_url: str) -> Mapping[str, str]:
    """The skeleton's localized tags -> this language's strings (HTML tags escaped), as SendGrid substitutions."""
    values = _plain_values(language, kind)
    out = {}
    for key, value in values.items():
        for in_html in (False, True):
            tag = _tag(key, in_html)
            if tag in skeleton(base_url).tags:
                out[tag] = str(markupsafe_escape(value)) if in_html else value
    for value in out.values():  # a value holding a tag would make the result depend on replacement order
        if "-nps_" in value or any(t in value for t in (TOKEN_TAG, GREETING_TAG, GREETING_HTML_TAG)):
            raise ValueError(f"templates/strings.yml ({language}) holds a substitution tag: {value!r}")
    return MappingProxyType(out)  # cached: read-only


@cache
def render_template(language: str, kind: str, base_url: str) -> Email:
    """The batch e-mail for one (language, kind): the skeleton with the localized tags filled in, the recipient
    tags (`-token-`, `-greeting-`, `-greeting_html-`) still in place."""
    s = _check(language, kind)
    skel, subs = skeleton(base_url), localized(language, kind, base_url)
    return Email(language=language, kind=kind, from_name=s["sender_name"], subject=s[f"subject_{kind}"],
                 html=apply_substitutions(skel.html, subs), text=apply_substitutions(skel.text, subs))


def substitutions(language: str, token: str, name: str | None) -> dict[str, str]:
    """One recipient's values for the batch template's tags (SendGrid `personalizations[].substitutions`)."""
    text = greeting(language, name)
    return {TOKEN_TAG: token, GREETING_TAG: text, GREETING_HTML_TAG: html.escape(text, quote=False)}


def apply_substitutions(value: str, subs: Mapping[str, str]) -> str:
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
