"""Nightly copy of SendGrid's suppression lists into `raw.sendgrid_suppressions` (read by the due-queue model).

Lists: global unsubscribes, bounces, spam reports (`/v3/suppression/...`) and unsubscribes from OUR unsubscribe
group (`/v3/asm/suppressions`, filtered to `settings().sendgrid_asm_group_id`: an unsubscribe from another group,
say marketing, does not opt a customer out of surveys). Each list is paged (`limit` 500, `offset`), fetched whole,
then replaces that list's rows in one transaction, so an address SendGrid removed (a resubscribe, a cleared bounce)
stops being suppressed and a failed fetch changes nothing. SendGrid events (`nps_load_responses`) add same-day
unsubscribes and bounces between syncs.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import psycopg

from nps.config import settings
from nps.connections import warehouse_dsn
from nps.sendgrid_client import connect, get_json

log = logging.getLogger(__name__)

PAGE = 500
MAX_PAGES = 10_000
LISTS = {  # raw.sendgrid_suppressions.list -> v3 path
    "unsubscribes": "suppression/unsubscribes",
    "bounces": "suppression/bounces",
    "spam_reports": "suppression/spam_reports",
    "group_unsubscribes": "asm/suppressions",
}


def _created(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fetch_list(client, name: str, group_id: int, timeout: float = 30.0) -> dict[str, datetime | None]:
    """email (lower-cased) -> created, for one list, every page."""
    path = LISTS[name]
    found: dict[str, datetime | None] = {}
    previous = None
    for page in range(MAX_PAGES):
        rows = get_json(client, path, {"limit": PAGE, "offset": page * PAGE}, timeout)
        if not isinstance(rows, list):
            raise ValueError(f"GET /v3/{path}: expected a JSON array, got {type(rows).__name__}")
        if rows and rows == previous:  # an endpoint that ignores offset would repeat its page forever
            break
        for row in rows:
            if not isinstance(row, dict) or not row.get("email"):
                raise ValueError(f"GET /v3/{path}: unexpected row {row!r}")
            if name == "group_unsubscribes" and int(row.get("group_id", -1)) != group_id:
                continue
            email = str(row["email"]).strip().lower()
            created = _created(row.get("created", row.get("created_at")))
            if email not in found or (created and (found[email] is None or created < found[email])):
                found[email] = created
        if len(rows) < PAGE:
            break
        previous = rows
    else:
        raise RuntimeError(f"GET /v3/{path}: more than {MAX_PAGES} pages")
    return found


def sync(dsn: str | None = None, client=None) -> dict[str, int]:
    """Replace every list in `raw.sendgrid_suppressions` with SendGrid's current one; returns counts per list."""
    client = client or connect()
    group_id = settings().sendgrid_asm_group_id
    fetched = {name: fetch_list(client, name, group_id) for name in LISTS}  # everything first, then write
    counts = {}
    with psycopg.connect(dsn or warehouse_dsn()) as conn, conn.transaction():
        for name, rows in fetched.items():
            conn.execute("delete from raw.sendgrid_suppressions where list = %s", (name,))
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into raw.sendgrid_suppressions (email, list, created_at) values (%s, %s, %s)",
                    [(email, name, created) for email, created in rows.items()])
            counts[name] = len(rows)
    log.info("SendGrid suppressions synced: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts
