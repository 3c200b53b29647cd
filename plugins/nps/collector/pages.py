"""HTML pages: small, self-contained (inline CSS, one static inline script), accessible, no personal data.

Every dynamic value is escaped here; the comment a customer typed is never echoed back into a page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from pathlib import Path
from string import Template
from urllib.parse import quote

from nps.collector import kiosk
from nps.collector.i18n import REASONS, TEXTS

_PAGE = Template((Path(__file__).parent / "templates" / "page.html").read_text(encoding="utf-8"))

# A POST's `signal`: the first human event the page's script saw, or `submit` (the form itself, sent without one).
HUMAN_SIGNALS = ("pointer", "touch", "key", "visible_3s", "submit")

# Records the preselected score once a person is seen (trusted pointer/touch/key event, or the page visible for 3 s):
# mail gateways that render the page never interact. Posts once, keepalive survives closing the page.
# Static text, so the Content-Security-Policy can allow exactly this script by its hash.
RECORD_SCORE_JS = (
    "(function(){var f=document.getElementById('f');if(!f)return;"
    "f.elements['webdriver'].value=navigator.webdriver?'1':'0';"
    "var s=f.getAttribute('data-score'),sent=false,t;if(!s||!window.fetch)return;"
    "function send(sig){if(sent)return;sent=true;clearTimeout(t);"
    "var b=new URLSearchParams();b.append('score',s);b.append('lang',f.elements['lang'].value);"
    "b.append('signal',sig);b.append('webdriver',f.elements['webdriver'].value);"
    "fetch(f.action,{method:'POST',credentials:'same-origin',keepalive:true,headers:{'Accept':'application/json',"
    "'Content-Type':'application/x-www-form-urlencoded'},body:b.toString()})"
    ".then(function(r){if(r.ok){document.getElementById('st').textContent=f.getAttribute('data-saved');}})"
    ".catch(function(){});}"
    "function seen(e){if(e.isTrusted)send(e.type==='keydown'?'key':e.pointerType==='touch'?'touch':'pointer');}"
    "function arm(){clearTimeout(t);if(document.visibilityState==='visible')"
    "t=setTimeout(function(){send('visible_3s');},3000);}"
    "document.addEventListener('pointerdown',seen,true);document.addEventListener('keydown',seen,true);"
    "document.addEventListener('visibilitychange',arm);arm();})();"
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(RECORD_SCORE_JS.encode()).digest()).decode()

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
                            script=f"<script>{RECORD_SCORE_JS}</script>" if script else "")


def survey_url(token: str, lang: str, score: int | None = None, route: str = "s") -> str:
    """A survey page's path: `route` is `s` (the e-mail's links) or `q` (the invoice's QR code)."""
    path = f"/{route}/{quote(token, safe='')}" + (f"/{score}" if score is not None else "")
    return f"{path}?lang={quote(lang)}"


def survey_page(token: str, lang: str, route: str = "s") -> str:
    """GET /s/{token} (and /q/): the 0–10 scale as links to the score page (works without JavaScript)."""
    t = TEXTS[lang]
    links = "".join(
        f'<a href="{escape(survey_url(token, lang, n, route))}" aria-label="{escape(t["your_score"])}: {n}">{n}</a>'
        for n in range(11))
    body = (f'<h1 id="q">{escape(t["question"])}</h1>'
            f'<nav class="scale" aria-labelledby="q">{links}</nav>'
            f'<div class="ends" aria-hidden="true"><span>0 · {escape(t["low"])}</span>'
            f'<span>10 · {escape(t["high"])}</span></div>')
    return _page(lang, t["title"], body)


def score_page(token: str, lang: str, score: int | None, max_comment: int, route: str = "s") -> str:
    """GET /s/{token}/{score} (and /q/): the chosen score, reasons and a comment box. The script records the score
    once a person is seen (RECORD_SCORE_JS)."""
    t = TEXTS[lang]
    radios = "".join(
        f'<label><input type="radio" name="score" value="{n}"{" checked" if n == score else ""} required>'
        f'<span>{n}</span></label>' for n in range(11))
    reasons = "".join(
        f'<label><input type="checkbox" name="reasons" value="{code}"> {escape(t[code])}</label>'
        for code in REASONS)
    action = escape(survey_url(token, lang, route=route))
    body = (
        f'<form id="f" method="post" action="{action}" data-score="{"" if score is None else score}" '
        f'data-saved="{escape(t["saved"])}">'
        f'<input type="hidden" name="lang" value="{escape(lang)}"><input type="hidden" name="webdriver" value="">'
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


# The kiosk's page and the widget load their script from the collector itself (no inline script, no CDN).
KIOSK_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'none'")}
_KIOSK = Template((Path(__file__).parent / "templates" / "kiosk.html").read_text(encoding="utf-8"))
KIOSK_KEYS = ("question", "low", "high", "reasons", "comment", "submit", "thanks_title", "thanks", "kiosk_again",
              "language_name", "kiosk_contact", "kiosk_consent", "kiosk_contact_invalid", *REASONS)


def kiosk_page(lang: str, idle_seconds: int) -> str:
    """GET /k/{token}: the whole kiosk in one page; every language's texts ride along as JSON (a data block, never
    run), so switching language and the start screen work offline. The script is /static/kiosk.js."""
    texts = {code: {k: TEXTS[code][k] for k in KIOSK_KEYS} for code in TEXTS}
    data = json.dumps({"texts": texts, "reasons": list(REASONS), "idle": idle_seconds,
                       "contact_max_score": kiosk.CONTACT_MAX_SCORE}, ensure_ascii=False)
    return _KIOSK.substitute(lang=escape(lang), title=escape(TEXTS[lang]["title"]),
                             data=data.replace("<", "\\u003c"))


def widget_script(origins_ok: bool, throttle_days: int) -> str:
    """GET /widget.js: the embeddable prompt with the texts of the four languages and the throttle period."""
    texts = {code: {k: TEXTS[code][k] for k in ("question", "low", "high", "thanks_title", "widget_close")}
             for code in TEXTS}
    source = (Path(__file__).parent / "templates" / "widget.js").read_text(encoding="utf-8")
    return (source.replace("__TEXTS__", json.dumps(texts, ensure_ascii=False))
            .replace("__THROTTLE_DAYS__", str(int(throttle_days))).replace("__ENABLED__", json.dumps(origins_ok)))


KIOSK_SCRIPT = (Path(__file__).parent / "templates" / "kiosk.js").read_text(encoding="utf-8")
