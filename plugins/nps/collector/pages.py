"""HTML pages: small, self-contained (inline CSS, one static inline script), accessible, no personal data.

Every dynamic value is escaped here; the comment a customer typed is never echoed back into a page.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from pathlib import Path
from string import Template
from urllib.parse import quote

from nps.collector.i18n import REASONS, TEXTS

_PAGE = Template((Path(__file__).parent / "templates" / "page.html").read_text(encoding="utf-8"))

# Records the preselected score as soon as the page loads (a GET alone never records: link scanners prefetch GETs).
# Static text, so the Content-Security-Policy can allow exactly this script by its hash.
RECORD_ON_LOAD_JS = (
    "(function(){var f=document.getElementById('f');if(!f||!window.fetch)return;"
    "var s=f.getAttribute('data-score');if(!s)return;"
    "var b=new URLSearchParams();b.append('score',s);b.append('lang',f.elements['lang'].value);"
    "fetch(f.action,{method:'POST',credentials:'same-origin',headers:{'Accept':'application/json',"
    "'Content-Type':'application/x-www-form-urlencoded'},body:b.toString()})"
    ".then(function(r){if(r.ok){document.getElementById('st').textContent=f.getAttribute('data-saved');}})"
    ".catch(function(){});})();"
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(RECORD_ON_LOAD_JS.encode()).digest()).decode()

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{_SCRIPT_HASH}'; connect-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


def _page(lang: str, title: str, body: str, script: bool = False) -> str:
    return _PAGE.substitute(lang=escape(lang), title=escape(title), body=body,
                            script=f"<script>{RECORD_ON_LOAD_JS}</script>" if script else "")


def survey_url(token: str, lang: str, score: int | None = None) -> str:
    path = f"/s/{quote(token, safe='')}" + (f"/{score}" if score is not None else "")
    return f"{path}?lang={quote(lang)}"


def survey_page(token: str, lang: str) -> str:
    """GET /s/{token}: the 0–10 scale as links to the score page (works without JavaScript)."""
    t = TEXTS[lang]
    links = "".join(
        f'<a href="{escape(survey_url(token, lang, n))}" aria-label="{escape(t["your_score"])}: {n}">{n}</a>'
        for n in range(11))
    body = (f'<h1 id="q">{escape(t["question"])}</h1>'
            f'<nav class="scale" aria-labelledby="q">{links}</nav>'
            f'<div class="ends" aria-hidden="true"><span>0 · {escape(t["low"])}</span>'
            f'<span>10 · {escape(t["high"])}</span></div>')
    return _page(lang, t["title"], body)


def score_page(token: str, lang: str, score: int | None, max_comment: int) -> str:
    """GET /s/{token}/{score}: the chosen score, reasons and a comment box. The script records the score on load."""
    t = TEXTS[lang]
    radios = "".join(
        f'<label><input type="radio" name="score" value="{n}"{" checked" if n == score else ""} required>'
        f'<span>{n}</span></label>' for n in range(11))
    reasons = "".join(
        f'<label><input type="checkbox" name="reasons" value="{code}"> {escape(t[code])}</label>'
        for code in REASONS)
    action = escape(survey_url(token, lang))
    body = (
        f'<form id="f" method="post" action="{action}" data-score="{"" if score is None else score}" '
        f'data-saved="{escape(t["saved"])}">'
        f'<input type="hidden" name="lang" value="{escape(lang)}">'
        f'<fieldset><legend><h1>{escape(t["question"])}</h1></legend>'
        f'<div class="scale">{radios}</div>'
        f'<div class="ends" aria-hidden="true"><span>{escape(t["low"])}</span><span>{escape(t["high"])}</span></div>'
        f'</fieldset>'
        f'<p id="st" class="status" role="status" aria-live="polite"></p>'
        f'<fieldset class="reasons"><legend>{escape(t["reasons"])}</legend>{reasons}</fieldset>'
        f'<label class="block" for="comment">{escape(t["comment"])}</label>'
        f'<textarea id="comment" name="comment" maxlength="{max_comment}" rows="5"></textarea>'
        f'<p><button type="submit">{escape(t["submit"])}</button></p>'
        f'</form>')
    return _page(lang, t["title"], body, script=score is not None)


def message_page(lang: str, key: str, back_to: str | None = None) -> str:
    """Thank-you, expired (410), not found (404), invalid (422) and busy (429) pages."""
    t = TEXTS[lang]
    back = f'<p><a href="{escape(back_to)}">{escape(t["back"])}</a></p>' if back_to else ""
    body = f'<h1>{escape(t[key + "_title"])}</h1><p>{escape(t[key])}</p>{back}'
    return _page(lang, t[key + "_title"], body)
