"""The theme dictionary (`themes.yml`): loaded, checked and compiled once, so a business user's edit fails on load
naming the place to fix, never as a silent miss in the nightly run.

Pattern syntax, the same in every list: lower case; `достав*` = any ending; `не_той` = the word under a negation
(the negator as written, `not` for English contractions); `delivery note` = words in a row. A pattern matches a
word's lemma or the word as written, both folded (`ё` -> `е`, Latin diacritics dropped: customers often type Polish
without them), so `zamowienie` still finds `zamówienie`. Theme words and stems of six letters or more also match
one typo away (`доствка`, `delivry`); tone words must match exactly.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import yaml

from nps.i18n import LANGUAGES

DEFAULT_PATH = Path(__file__).with_name("themes.yml")
# Fixed ids (the marts, the digest and the dashboard rely on them), in the order a comment's themes are written.
THEMES = ("delivery_time", "delivery_service", "order_accuracy", "damage", "price", "payment_documents", "manager",
          "assortment", "product_quality", "returns", "ordering")
TONES = ("+", "-", "0")
EMOJI = "emoji"  # the one non-language key of the tone lists: emoji carry tone in every language
FUZZY_WORD, FUZZY_STEM = 6, 6  # shortest theme word / stem that may match one typo away


@lru_cache(maxsize=200_000)
def fold(text: str) -> str:
    """The form patterns and words are compared in: `ё` as `е`; Latin letters without diacritics (`ł` as `l`)."""
    text = text.replace("ё", "е")
    if text.isascii() or not any("a" <= ch <= "ž" for ch in text):  # no Latin letter: Cyrillic keeps й, ї
        return text
    text = text.replace("ł", "l")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _one_typo(a: str, b: str) -> bool:
    """Whether b is a with one letter missing, added, changed, or two neighbours swapped (not the first letter)."""
    if a == b or abs(len(a) - len(b)) > 1 or a[:1] != b[:1]:
        return a == b
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:] or (a[i + 2:] == b[i + 2:] and a[i:i + 2] == b[i:i + 2][::-1])
    return a[i + 1:] == b[i:] if len(a) > len(b) else a[i:] == b[i + 1:]


class _Index:
    """Single-word patterns -> values: exact words in one dict, `stem*` patterns in another, probed by length."""

    MEMO = 100_000  # distinct key tuples remembered (words repeat a lot across comments)

    def __init__(self) -> None:
        self.exact: dict[str, set] = {}
        self.stems: dict[str, set] = {}
        self.lengths: list[int] = []
        self.memo: dict[tuple[str, ...], frozenset] = {}

    def add(self, pattern: str, value: object) -> None:
        table, key = (self.stems, pattern[:-1]) if pattern.endswith("*") else (self.exact, pattern)
        table.setdefault(key, set()).add(value)
        self.lengths = sorted({len(s) for s in self.stems})

    def get(self, keys: tuple[str, ...]) -> frozenset:
        found = self.memo.get(keys)
        if found is None:
            values: set = set()
            for key in keys:
                values |= self.exact.get(key, set())
                for n in self.lengths:
                    if n > len(key):
                        break
                    values |= self.stems.get(key[:n], set())
            if len(self.memo) >= self.MEMO:
                self.memo.clear()
            found = self.memo[keys] = frozenset(values)
        return found


class Lexicon:
    """Patterns -> values (a theme, a tone sign, ...), looked up by the keys of one word or a run of words."""

    def __init__(self, entries: Iterable[tuple[str, object]], fuzzy: bool = False):
        self.words = _Index()
        self.first = _Index()  # a phrase's first word -> the phrase's number
        self.phrases: list[tuple[tuple[str, ...], object]] = []
        self.near: dict[str, set] = {}  # a pattern and its one-letter deletions -> values (typo matching)
        self.typos: dict[str, frozenset] = {}  # words already probed
        for pattern, value in entries:
            parts = tuple(fold(p) for p in pattern.split())
            if len(parts) > 1:
                self.first.add(parts[0], len(self.phrases))
                self.phrases.append((parts, value))
                continue
            (part,) = parts
            self.words.add(part, value)
            key = part.rstrip("*")
            if fuzzy and "_" not in key and len(key) >= (FUZZY_STEM if part.endswith("*") else FUZZY_WORD):
                for variant in _deletes(key) | {key}:
                    self.near.setdefault(variant, set()).add((value, key, part.endswith("*")))

    @staticmethod
    def _element(element: str, keys: tuple[str, ...]) -> bool:
        if element.endswith("*"):
            return any(k.startswith(element[:-1]) for k in keys)
        return element in keys

    def word(self, keys: tuple[str, ...]) -> frozenset:
        """Values whose single-word pattern matches any of the keys (exact or by stem)."""
        return self.words.get(keys)

    def typo(self, text: str) -> frozenset:
        """Values of the theme words one typo away from `text` (a word as written, folded)."""
        if len(text) < FUZZY_STEM or not self.near:
            return frozenset()
        if text in self.typos:
            return self.typos[text]
        found = set()
        sizes = {len(text)} | {n + d for n in self.words.lengths for d in (-1, 0, 1) if 0 < n + d <= len(text)}
        for size in sizes:
            probe = text[:size]
            for variant in _deletes(probe) | {probe}:
                for value, key, is_stem in self.near.get(variant, ()):
                    if (is_stem or size == len(text)) and _one_typo(key, probe):
                        found.add(value)
        if len(self.typos) >= _Index.MEMO:
            self.typos.clear()
        self.typos[text] = frozenset(found)
        return self.typos[text]

    def phrases_at(self, keys: list[tuple[str, ...]], i: int) -> Iterator[tuple[object, int]]:
        """(value, length) of every phrase starting at word i."""
        for n in self.first.get(keys[i]) if self.phrases else ():
            parts, value = self.phrases[n]
            if i + len(parts) <= len(keys) and all(self._element(p, keys[i + j]) for j, p in enumerate(parts[1:], 1)):
                yield value, len(parts)


@dataclass(frozen=True)
class Dictionary:
    version: int
    path: Path
    labels: dict[str, dict[str, str]]  # theme -> language -> label (digests, dashboards)
    examples: dict[str, dict[str, dict[str, str]]]  # theme -> language -> phrase -> tone
    themes: Lexicon  # -> theme id (strong: names the theme whatever else the clause names)
    weak: Lexicon  # -> theme id (counts only when no strong word names a theme there, and with a tone word)
    tone: Lexicon  # -> +1 / -1
    ignore: Lexicon  # words that name no theme and carry no tone here ("в целом", "on site")
    negation: frozenset[str]
    pass_over: frozenset[str]  # words between a negator and the word it negates ("не було проблем")
    contrast: frozenset[str]  # words that start a new clause ("але", "but")


def _fail(path: Path, where: str, problem: str) -> ValueError:
    return ValueError(f"{path}: {where}: {problem}")


def _patterns(path: Path, where: str, value: object, keys: tuple[str, ...], optional: tuple[str, ...] = (),
              plain: bool = False) -> dict[str, list[str]]:
    """A `language -> [pattern, ...]` mapping, checked: every key of `keys`, maybe those of `optional`, no other."""
    if not isinstance(value, dict):
        raise _fail(path, where, f"needs a mapping of {', '.join(keys)} to lists of patterns")
    missing, unknown = set(keys) - set(value), set(value) - set(keys) - set(optional)
    if missing or unknown:
        raise _fail(path, where, f"languages must be exactly {', '.join(keys)} (missing {sorted(missing)}, "
                                 f"unknown {sorted(unknown)})")
    for language, items in value.items():
        if not isinstance(items, list) or not items:
            raise _fail(path, f"{where}.{language}", "needs a non-empty list")
        for item in items:
            if not isinstance(item, str):
                raise _fail(path, f"{where}.{language}", f"{item!r} is not text: quote it (YAML reads no, yes, on "
                                                         "and numbers as something else)")
            if not item.strip() or item != item.strip().lower() or any("*" in w[:-1] for w in item.split()):
                raise _fail(path, f"{where}.{language}", f"{item!r} is not a pattern (lower case words; * only at "
                                                         "the end of a word)")
            if plain and (" " in item or "*" in item):
                raise _fail(path, f"{where}.{language}", f"{item!r}: single whole words only here (no * or spaces)")
    return value


@cache
def load(path: Path = DEFAULT_PATH) -> Dictionary:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _fail(path, "YAML", str(exc).replace("\n", " ")) from exc
    if not isinstance(data, dict) or not isinstance(data.get("version"), int):
        raise _fail(path, "top level", "needs `version:` (an integer) and the sections themes, tone, ignore, "
                                       "negation, pass_over, contrast")
    themes = data.get("themes")
    if not isinstance(themes, dict) or list(themes) != list(THEMES):
        raise _fail(path, "themes", f"must list exactly these ids, in this order: {', '.join(THEMES)}")
    strong, weak, labels, examples = [], [], {}, {}
    for theme, spec in themes.items():
        if not isinstance(spec, dict) or not {"label", "words", "examples"} <= set(spec) or \
                set(spec) - {"label", "words", "weak", "examples"}:
            raise _fail(path, f"themes.{theme}", "needs label, words, examples (and optionally weak)")
        label = spec["label"]
        if not isinstance(label, dict) or set(label) != set(LANGUAGES) or \
                not all(isinstance(v, str) and v for v in label.values()):
            raise _fail(path, f"themes.{theme}.label", f"needs a text for each of {', '.join(LANGUAGES)}")
        labels[theme] = label
        for items in _patterns(path, f"themes.{theme}.words", spec["words"], LANGUAGES).values():
            strong += [(p, theme) for p in items]
        if "weak" in spec:
            for items in _patterns(path, f"themes.{theme}.weak", spec["weak"], (), LANGUAGES).values():
                weak += [(p, theme) for p in items]
        found = spec["examples"]
        if not isinstance(found, dict) or set(found) != set(LANGUAGES) or not all(
                isinstance(v, dict) and v and all(isinstance(k, str) and t in TONES for k, t in v.items())
                for v in found.values()):
            raise _fail(path, f"themes.{theme}.examples", f"needs, for each of {', '.join(LANGUAGES)}, phrases "
                                                          f"mapped to a tone {TONES}")
        examples[theme] = found
    tone = data.get("tone")
    if not isinstance(tone, dict) or set(tone) != {"positive", "negative"}:
        raise _fail(path, "tone", "needs exactly `positive:` and `negative:`")
    tones = [(p, sign) for name, sign in (("positive", 1), ("negative", -1))
             for items in _patterns(path, f"tone.{name}", tone[name], LANGUAGES, (EMOJI,)).values() for p in items]
    ignore = [(p, None) for items in _patterns(path, "ignore", data.get("ignore"), LANGUAGES).values() for p in items]
    words = {name: frozenset(fold(p) for items in _patterns(path, name, data.get(name), LANGUAGES, plain=True).values()
                             for p in items) for name in ("negation", "pass_over", "contrast")}
    return Dictionary(version=data["version"], path=path, labels=labels, examples=examples,
                      themes=Lexicon(strong, fuzzy=True), weak=Lexicon(weak), tone=Lexicon(tones),
                      ignore=Lexicon(ignore), negation=words["negation"], pass_over=words["pass_over"],
                      contrast=words["contrast"])
