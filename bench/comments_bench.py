"""Comment enrichment at the nightly's scale: 100,000 comments through `nps.comments` in one process.

    . .nps/env && .venv/bin/python -m bench.comments_bench            # 100,000 comments
    . .nps/env && .venv/bin/python -m bench.comments_bench --quick    # 10,000 (a smoke run)

The comments are built from the gold set (tests/data/comments_gold.csv): each joins one to three clauses of gold
comments of one language (one in ten borrows a clause from another language, as customers mix), and one word in
twelve gets a typo (a letter dropped, doubled or two swapped), so the per-word caches keep meeting new words as real
comments bring them. It times loading the dictionaries (simplemma's four languages and themes.yml), then `enrich`
alone and `classify` (enrich + themes) over the same comments, and reports the peak RSS of the process
(`resource.getrusage`, the high-water mark of everything above; the issue's limit for the task is 1 GB). Rates are
given per wall second and per CPU second of the process: on a shared machine the second says what a free core does.
No database, no network.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import resource
import sys
import time
from pathlib import Path

GOLD = Path(__file__).resolve().parents[1] / "tests" / "data" / "comments_gold.csv"
CLAUSE = re.compile(r"[^,.!?;]+[,.!?;]*")
WORD = re.compile(r"[^\W\d_]{4,}")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _typo(match: re.Match, rng: random.Random) -> str:
    word = match.group()
    if rng.random() >= 1 / 12:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def comments(n: int, seed: int = 11) -> list[tuple[str, str, int | None]]:
    """(comment, survey language, score) x n, recombined from the gold set with typos."""
    rng = random.Random(seed)
    clauses: dict[str, list[str]] = {}
    scores: list[int | None] = []
    with GOLD.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            clauses.setdefault(row["language"], []).extend(c.strip() for c in CLAUSE.findall(row["comment"]))
            scores.append(int(row["score"]) if row["score"] else None)
    languages = sorted(clauses)
    weights = [0.5, 0.25, 0.15, 0.10]  # uk, ru, en, pl: Ukrainian first
    order = ["uk", "ru", "en", "pl"]
    made = []
    for _ in range(n):
        language = rng.choices(order, weights)[0]
        parts = [rng.choice(clauses[language]) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
        if rng.random() < 0.1:
            parts.append(rng.choice(clauses[rng.choice(languages)]))
        text = WORD.sub(lambda m: _typo(m, rng), " ".join(parts))
        made.append((text, language, rng.choice(scores)))
    return made


def run(n: int) -> dict[str, str]:
    data = comments(n)
    before = peak_rss_mib()
    started = time.perf_counter()
    from nps.comments import classify, enrich, load

    load()
    for language in ("uk", "ru", "en", "pl"):  # each language's dictionaries load on first use
        enrich({"uk": "доставка", "ru": "доставка", "en": "delivery", "pl": "dostawa"}[language], language)
    loaded = time.perf_counter() - started
    after_load = peak_rss_mib()

    wall, cpu = time.perf_counter(), time.process_time()
    lemmas = set()
    for text, language, _ in data:
        lemmas.update(enrich(text, language).lemmas)
    enrich_s, enrich_cpu = time.perf_counter() - wall, time.process_time() - cpu

    wall, cpu = time.perf_counter(), time.process_time()
    with_themes = sum(bool(classify(text, language, score)) for text, language, score in data)
    classify_s, classify_cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "comments": f"{n:,}",
        "distinct lemmas": f"{len(lemmas):,}",
        "load (dictionaries)": f"{loaded:.1f} s, peak RSS {before:.0f} -> {after_load:.0f} MiB",
        "enrich": f"{n / enrich_s:,.0f} comments/s ({enrich_s:.1f} s wall; {n / enrich_cpu:,.0f} per CPU second; "
                  "cold per-word caches)",
        "classify": f"{n / classify_s:,.0f} comments/s ({classify_s:.1f} s wall; {n / classify_cpu:,.0f} per CPU "
                    "second; enrich + themes, warm caches)",
        "with themes": f"{with_themes / n:.0%}",
        "peak RSS": f"{peak_rss_mib():.0f} MiB (limit 1024)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 comments: a smoke run")
    parser.add_argument("-n", type=int, default=100_000, help="comments to enrich")
    args = parser.parse_args(argv)
    for key, value in run(10_000 if args.quick else args.n).items():
        print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
