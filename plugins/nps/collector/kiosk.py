"""Shop kiosks (issue 23): a location per kiosk, opened with a revocable token; `nps kiosk add|revoke|list`.

The token (`secrets.token_urlsafe`, 32 characters) is printed once, in the kiosk's URL `<base>/k/<token>`; the
warehouse keeps only its SHA-256 in `ops.kiosk_locations`, so a leaked table opens no kiosk. Revoking stamps
`revoked_at`: the kiosk then shows "this kiosk is switched off" (410) and its queued answers are refused. The
collector may not read `ops`: it asks `landing.kiosk_location(hash)` (a security-definer function) and caches the
reply for `CACHE_S`, so a revocation takes effect within that time.

A kiosk answer is anonymous: survey id `kq` + the answer id the kiosk's browser made (a resend after a network drop
carries the same id, and landing ignores it), channel `kiosk`, the location; it counts in the NPS of the location's
oblast (dbt: `int_anonymous_responses`) and opens no close-loop case, unless the customer of a low score leaves a
phone or e-mail and ticks the consent: `consented_contact` then gives the row that `landing.kiosk_contact` puts in
`ops.kiosk_contacts` (only there), and dbt's `ops.detractor_cases` makes the case, routed by the location's oblast.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import secrets
import sys
import time

import psycopg

LOCATION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
ANSWER_ID = re.compile(r"^[0-9a-f]{32}$")  # crypto.randomUUID() without dashes
CACHE_S = 30.0
CONTACT_MAX_SCORE = 6  # a detractor's score (dbt macro nps_category): only those answers make a case to call back on
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
PHONE_PUNCTUATION = re.compile(r"[\s().-]")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def answer_survey_id(prefix: str, answer_id: str) -> str | None:
    """`kq` (kiosk) / `wq` (widget) + the browser's answer id; None when it is not one (then the answer is refused)."""
    value = (answer_id or "").replace("-", "").lower()
    return prefix + value if ANSWER_ID.match(value) else None


def contact_of(text: str) -> dict | None:
    """{"phone": "+380..."} or {"email": ...} for what a customer typed, None when it is neither. A Ukrainian number
    typed the local way (0XX XXX XX XX) is stored as +380XXXXXXXXX, so the manager can dial it from anywhere."""
    text = (text or "").strip()
    if len(text) > 254:
        return None
    if "@" in text:
        return {"phone": None, "email": text} if EMAIL.match(text) else None
    number = PHONE_PUNCTUATION.sub("", text)
    plus, digits = number.startswith("+"), number.removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or not 9 <= len(digits) <= 15:
        return None
    if not plus and len(digits) == 10 and digits.startswith("0"):
        digits = "38" + digits
    return {"phone": "+" + digits if plus or digits.startswith("380") else digits, "email": None}


def consented_contact(body: dict, answer: dict, consent_text: str) -> dict | None:
    """The ops.kiosk_contacts row of a kiosk answer: only with `consent` exactly true, a low score and a valid phone
    or e-mail; None otherwise (a contact without consent is dropped here and never stored)."""
    if body.get("consent") is not True or not isinstance(body.get("contact"), str) \
            or answer["score"] > CONTACT_MAX_SCORE:
        return None
    contact = contact_of(body["contact"])
    if contact is None:
        return None
    return {"answer_id": answer["survey_id"], "location_id": answer["location_id"], **contact,
            "language": answer["language"], "consent_text": consent_text, "consented_at": answer["responded_at"]}


class Locations:
    """Token -> (location id, revoked), through the warehouse function, cached per worker for CACHE_S."""

    def __init__(self, pool):
        self.pool = pool
        self._cache: dict[str, tuple[float, tuple[str, bool] | None]] = {}

    async def find(self, token: str) -> tuple[str, bool] | None:
        if not 20 <= len(token) <= 64:
            return None
        key = token_hash(token)
        hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < CACHE_S:
            return hit[1]
        async with self.pool.connection() as conn:
            row = await (await conn.execute("select location_id, revoked from landing.kiosk_location(%s)",
                                            (key,))).fetchone()
        found = (row[0], bool(row[1])) if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic(), found)
        return found


def add(conn: psycopg.Connection, location_id: str, name: str, region: str) -> str:
    """A new location (or a new token for a revoked one): returns the token, the only time it exists in clear."""
    if not LOCATION_ID.match(location_id):
        raise ValueError("location id: 1-40 characters a-z 0-9 _ -, starting with a letter or digit")
    token = secrets.token_urlsafe(24)
    done = conn.execute("""
        insert into ops.kiosk_locations (location_id, name, region, token_hash) values (%s, %s, %s, %s)
        on conflict (location_id) do update set name = excluded.name, region = excluded.region,
            token_hash = excluded.token_hash, revoked_at = null, created_at = now()
        where kiosk_locations.revoked_at is not null
    """, (location_id, name, region, token_hash(token))).rowcount
    if not done:
        raise ValueError(f"location {location_id!r} exists and is active: revoke it first to issue a new token")
    return token


def revoke(conn: psycopg.Connection, location_id: str) -> bool:
    return bool(conn.execute("update ops.kiosk_locations set revoked_at = now() "
                             "where location_id = %s and revoked_at is null", (location_id,)).rowcount)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nps kiosk", description="shop kiosks: locations and their tokens")
    verbs = parser.add_subparsers(dest="verb", required=True)
    new = verbs.add_parser("add", help="add a location (or re-issue a revoked one's token); prints its kiosk URL once")
    new.add_argument("location_id")
    new.add_argument("--name", required=True)
    new.add_argument("--region", required=True, help="the oblast its answers count in (any spelling the seed knows)")
    verbs.add_parser("revoke", help="switch a kiosk off").add_argument("location_id")
    verbs.add_parser("list", help="locations and whether they are active")
    args = parser.parse_args(argv)
    from nps.config import settings, warehouse_url

    try:
        with psycopg.connect(warehouse_url(), autocommit=True) as conn:
            if args.verb == "add":
                token = add(conn, args.location_id, args.name, args.region)
                print(f"{settings().collector_base_url}/k/{token}")
                print("(shown once: open it on the kiosk; `nps kiosk revoke` switches it off)", file=sys.stderr)
            elif args.verb == "revoke":
                if not revoke(conn, args.location_id):
                    print(f"nps kiosk: no active location {args.location_id!r}", file=sys.stderr)
                    return 1
            else:
                for row in conn.execute("select location_id, name, region, created_at, revoked_at "
                                        "from ops.kiosk_locations order by location_id"):
                    state = f"revoked {row[4]:%Y-%m-%d}" if row[4] else "active"
                    print(f"{row[0]}\t{row[1]}\t{row[2]}\t{state}")
    except (ValueError, RuntimeError) as exc:
        print(f"nps kiosk: {exc}", file=sys.stderr)
        return 2
    return 0
