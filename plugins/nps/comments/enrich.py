"""One comment, enriched offline: normalised text, the language its words are in, lemmas, negations, clauses.

Customers write Ukrainian first, then Russian, English and Polish, often mixed (surzhyk, an English word in a
Ukrainian sentence), with typos and emoji. So the survey's language is the label, and each word is looked up in
the language its letters and simplemma's dictionaries say it belongs to (Cyrillic: uk or ru; Latin: en or pl; the
survey's language first when it is one of the two). Words only one language knows are the votes that flag a comment
written in another language than the survey's (`mismatch`) or in two (`mixed`).

simplemma's dictionaries ship inside its wheel (nothing is downloaded, nothing leaves the machine); they are read
with its low-memory backend: the four languages take ~100 MB instead of ~700 MB, and lookups are as fast once the
per-word cache below is warm.

Negation stays with the word it negates ("не привезли" -> `не_привезти`, "didn't call" -> `not_call`), skipping
the words of `pass_over` ("не було проблем" -> `не_проблема`); a negator with nothing after it ("менеджер не
дуже") stays a word of its own. Clauses end at . ! ? ; and at the contrast words (але, но, ale, but) so that one
comment can praise one thing and blame another; a comma, colon or dash starts a `soft` clause, which the
classifier joins to its neighbour when one of the two names no theme ("Менеджер Олена — найкраща").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

from nps.comments.dictionary import Dictionary, fold, load
from nps.i18n import LANGUAGES

APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "‘": "'", "`": "'", "ʹ": "'"})  # one apostrophe: U+0027
PAIRS = {"cyrillic": ("uk", "ru"), "latin": ("en", "pl")}
OWN_LETTERS = {"uk": set("іїєґ"), "ru": set("ыэъё"), "pl": set("ąćęłńóśźż")}
# Latin letters typed inside a Cyrillic word (a keyboard left in the wrong layout for one letter)
LOOKALIKES = str.maketrans("aeopcxiykmt", "аеорсхіукмт")
SKIN_TONES = ("\U0001F3FB", "\U0001F3FF")
EMOJI_RANGES = "\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF"
TOKEN = re.compile(rf"""
    (?P<word>[^\W\d_]+(?:['-][^\W\d_]+)*)        # letters, inner apostrophes and hyphens: кур'єр, didn't, g-k
  | (?P<number>\d+(?:[.,]\d+)?)
  | (?P<emoticon>[:;]-?[()dp](?![^\W\d_]))       # :) :( ;) :d
  | (?P<emoji>[{EMOJI_RANGES}])
  | (?P<hard>[.!?;…\n]+)
  | (?P<soft>[,:()/«»"]|\s[-–—]+\s|[–—])
""", re.VERBOSE)
MIXED_SCRIPT = re.compile(r"\w*[а-яіїєґё]\w*[a-z]\w*|\w*[a-z]\w*[а-яіїєґё]\w*")
LEMMA_CACHE = 200_000  # distinct (word, survey language) pairs kept; ~60 MB when full


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # as written, normalised (lower case, one apostrophe)
    lemma: str
    language: str  # the language it was looked up in; "" for emoji, emoticons and numbers
    negation: str = ""  # the negator in front of it ("не", "not", "nie", "без"), if any
    known: bool = True  # simplemma's dictionary of its script's languages has it (an unknown word may be a typo)

    @property
    def key(self) -> str:
        """The lemma with its negation: `не_привезти`, `not_deliver`, `brak_kontakt`."""
        return f"{self.negation}_{self.lemma}" if self.negation and self.negation != self.text else self.lemma

    @property
    def keys(self) -> tuple[str, ...]:
        """What patterns are matched against: lemma and text, folded, each with its negation when negated."""
        return _keys(self.lemma, self.text, self.negation)


@lru_cache(maxsize=LEMMA_CACHE)
def _keys(lemma: str, text: str, negation: str) -> tuple[str, ...]:
    plain = (fold(lemma), fold(text))
    if not negation or negation == text:
        return plain
    negator = fold(negation)
    return (*plain, *(f"{negator}_{p}" for p in plain))


@dataclass(frozen=True, slots=True)
class Clause:
    words: tuple[Word, ...]
    soft: bool  # joined to the previous clause by a comma, colon or dash (not a full stop or a contrast word)


@dataclass(frozen=True, slots=True)
class Enrichment:
    language: str  # the survey's, the label
    normalized: str
    detected: str | None  # the language most of its telling words are in; None when no word tells
    mismatch: bool  # written in another language than the survey's
    mixed: bool  # a good share of telling words in a second language (surzhyk, code switching)
    clauses: tuple[Clause, ...]

    @property
    def lemmas(self) -> tuple[str, ...]:
        return tuple(w.key for c in self.clauses for w in c.words)


def normalize(text: str) -> str:
    """NFC, lower case, the three apostrophes (' ’ ʼ) as one, stray Latin look-alikes inside Cyrillic words
    replaced, spaces collapsed (line breaks kept: they end a clause). Emoji stay: they carry tone."""
    text = unicodedata.normalize("NFC", text).translate(APOSTROPHES).lower()
    text = MIXED_SCRIPT.sub(_fix_lookalikes, text)
    text = re.sub(r"[^\S\n]+", " ", text)
    return re.sub(r"\s*\n\s*", "\n", text).strip()


def _fix_lookalikes(match: re.Match) -> str:
    word = match.group()
    cyrillic = sum("а" <= ch <= "я" or ch in "іїєґё" for ch in word)
    return word.translate(LOOKALIKES) if cyrillic > len(word) - cyrillic else word


def _script(word: str) -> str:
    for ch in word:
        if "a" <= ch <= "z" or "à" <= ch <= "ž":
            return "latin"
        if "а" <= ch <= "я" or ch in "іїєґёў":
            return "cyrillic"
    return ""


@cache
def _simplemma():
    from simplemma import Lemmatizer
    from simplemma.strategies import DefaultStrategy
    from simplemma.strategies.dictionaries import LOW_MEMORY_DICTIONARY_FACTORY
    from simplemma.strategies.dictionary_lookup import DictionaryLookupStrategy

    # the Lemmatizer's own cache stays off: _analyse caches per word already
    strategy = DefaultStrategy(dictionary_factory=LOW_MEMORY_DICTIONARY_FACTORY)
    return Lemmatizer(cache_max_size=0, lemmatization_strategy=strategy), \
        DictionaryLookupStrategy(LOW_MEMORY_DICTIONARY_FACTORY)


@lru_cache(maxsize=LEMMA_CACHE)
def _analyse(word: str, survey: str) -> tuple[str, str, bool, bool]:
    """(language, lemma, telling, known) of one normalised word; `telling` when only that language can have it."""
    pair = PAIRS.get(_script(word))
    if pair is None:
        return "", word, False, True
    lemmatizer, lookup = _simplemma()
    known = [lang for lang in pair if lookup.get_lemma(word, lang) is not None]
    own = [lang for lang in pair if OWN_LETTERS.get(lang, set()) & set(word)]
    if own:
        language, telling = own[0], True
    else:
        preferred = survey if survey in pair else pair[0]
        language = known[0] if len(known) == 1 else preferred
        telling = len(known) == 1 and len(word) > 2
    try:
        lemma = lemmatizer.lemmatize(word, language).lower()
    except ValueError:  # a token simplemma refuses (empty after its own clean-up)
        lemma = word
    return language, lemma, telling, bool(known)


def _negator(text: str, dictionary: Dictionary) -> str:
    if text in dictionary.negation:
        return text
    return "not" if text.endswith("n't") else ""


def enrich(comment: str, language: str, dictionary: Dictionary | None = None) -> Enrichment:
    """Enrich one comment; `language` is the survey's, one of LANGUAGES (anything else is the caller's bug)."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}: expected one of {LANGUAGES}")
    dictionary = dictionary or load()
    normalized = normalize(comment)
    clauses: list[Clause] = []
    words: list[Word] = []
    votes: dict[str, int] = {}
    soft = False
    negation = ""

    def close(next_soft: bool) -> None:
        nonlocal words, soft, negation
        if negation:  # "менеджер не дуже": the negation negates the clause's last word, kept as a word of its own
            words.append(Word(negation, negation, "", negation))
        if words:
            clauses.append(Clause(tuple(words), soft))
            soft = next_soft
        elif clauses:
            soft = soft and next_soft
        words, negation = [], ""

    for match in TOKEN.finditer(normalized):
        kind, text = match.lastgroup, match.group()
        if kind == "hard":
            close(False)
        elif kind == "soft":
            close(True)
        elif kind == "word":
            folded = fold(text)
            if folded in dictionary.contrast:
                close(False)
                continue
            found = _negator(folded, dictionary)
            if found:
                negation = found
                continue
            word_language, lemma, telling, known = _analyse(text, language)
            if telling:
                votes[word_language] = votes.get(word_language, 0) + 1
            if negation and (folded in dictionary.pass_over or fold(lemma) in dictionary.pass_over):
                words.append(Word(text, lemma, word_language, known=known))
                continue
            words.append(Word(text, lemma, word_language, negation, known))
            negation = ""
        elif kind == "emoji":
            if not SKIN_TONES[0] <= text <= SKIN_TONES[1]:  # 👍🏽 is 👍
                words.append(Word(text, text, ""))
        else:  # number, emoticon
            words.append(Word(text, text, ""))
    close(False)
    ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0] != language))
    detected = ranked[0][0] if ranked else None
    total = sum(votes.values())
    mismatch = detected is not None and detected != language and ranked[0][1] >= 0.6 * total
    mixed = len(ranked) > 1 and ranked[1][1] >= max(2, 0.25 * total)
    return Enrichment(language, normalized, detected, mismatch, mixed, tuple(clauses))
