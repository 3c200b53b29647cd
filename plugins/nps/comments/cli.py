"""`nps comments classify --in comments.csv --out themes.csv`: themes with a tone for every comment of a CSV.

Input: UTF-8 (with or without BOM), header `id,language,comment` in any order, optional `score` (0-10, may be
empty). Output: `id,themes`, themes as `theme:tone` pairs joined by `;` in the fixed theme order (empty when none).
The whole file is checked first: any bad row (no id, unknown language, bad score) is reported with its line and
nothing is written, so a half-written output never looks like a finished one.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from nps.i18n import ALIASES, LANGUAGES

REQUIRED = ("id", "language", "comment")
SHOWN_ERRORS = 20


class InputError(Exception):
    """The input file cannot be classified; the message names the file and the lines."""


def language_code(value: str) -> str | None:
    """'uk', 'UK', 'uk-UA', 'ua' -> 'uk'; None when it names no survey language."""
    code = value.strip().lower().replace("_", "-").split("-")[0]
    code = ALIASES.get(code, code)
    return code if code in LANGUAGES else None


def read_rows(path: Path) -> list[tuple[str, str, str, int | None]]:
    """(id, language, comment, score) of every row, or InputError naming every bad line (the first 20)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start}): save it as UTF-8 (with or without BOM)") from exc
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (the header is: {','.join(header)}; "
                         f"needed: {','.join(REQUIRED)}, optional: score)")
    reader.fieldnames = header
    rows, errors = [], []
    line = reader.line_num + 1
    for record in reader:
        problems = []
        row_id = (record.get("id") or "").strip()
        if not row_id:
            problems.append("empty id")
        language = language_code(record.get("language") or "")
        if language is None:
            problems.append(f"unknown language {record.get('language')!r} (expected one of {', '.join(LANGUAGES)})")
        raw_score = (record.get("score") or "").strip()
        score = None
        if raw_score:
            try:
                score = int(raw_score)
            except ValueError:
                score = -1
            if not 0 <= score <= 10:
                problems.append(f"score {raw_score!r} is not a whole number 0-10")
        if None in record:
            problems.append("more fields than the header has (a comma in a comment needs quotes)")
        if problems:
            errors.append(f"line {line}: {'; '.join(problems)}")
        else:
            rows.append((row_id, language, record.get("comment") or "", score))
        line = reader.line_num + 1
    if errors:
        more = f"\n  ... and {len(errors) - SHOWN_ERRORS} more" if len(errors) > SHOWN_ERRORS else ""
        raise InputError(f"{path}: {len(errors)} bad row(s), nothing written:\n  " +
                         "\n  ".join(errors[:SHOWN_ERRORS]) + more)
    return rows


@contextmanager
def _output(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdout
        return
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    with partial.open("w", encoding="utf-8", newline="") as out:
        yield out
    partial.replace(target)


def classify_file(source: Path, target: str, dictionary_path: Path | None = None) -> tuple[int, int]:
    """Classify every row of `source` into `target` ("-" = stdout); (rows, rows with themes)."""
    from nps.comments import classify, format_themes, load

    rows = read_rows(source)
    dictionary = load(dictionary_path) if dictionary_path else load()
    with_themes = 0
    with _output(target) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "themes"])
        for row_id, language, comment, score in rows:
            themes = format_themes(classify(comment, language, score, dictionary))
            with_themes += bool(themes)
            writer.writerow([row_id, themes])
    return len(rows), with_themes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nps comments", description="customer comments: themes and tone, offline")
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("classify", help="a CSV of comments (id,language,comment[,score]) -> id,themes")
    p.add_argument("--in", dest="source", type=Path, required=True, help="comments CSV, UTF-8")
    p.add_argument("--out", dest="target", required=True, help="themes CSV to write (- for stdout)")
    p.add_argument("--dictionary", type=Path, default=None, help="another themes.yml (default: the packaged one)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        rows, with_themes = classify_file(args.source, args.target, args.dictionary)
    except (InputError, ValueError) as exc:
        print(f"nps comments classify: {exc}", file=sys.stderr)
        return 2
    print(f"nps comments classify: {rows} comment(s), {with_themes} with themes, {time.monotonic() - started:.1f} s "
          f"-> {args.target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
