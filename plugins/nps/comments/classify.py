"""Themes of a comment, each with a tone, by the rules of the dictionary (`themes.yml`).

A clause names a theme by a word of `words` (strong) or of `weak` (counted only when nothing strong is named, and
only with a tone word: "привезли швидко" is about delivery, "привезли не ту марку" about the order, "привезли 18"
about nothing we can tell). Words of `ignore` count for nothing ("в целом", "on site"). A soft clause (after a
comma, colon or dash) that names no theme lends its tone words to its neighbour ("Менеджер Олена — найкраща!").

Tone: the clause's tone words (+1 / -1; a negation flips one, and a negated word that is no tone word counts -1:
"не привезли", "без накладної"). When a clause holds both signs, each tone word goes to the nearest theme.
Across clauses a theme blamed anywhere is `-` (the complaint is what the close loop acts on), else praised is `+`.
A theme with no tone word takes the score's: 9-10 `+`, 0-6 `-`, 7-8 or no score `0` (a 10 that says just
"доставка" praises it, a 2 that says it blames it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nps.comments.dictionary import THEMES, Dictionary, Lexicon, fold, load
from nps.comments.enrich import Enrichment, Word, enrich

RULE, MODEL = "rule", "model"


@dataclass(frozen=True, slots=True)
class Theme:
    theme: str  # one of THEMES
    tone: str  # "+", "-" or "0"
    source: str = RULE  # what set it: the dictionary's rules, or (later) a model


@dataclass
class _Found:
    """What one clause (or a run of joined clauses) says: (word index, theme) and (word index, +1 / -1)."""

    strong: list[tuple[int, str]] = field(default_factory=list)
    weak: list[tuple[int, str]] = field(default_factory=list)
    signs: list[tuple[int, int]] = field(default_factory=list)
    size: int = 0

    @property
    def named(self) -> bool:
        return bool(self.strong or self.weak)

    def join(self, other: _Found) -> None:
        self.strong += [(i + self.size, t) for i, t in other.strong]
        self.weak += [(i + self.size, t) for i, t in other.weak]
        self.signs += [(i + self.size, s) for i, s in other.signs]
        self.size += other.size


def score_tone(score: int | None) -> int:
    if score is None:
        return 0
    return 1 if score >= 9 else -1 if score <= 6 else 0


def _phrases(lexicon: Lexicon, keys: list[tuple[str, ...]], skip: set[int]) -> list[tuple[int, object, int]]:
    """(start, value, length) of the lexicon's phrases in a clause, outside `skip`."""
    return [(i, value, size) for i in range(len(keys)) if i not in skip and lexicon.first.get(keys[i])
            for value, size in lexicon.phrases_at(keys, i)]


def _clause(words: tuple[Word, ...], dictionary: Dictionary) -> _Found:
    keys = [w.keys for w in words]
    skip = {i for i, k in enumerate(keys) if dictionary.ignore.word(k)}
    for i, _, size in _phrases(dictionary.ignore, keys, skip):
        skip.update(range(i, i + size))
    found = _Found(size=len(words))

    themed = set(skip)
    for lexicon, out in ((dictionary.themes, found.strong), (dictionary.weak, found.weak)):
        for i, theme, size in _phrases(lexicon, keys, skip):
            out.append((i, theme))
            themed.update(range(i, i + size))
    toned = set(skip)
    for i, sign, size in _phrases(dictionary.tone, keys, skip):
        found.signs.append((i, -sign if words[i].negation else sign))
        toned.update(range(i, i + size))

    for i, word in enumerate(words):
        if i not in themed:
            strong = dictionary.themes.word(keys[i])
            if not strong and word.language and not word.known:
                strong = dictionary.themes.typo(fold(word.text))
            found.strong += [(i, t) for t in strong]
            found.weak += [(i, t) for t in dictionary.weak.word(keys[i]) - strong]
        if i not in toned:
            plain, negated = keys[i][:2], keys[i][2:]
            explicit = dictionary.tone.word(negated) if negated else ()  # a pattern written with its negation
            if explicit:
                found.signs += [(i, s) for s in explicit]
            elif word.negation:
                found.signs += [(i, -s) for s in dictionary.tone.word(plain)] or [(i, -1)]
            else:
                found.signs += [(i, s) for s in dictionary.tone.word(plain)]
    return found


def _tones(found: _Found) -> dict[str, int]:
    """theme -> tone (+1, -1, 0) of one group of clauses; a theme named only by weak words needs a tone word."""
    mentions = found.strong or found.weak
    where: dict[str, list[int]] = {}
    for i, theme in mentions:
        where.setdefault(theme, []).append(i)
    if not found.signs:
        return dict.fromkeys(where, 0) if found.strong else {}
    if len({s for _, s in found.signs}) == 1:
        return dict.fromkeys(where, found.signs[0][1])
    totals = dict.fromkeys(where, 0)
    for i, sign in found.signs:  # both signs in one clause: each tone word to its nearest theme
        distance = {t: min(abs(i - j) for j in at) for t, at in where.items()}
        nearest = min(distance.values(), default=None)
        for theme, d in distance.items():
            if d == nearest:
                totals[theme] += sign
    return {t: (total > 0) - (total < 0) for t, total in totals.items()}


def themes_of(enrichment: Enrichment, score: int | None = None, dictionary: Dictionary | None = None
              ) -> list[Theme]:
    """Themes of an enriched comment in the fixed order of THEMES."""
    dictionary = dictionary or load()
    groups: list[_Found] = []
    for clause in enrichment.clauses:
        found = _clause(clause.words, dictionary)
        if groups and clause.soft and not (found.named and groups[-1].named):
            groups[-1].join(found)  # a soft clause and a neighbour that names no theme read as one
        else:
            groups.append(found)
    tones: dict[str, set[int]] = {}
    for group in groups:
        for theme, tone in _tones(group).items():
            tones.setdefault(theme, set()).add(tone)
    result = []
    for theme in THEMES:
        if theme in tones:
            tone = -1 if -1 in tones[theme] else 1 if 1 in tones[theme] else score_tone(score)
            result.append(Theme(theme, "+" if tone > 0 else "-" if tone < 0 else "0"))
    return result


def classify(comment: str, language: str, score: int | None = None, dictionary: Dictionary | None = None
             ) -> list[Theme]:
    """Themes of one comment in the fixed order of THEMES; `language` is the survey's, `score` the answer's 0-10."""
    dictionary = dictionary or load()
    return themes_of(enrich(comment, language, dictionary), score, dictionary)


def format_themes(themes: list[Theme]) -> str:
    """`delivery_time:-;manager:+`, empty when none: the CSV and warehouse form."""
    return ";".join(f"{t.theme}:{t.tone}" for t in themes)
