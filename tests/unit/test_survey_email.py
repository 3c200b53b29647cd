"""The survey e-mail: four languages, 11 coloured score buttons whose links carry tokens the collector accepts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from nps import tokens
from nps.i18n import LANGUAGES
from nps.surveys import render

SECRET = "email-test-secret"
BASE = "https://nps.example.com"


class Links(HTMLParser):
    """Collects <a> tags (href, attributes, text) and the <html lang>."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict] = []
        self.lang = None
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        if tag == "a":
            self._open = {**attrs, "text": ""}
            self.links.append(self._open)

    def handle_endtag(self, tag):
        if tag == "a":
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data.strip()


def parse(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", render.KINDS)
def test_eleven_score_links_with_tokens_the_collector_accepts(language, kind):
    issued = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    token = tokens.mint("S-42_abc", issued_at=issued, secret=SECRET)
    email = render.render_for(language, kind, BASE, token, "Олена")
    page = parse(email.html)
    assert page.lang == language
    score_links = [a for a in page.links if re.fullmatch(rf"{re.escape(BASE)}/s/[^/]+/\d+", a["href"])]
    assert [a["text"] for a in score_links] == [str(n) for n in range(11)]
    for n, link in enumerate(score_links):
        route_token, score = link["href"].removeprefix(f"{BASE}/s/").split("/")
        assert int(score) == n
        assert tokens.verify(route_token, now=issued + timedelta(days=30), secret=SECRET).survey_id == "S-42_abc"
        # accessible: a spoken label per button, in the e-mail's language
        assert link["aria-label"] == render.strings()[language]["score_label"].format(score=n)
    assert f"{BASE}/s/{token}" in [a["href"] for a in page.links]  # the plain survey page
    # the plain-text part carries the same 11 links
    text_links = re.findall(rf"{re.escape(BASE)}/s/\S+", email.text)
    assert [u for u in text_links if re.search(r"/\d+$", u)] == [f"{BASE}/s/{token}/{n}" for n in range(11)]
    assert render.strings()[language]["question"] in email.text
    assert render.strings()[language][f"subject_{kind}"] == email.subject


def test_buttons_are_coloured_by_nps_category():
    email = render.render_for("en", "invite", BASE, "t.0.x", None)
    colours = re.findall(r'<td align="center" width="9%" bgcolor="(#[0-9a-f]{6})"', email.html)
    assert colours == [render.RED[0]] * 7 + [render.KHAKI[0]] * 2 + [render.GREEN[0]] * 2
    with pytest.raises(ValueError):
        render.button_colors(11)


def test_layout_is_mail_client_safe():
    html = render.render_for("pl", "reminder", BASE, "t.0.x", None).html
    assert "<style" not in html and "display:flex" not in html.replace(" ", "")  # inline CSS, tables
    assert 'role="presentation"' in html
    assert 'charset="utf-8"' in html


def test_names_are_escaped_in_html_and_plain_in_text():
    email = render.render_for("en", "invite", BASE, "t.0.x", "Bob <b>&</b> Sons")
    assert "Hello Bob &lt;b&gt;&amp;&lt;/b&gt; Sons," in email.html
    assert "<b>&</b>" not in email.html
    assert email.text.startswith("Hello Bob <b>&</b> Sons,")
    assert render.render_for("uk", "invite", BASE, "t.0.x", "  ").text.startswith("Добрий день!")


def test_batch_template_keeps_substitution_tags_and_the_asm_tag():
    template = render.render_template("ru", "invite", BASE)
    assert template.html.count(f"/s/{render.TOKEN_TAG}/") == 11
    assert render.GREETING_HTML_TAG in template.html and render.GREETING_TAG not in template.html
    assert render.GREETING_TAG in template.text
    # SendGrid fills its unsubscribe URL only when it finds the tag verbatim
    assert f'href="{render.UNSUBSCRIBE_URL}"' in template.html
    assert render.UNSUBSCRIBE_URL in template.text


def test_unsupported_language_or_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="unsupported language"):
        render.render_template("de", "invite", BASE)
    with pytest.raises(ValueError, match="unsupported kind"):
        render.render_template("uk", "nudge", BASE)


def test_preview_writes_the_html_and_text_a_customer_gets(tmp_path):
    from nps.surveys import preview

    out = preview.write_preview("ru", "reminder", tmp_path / "p.html")
    html, text = out.read_text(), out.with_suffix(".txt").read_text()
    assert 'lang="ru"' in html and "Ольга" in html and render.TOKEN_TAG not in html
    assert text.startswith(f"Subject: {render.strings()['ru']['subject_reminder']}")


def test_a_very_long_name_is_cut_like_the_to_name():
    name = "Олена " + "дуже" * 200
    text = render.render_for("uk", "invite", BASE, "t.0.x", name).text
    greeting = text.splitlines()[0]
    assert greeting == render.greeting("uk", name) and len(greeting) < len("Добрий день, !") + render.NAME_MAX + 1
    assert render.greeting("uk", name) == render.greeting("uk", name[:render.NAME_MAX])
