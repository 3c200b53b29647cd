"""The loader's sweep of the collector's spool (same host only): sealed files -> landing, each file exactly once.

The collector's own background task is the usual replayer; this sweep covers a collector that is not running. Both
claim a file by an atomic rename (see `nps.collector.spool`), so a file has one owner and no row is inserted twice.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import psycopg

from nps.collector.spool import Spool
from nps.collector.store import SQL, _for_db
from nps.config import state_dir

log = logging.getLogger(__name__)


def spool_dir() -> Path:
    return Path(os.environ.get("NPS_SPOOL_DIR") or state_dir() / "spool")


def replay_spool(dsn: str, directory: Path | None = None) -> dict:
    folder = directory or spool_dir()
    if not folder.is_dir():
        return {"files": 0, "rows": 0}
    spool = Spool(folder)
    spool.seal_orphans()
    files = rows = 0
    with psycopg.connect(dsn) as conn:
        for path in spool.claim():
            records, bad = spool.read(path)
            try:
                with conn.transaction(), conn.cursor() as cur:
                    for table in ("responses", "clicks", "sendgrid_events"):
                        batch = [_for_db(table, r["row"], True) for r in records if r.get("table") == table]
                        if batch:
                            cur.executemany(SQL[table], batch)
                    if bad:
                        cur.executemany(
                            "insert into raw.quarantine (source, source_key, reason, payload) "
                            "values ('spool', %s, 'unreadable spool line', to_jsonb(%s::text))",
                            [(path.name, line) for line in bad])
            except Exception:
                spool.release(path)
                raise
            spool.done(path)
            files += 1
            rows += len(records)
            log.info("spool: loaded %d rows from %s", len(records), path.name)
    return {"files": files, "rows": rows}
