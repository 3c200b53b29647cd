"""The one catalog format: every component's catalog loads complete; a gap or an unknown language is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from nps import i18n

PRODUCT = Path(i18n.__file__).parent


def test_every_catalog_of_the_product_is_complete():
    catalogs = sorted(PRODUCT.rglob("strings.yml"))
    assert [p.relative_to(PRODUCT).parts[0] for p in catalogs] == ["closeloop", "collector", "surveys"]
    for path in catalogs:
        assert list(i18n.load(path)) == list(i18n.LANGUAGES), path  # Ukrainian first, as declared


def _catalog(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "strings.yml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(("body", "error"), [
    ("uk: {a: x}\nru: {a: x}\nen: {a: x}\n", "exactly the languages"),
    ("uk: {a: x}\nru: {a: x}\nen: {a: x}\npl: {a: x}\nde: {a: x}\n", "exactly the languages"),
    ("uk: {a: x}\nru: {a: x}\nen: {a: x}\npl:\n", "each a mapping"),
    ("uk: {a: x, b: y}\nru: {a: x}\nen: {a: x, b: y}\npl: {a: x, b: y}\n", "ru keys differ from uk: \\['b'\\]"),
    ("uk: {a: x}\nru: {a: x}\nen: {a: ' '}\npl: {a: x}\n", "en has empty or non-text values \\['a'\\]"),
    ("uk: {a: x}\nru: {a: x}\nen: {a: x}\npl: {a: 10}\n", "pl has empty or non-text values"),
])
def test_an_incomplete_catalog_is_rejected(tmp_path, body, error):
    with pytest.raises(ValueError, match=error):
        i18n.load(_catalog(tmp_path, body))


def test_texts_of_one_language_and_no_silent_fallback(tmp_path):
    path = _catalog(tmp_path, "uk: {a: так}\nru: {a: да}\nen: {a: 'yes'}\npl: {a: tak}\n")
    assert i18n.texts(path, "en") == {"a": "yes"}
    with pytest.raises(ValueError, match="unsupported language 'de'"):
        i18n.texts(path, "de")


def test_pick_normalizes_then_falls_back():
    assert i18n.pick("UK", default="en") == "uk"
    assert i18n.pick("ua", default="en") == "uk"
    assert i18n.pick("pl-PL", default="uk") == "pl"
    assert i18n.pick("de", None, " RU ", "en", default="uk") == "ru"  # the first supported candidate wins
    assert i18n.pick("de", default="uk") == "uk"
    assert i18n.pick(None, default="ru") == "ru"
    assert i18n.pick(None, default="xx") == "uk"  # a misconfigured default still gives a page
