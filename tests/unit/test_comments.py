"""Comment themes, offline: the gold set's precision and recall per language, the dictionary's own examples,
negation and clause splits in each language, the one apostrophe, emoji as tone, the CSV command and its errors.

The held-out set (tests/data/comments_holdout.csv) is never used to tune themes.yml: its figures are printed, not
asserted. `python tests/unit/test_comments.py` prints both tables.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from nps import cli
from nps.comments import THEMES, classify, enrich, format_themes, load, normalize
from nps.comments.dictionary import DEFAULT_PATH
from nps.i18n import LANGUAGES

DATA = Path(__file__).resolve().parents[1] / "data"
GOLD, HOLDOUT = DATA / "comments_gold.csv", DATA / "comments_holdout.csv"
MIN_PRECISION, MIN_RECALL = 0.85, 0.75


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _pairs(text: str) -> set[str]:
    return {p for p in text.split(";") if p}


def scores(path: Path) -> dict[str, tuple[float, float, int]]:
    """language -> (micro precision, micro recall, labelled pairs) of `theme:tone` pairs."""
    counts: dict[str, Counter] = {lang: Counter() for lang in LANGUAGES}
    for row in _rows(path):
        score = int(row["score"]) if row["score"] else None
        got = _pairs(format_themes(classify(row["comment"], row["language"], score)))
        want = _pairs(row["themes"])
        counts[row["language"]].update(tp=len(got & want), fp=len(got - want), fn=len(want - got))
    return {lang: (c["tp"] / max(1, c["tp"] + c["fp"]), c["tp"] / max(1, c["tp"] + c["fn"]), c["tp"] + c["fn"])
            for lang, c in counts.items()}


def table(name: str, figures: dict[str, tuple[float, float, int]]) -> str:
    lines = [f"{name}: language  precision  recall  pairs"]
    lines += [f"  {lang:<8}  {p:9.3f}  {r:6.3f}  {n:5d}" for lang, (p, r, n) in figures.items()]
    return "\n".join(lines)


def _themes(comment: str, language: str, score: int | None = None) -> str:
    return format_themes(classify(comment, language, score))


# ---- the gold sets ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "per_language"), [(GOLD, 60), (HOLDOUT, 20)])
def test_the_gold_sets_are_well_formed(path, per_language):
    rows = _rows(path)
    assert list(rows[0]) == ["id", "language", "score", "comment", "themes"]
    assert len({r["id"] for r in rows}) == len(rows)
    sizes = Counter(r["language"] for r in rows)
    assert set(sizes) == set(LANGUAGES) and min(sizes.values()) >= per_language, sizes
    for row in rows:
        assert row["score"] == "" or 0 <= int(row["score"]) <= 10, row
        pairs = [p.rsplit(":", 1) for p in row["themes"].split(";") if p]
        assert all(theme in THEMES and tone in "+-0" for theme, tone in pairs), row
        assert [t for t, _ in pairs] == sorted((t for t, _ in pairs), key=THEMES.index), row  # the stable order


def test_gold_set_precision_and_recall_per_language():
    figures = scores(GOLD)
    print("\n" + table("gold", figures))
    for language, (precision, recall, _) in figures.items():
        assert precision >= MIN_PRECISION, (language, precision)
        assert recall >= MIN_RECALL, (language, recall)


def test_held_out_set_figures_are_printed_not_tuned_on():
    figures = scores(HOLDOUT)
    print("\n" + table("held-out", figures))
    assert set(figures) == set(LANGUAGES)


# ---- the dictionary --------------------------------------------------------------------------------------------------

def test_every_example_of_the_dictionary_gets_its_theme_and_tone():
    dictionary = load()
    assert isinstance(dictionary.version, int) and list(dictionary.labels) == list(THEMES)
    misses = [(theme, language, phrase, tone, _themes(phrase, language))
              for theme, by_language in dictionary.examples.items()
              for language, phrases in by_language.items() for phrase, tone in phrases.items()
              if f"{theme}:{tone}" not in _pairs(_themes(phrase, language))]
    assert misses == []


@pytest.mark.parametrize(("edit", "error"), [
    (lambda s: s.replace("version: 1", "version: one"), "needs `version:`"),
    (lambda s: s.replace("  returns:\n", "  refunds:\n"), "must list exactly these ids"),
    (lambda s: s.replace('"no", never', "no, never"), "False is not text: quote it"),
    (lambda s: s.replace("      pl: [zwrot*,", "      de: [zwrot*,"), "themes.returns.words: languages must be"),
    (lambda s: s.replace("[dostaw*, spóźni*,", "[Dostaw*, spóźni*,"), "'Dostaw\\*' is not a pattern"),
])
def test_a_broken_dictionary_fails_on_load_naming_the_place(tmp_path, edit, error):
    path = tmp_path / "themes.yml"
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert edit(text) != text
    path.write_text(edit(text), encoding="utf-8")
    with pytest.raises(ValueError, match=error):
        load(path)


# ---- enrichment: apostrophes, negation, clauses, emoji, languages ----------------------------------------------------

def test_the_three_apostrophes_are_one():
    assert normalize("Кур’єр  на ЗВʼЯЗКУ, м'ята\tупаковка") == "кур'єр на зв'язку, м'ята упаковка"
    forms = [enrich(f"Кур{a}єр не попередив", "uk") for a in ("'", "’", "ʼ")]
    assert {f.lemmas for f in forms} == {forms[0].lemmas}
    assert {_themes(f"Кур{a}єр не попередив", "uk") for a in ("'", "’", "ʼ")} == {"delivery_service:-"}


@pytest.mark.parametrize(("comment", "language", "negated"), [
    ("Досі не привезли", "uk", "не_привезти"),
    ("До сих пор не доставили", "ru", "не_доставить"),
    ("Still not delivered", "en", "not_deliver"),
    ("The courier didn't call", "en", "not_call"),
    ("Do dziś nie dotarło", "pl", "nie_dotrzeć"),
    ("Не було жодних проблем", "uk", "жодних_проблема"),
])
def test_a_negation_stays_with_the_word_it_negates(comment, language, negated):
    assert negated in enrich(comment, language).lemmas


@pytest.mark.parametrize(("comment", "language", "themes"), [
    ("Досі не привезли", "uk", "delivery_time:-"),
    ("Без затримок, доставка супер", "uk", "delivery_time:+"),
    ("Ніяких проблем з доставкою", "uk", "delivery_time:+"),
    ("До сих пор не доставили", "ru", "delivery_time:-"),
    ("Никаких проблем с доставкой", "ru", "delivery_time:+"),
    ("Not delivered", "en", "delivery_time:-"),
    ("No problems with delivery", "en", "delivery_time:+"),
    ("Nie dotarło", "pl", "delivery_time:-"),
    ("Żadnych problemów z dostawą", "pl", "delivery_time:+"),
    ("Не дешево", "uk", "price:-"),
    ("Not cheap", "en", "price:-"),
    ("Dostawa mogłaby być szybsza", "pl", "delivery_time:-"),
])
def test_negation_flips_the_tone(comment, language, themes):
    assert _themes(comment, language) == themes


@pytest.mark.parametrize(("comment", "language", "themes", "clauses"), [
    ("Доставка швидка, але менеджер не відповідає", "uk", "delivery_time:+;manager:-", 2),
    ("Доставка быстрая, но менеджер не отвечает", "ru", "delivery_time:+;manager:-", 2),
    ("Fast delivery but the manager never replies", "en", "delivery_time:+;manager:-", 2),
    ("Szybka dostawa, ale handlowiec nie odpowiada", "pl", "delivery_time:+;manager:-", 2),
    ("Ціни нормальні. Доставка жахлива", "uk", "delivery_time:-;price:+", 2),
])
def test_clauses_split_so_one_comment_praises_one_thing_and_blames_another(comment, language, themes, clauses):
    assert len(enrich(comment, language).clauses) == clauses
    assert _themes(comment, language, 6) == themes


def test_a_soft_clause_without_a_theme_lends_its_tone_to_its_neighbour():
    enrichment = enrich("Менеджер Олена — найкраща!", "uk")
    assert [c.soft for c in enrichment.clauses] == [False, True]
    assert _themes("Менеджер Олена — найкраща!", "uk") == "manager:+"


def test_emoji_are_kept_and_carry_tone():
    assert "👍" in enrich("Доставка 👍", "uk").lemmas
    assert _themes("Доставка 👍", "uk") == "delivery_time:+"
    assert _themes("Доставка 🤬🤬", "uk") == "delivery_time:-"
    assert _themes("Delivery 🔥", "en", 5) == "delivery_time:+"  # the words' tone beats the score
    assert _themes("👍👍👍", "ru", 10) == ""  # praise of nothing in particular names no theme


def test_the_score_is_the_prior_when_the_words_carry_no_tone():
    assert [_themes("Доставка", "uk", s) for s in (10, 9, 8, 7, 6, 2, None)] == [
        "delivery_time:+", "delivery_time:+", "delivery_time:0", "delivery_time:0", "delivery_time:-",
        "delivery_time:-", "delivery_time:0"]
    assert all(t.source == "rule" for t in classify("Доставка швидка, менеджер грубий", "uk", 3))


def test_typos_surzhyk_and_unaccented_polish_still_find_their_theme():
    assert _themes("Дуже швидка доствка", "uk") == "delivery_time:+"
    assert _themes("Very quick delivry", "en") == "delivery_time:+"
    assert _themes("Handlowiec nie oddzwonil, zamowienie zgubili", "pl").startswith("manager:-")
    assert _themes("Заказ привезли бистро, но водітєль нагрубив", "uk") == \
        "delivery_time:+;delivery_service:-;ordering:+"


def test_the_language_of_the_words_flags_a_mismatch_or_a_mix():
    russian = enrich("Доставку ждали две недели, менеджер ничего не объяснил", "uk")
    assert (russian.language, russian.detected, russian.mismatch) == ("uk", "ru", True)
    ukrainian = enrich("Доставку чекали два тижні, менеджер нічого не пояснив", "uk")
    assert (ukrainian.detected, ukrainian.mismatch, ukrainian.mixed) == ("uk", False, False)
    mixed = enrich("Kierowca був дуже ввічливий, ale dostawa późno wieczorem", "pl")
    assert mixed.mixed and not mixed.mismatch
    assert enrich("👍", "en").detected is None


# ---- the command -----------------------------------------------------------------------------------------------------

def test_the_command_classifies_a_csv_with_a_bom(tmp_path, capsys):
    source, target = tmp_path / "comments.csv", tmp_path / "themes.csv"
    source.write_bytes("\ufeffid,language,comment,score\n"
                       "a1,uk,\"Доставка вчасно, але менеджер не передзвонив\",6\n"
                       "a2,UA,Все супер,10\n"
                       "a3,en,\"Driver was rude,\nbut the delivery was fast 👍\",\n"
                       "a4,pl,Faktura z błędem,3\n".encode())
    assert cli.main(["comments", "classify", "--in", str(source), "--out", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == ("id,themes\n"
                                                  "a1,delivery_time:+;manager:-\n"
                                                  "a2,\n"
                                                  "a3,delivery_time:+;delivery_service:-\n"
                                                  "a4,payment_documents:-\n")
    assert "4 comment(s), 3 with themes" in capsys.readouterr().err


@pytest.mark.parametrize(("body", "error"), [
    ("id,lang,comment\n1,uk,x\n", "missing column(s) language"),
    ("id,language,comment\n1,uk,x\n2,de,y\n", "line 3: unknown language 'de'"),
    ("id,language,comment,score\n1,uk,\"two\nlines\",3\n2,uk,x,ten\n", "line 4: score 'ten' is not a whole number"),
    ("id,language,comment,score\n1,uk,x,11\n", "line 2: score '11' is not a whole number 0-10"),
    ("id,language,comment\n,uk,x\n", "line 2: empty id"),
])
def test_bad_input_names_the_line_and_writes_nothing(tmp_path, capsys, body, error):
    source, target = tmp_path / "comments.csv", tmp_path / "themes.csv"
    source.write_text(body, encoding="utf-8")
    assert cli.main(["comments", "classify", "--in", str(source), "--out", str(target)]) == 2
    assert error in capsys.readouterr().err
    assert not target.exists() and not list(tmp_path.glob("*.part"))


def test_a_file_that_is_not_utf8_is_refused(tmp_path, capsys):
    source = tmp_path / "comments.csv"
    source.write_bytes("id,language,comment\n1,uk,Доставка\n".encode("cp1251"))
    assert cli.main(["comments", "classify", "--in", str(source), "--out", str(tmp_path / "o.csv")]) == 2
    assert "not UTF-8" in capsys.readouterr().err


if __name__ == "__main__":
    print(table("gold", scores(GOLD)))
    print(table("held-out", scores(HOLDOUT)))
