"""The GX suites a gate runs, read from `expectations/`, and this run's values of their parameters.

A folder of `expectations/` is one suite (`raw_purchases`); each file in it is a GX 1.x ExpectationSuite as GX writes
it, for the batch its `meta.asset` names (a table or a query, and the key columns results sample). What only code
knows is passed at validation time as GX suite parameters (`{"$PARAMETER": name}`, values below). No GX import here.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from nps.config import settings
from nps.quality.settings import QualitySettings
from nps.responses.known import anonymous_sql

EARLIEST = datetime(2000, 1, 1)       # 1C's empty date is 0001-01-01: anything before 2000 is a bad conversion
MACRO = re.compile(r"\b(normalize_spelling|anonymous)\(([\w.]+)\)")


@dataclass(frozen=True)
class Suite:
    name: str                         # the folder, and the `suite` of every result row
    parts: tuple[dict, ...]           # its files: one GX suite per asset
    parameters: dict                  # values of the suites' $PARAMETERs for this run


def normalize_spelling_sql(expr: str) -> str:
    """The dbt macro `normalize_spelling` (dbt_project/macros/cleaning.sql), so 'resolvable' means what dbt resolves:
    lower case, punctuation and dashes to spaces, apostrophes unified, whitespace collapsed, blank -> null."""
    return (f"nullif(trim(regexp_replace(translate(lower({expr}), '.,;:()\"«»’ʼ`‘–—-', "
            f"'         ''''''''   '), '\\s+', ' ', 'g')), '')")


MACROS = {"normalize_spelling": normalize_spelling_sql, "anonymous": anonymous_sql}


def seed_spellings(seed: Path | None) -> list[str] | None:
    """Every spelling and canonical name in the dbt region seed (as written); None when the seed is not there."""
    if seed is None or not seed.exists():
        return None
    with seed.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = [c for c in ("spelling", "region") if rows and c in rows[0]] or (list(rows[0]) if rows else [])
    return sorted({row[c] for row in rows for c in columns if row.get(c) and row[c].strip()})


def load(name: str, parameters: dict) -> Suite:
    """The suite in `expectations/<name>/`, its asset queries' `normalize_spelling(column)` and `anonymous(column)`
    (a kiosk's or the widget's answer, `nps.responses.known.anonymous_sql`) expanded."""
    folder = settings().expectations_dir / name
    parts = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))]
    for part in parts:
        asset = part["meta"]["asset"]
        if "query" in asset:
            asset["query"] = MACRO.sub(lambda m: MACROS[m.group(1)](m.group(2)), asset["query"])
    return Suite(name, tuple(parts), parameters)


def raw_suites(cfg: QualitySettings, horizon_at: datetime, regions: list[str] | None = None) -> list[Suite]:
    """Every `raw_*` folder. `horizon_at`: aware instant after which a date is 'in the future'.

    1C's timestamps are local time without a zone, so they are compared with the horizon's local wall time.
    `regions`: the seed's spellings normalised by the warehouse (see `gate.region_keys`); None = seed missing, and
    then no region resolves (every customer warns) rather than the check passing silently.
    """
    if horizon_at.tzinfo is None:
        raise ValueError("horizon_at must be timezone-aware")
    horizon, earliest_at = horizon_at.replace(tzinfo=None), EARLIEST.replace(tzinfo=horizon_at.tzinfo)
    # ISO strings, which GX parses: naive for 1C's local times, aware for the answers' timestamptz
    parameters = {"earliest": EARLIEST.isoformat(), "earliest_at": earliest_at.isoformat(),
                  "horizon": horizon.isoformat(), "horizon_at": horizon_at.isoformat(),
                  "promised_until": (horizon + timedelta(days=366)).isoformat(),
                  "known_currencies": list(cfg.known_currencies), "known_event_types": list(cfg.event_types),
                  "region_spellings": regions or []}
    root = settings().expectations_dir
    folders = sorted(p.name for p in root.glob("raw_*") if p.is_dir())
    if not folders:  # a gate without its suites must not pass
        raise FileNotFoundError(f"no raw_* suites in {root}: set NPS_EXPECTATIONS_DIR to the expectations/ folder")
    return [load(name, parameters) for name in folders]

