"""Answers from other channels (in-store kiosk, another survey tool) dropped as CSV files.

Folder: `NPS_FILE_DROP_DIR` (default `.nps/drop`). One UTF-8 CSV file per batch, dropped atomically (write
`name.csv.part`, then rename to `name.csv`). Header (order free):

    survey_id,score,comment,responded_at,channel        required
    reasons,language                                    optional (reasons separated by `;`)

`responded_at` is ISO 8601; without an offset it is read in the project's timezone (Europe/Kyiv). Each file is
processed once: loaded files move to `done/`, unusable ones to `rejected/` with `<name>.reason.txt` beside them.
Bad rows go to `raw.quarantine`; when more than `NPS_QUARANTINE_THRESHOLD` of a file's rows are bad, the whole
file is rejected (nothing from it is loaded). A file whose exact bytes were loaded before is not loaded again.
Several answers to one survey: the latest wins (`nps.responses.latest`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from nps.collector.i18n import REASONS
from nps.config import settings, state_dir
from nps.i18n import LANGUAGES
from nps.responses import latest
from nps.responses.known import UNKNOWN_SURVEY, unknown_surveys
from nps.tokens import SURVEY_ID

log = logging.getLogger(__name__)

REQUIRED = ("survey_id", "score", "comment", "responded_at", "channel")
OPTIONAL = ("reasons", "language")
CHANNEL = re.compile(r"^[a-z0-9_-]{1,32}$")
MAX_COMMENT = 2000


def drop_dir() -> Path:
    return Path(os.environ.get("NPS_FILE_DROP_DIR") or state_dir() / "drop")


class FileRejected(Exception):
    pass


@dataclass
class Parsed:
    rows: list[dict] = field(default_factory=list)
    bad: list[tuple[int, str, dict]] = field(default_factory=list)  # (line, reason, raw row)


def parse(text: str, as_of: datetime, tz: ZoneInfo) -> Parsed:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        raise FileRejected(f"bad header {header}: missing {missing}, unknown {unknown}; "
                           f"expected {','.join(REQUIRED)} (+ optional {','.join(OPTIONAL)})")
    reader.fieldnames = header
    out = Parsed()
    for row in reader:
        line = reader.line_num
        if None in row:
            out.bad.append((line, "more fields than the header", {k or "_extra": v for k, v in row.items()}))
            continue
        try:
            out.rows.append({**_row(row, as_of, tz), "line": line})
        except ValueError as exc:
            out.bad.append((line, str(exc), row))
    return out


def _row(row: dict, as_of: datetime, tz: ZoneInfo) -> dict:
    survey_id = (row.get("survey_id") or "").strip()
    if not SURVEY_ID.match(survey_id):
        raise ValueError("bad survey_id")
    score_text = (row.get("score") or "").strip()
    if not score_text.isdigit() or not 0 <= int(score_text) <= 10:
        raise ValueError("score must be an integer 0..10")
    comment = row.get("comment") or ""
    if len(comment) > MAX_COMMENT:
        raise ValueError(f"comment longer than {MAX_COMMENT} characters")
    try:
        responded_at = datetime.fromisoformat((row.get("responded_at") or "").strip())
    except ValueError as exc:
        raise ValueError("responded_at is not ISO 8601") from exc
    if responded_at.tzinfo is None:
        responded_at = responded_at.replace(tzinfo=tz)
    if responded_at > as_of + timedelta(days=1):
        raise ValueError("responded_at is in the future")
    channel = (row.get("channel") or "").strip().lower()
    if not CHANNEL.match(channel):
        raise ValueError("channel must be 1-32 chars of a-z 0-9 _ -")
    reasons = [r.strip() for r in (row.get("reasons") or "").split(";") if r.strip()]
    if any(r not in REASONS for r in reasons):
        raise ValueError(f"reasons must be among {', '.join(REASONS)}")
    language = (row.get("language") or "").strip().lower() or None
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    return {"survey_id": survey_id, "score": int(score_text), "comment": comment if comment.strip() else None,
            "reasons": list(dict.fromkeys(reasons)), "language": language, "channel": f"file:{channel}",
            "responded_at": responded_at}


def _move(path: Path, folder: str) -> Path:
    target_dir = path.parent / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}.{datetime.now().strftime('%Y%m%dT%H%M%S%f')}{path.suffix}"
    shutil.move(path, target)
    return target


def _reject(path: Path, reason: str) -> None:
    target = _move(path, "rejected")
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    log.warning("file drop %s rejected: %s", path.name, reason.splitlines()[0])


def require_known_survey() -> bool:
    """Apply `known.unknown_surveys` to files; `NPS_FILE_DROP_REQUIRE_KNOWN_SURVEY=0` lifts it for a tool's own ids."""
    return os.environ.get("NPS_FILE_DROP_REQUIRE_KNOWN_SURVEY", "1") != "0"


