"""docs/architecture.md stays one true page: every file its rule tables name exists, and it fits one screen."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "architecture.md"


def test_every_file_the_rule_tables_name_exists():
    root, checked, missing = None, 0, []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        header = re.match(r"\| rule \(in `([^`]+)`\) \| file \|", line)
        if header:
            root = REPO / header.group(1)
        elif root and line.startswith("| ") and not line.startswith("|---"):
            for path in re.findall(r"`([^`]+)`", line.rsplit("|", 2)[1]):
                checked += 1
                if not (root / path).exists():
                    missing.append(str((root / path).relative_to(REPO)))
        elif not line.startswith("|"):
            root = None
    assert checked >= 40 and missing == []


def test_it_fits_one_page():
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 60 and max(map(len, lines)) <= 120