def load_file(conn: psycopg.Connection, path: Path, as_of: datetime, run_id: str | None = None) -> dict:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    state_key = f"file_drop:{digest}"
    if conn.execute("select 1 from raw.load_state where source = %s", (state_key,)).fetchone():
        _move(path, "done")
        return {"file": path.name, "status": "already loaded"}
    cfg = settings()
    try:
        text = data.decode("utf-8-sig")
        parsed = parse(text, as_of, ZoneInfo(cfg.timezone))
    except UnicodeDecodeError:
        _reject(path, "not UTF-8 text")
        return {"file": path.name, "status": "rejected"}
    except (FileRejected, csv.Error) as exc:
        _reject(path, str(exc))
        return {"file": path.name, "status": "rejected"}
    if require_known_survey():
        unknown = unknown_surveys(conn, (r["survey_id"] for r in parsed.rows))
        parsed.bad += [(r["line"], UNKNOWN_SURVEY, r) for r in parsed.rows if r["survey_id"] in unknown]
        parsed.rows = [r for r in parsed.rows if r["survey_id"] not in unknown]
    total = len(parsed.rows) + len(parsed.bad)
    if total == 0:
        _reject(path, "no data rows")
        return {"file": path.name, "status": "rejected"}
    if parsed.bad and len(parsed.bad) / total > cfg.quarantine_threshold:
        lines = "\n".join(f"line {line}: {reason}" for line, reason, _ in parsed.bad[:50])
        _reject(path, f"{len(parsed.bad)} of {total} rows are bad (threshold {cfg.quarantine_threshold:.0%}):\n{lines}")
        return {"file": path.name, "status": "rejected", "bad": len(parsed.bad)}
    with conn.transaction(), conn.cursor() as cur:
        latest.upsert(conn, parsed.rows)
        cur.executemany(
            "insert into raw.quarantine (source, source_key, reason, payload, run_id) values (%s, %s, %s, %s, %s)",
            [("file_drop", f"{path.name}:{line}", reason, json.dumps(raw, default=str), run_id)
             for line, reason, raw in parsed.bad])
        cur.execute("insert into raw.load_state (source, watermark) values (%s, %s)", (state_key, path.name))
    _move(path, "done")
    stats = {"file": path.name, "status": "loaded", "rows": len(parsed.rows),
             "surveys": len({r["survey_id"] for r in parsed.rows}), "quarantined": len(parsed.bad)}
    log.info("file drop: %s", stats)
    return stats


def load_drop_dir(dsn: str, as_of: datetime, run_id: str | None = None, directory: Path | None = None) -> list[dict]:
    folder = directory or drop_dir()
    if not folder.is_dir():
        log.info("file drop folder %s does not exist: nothing to load", folder)
        return []
    results = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for path in sorted(p for p in folder.glob("*.csv") if p.is_file()):
            results.append(load_file(conn, path, as_of, run_id))
    return results
