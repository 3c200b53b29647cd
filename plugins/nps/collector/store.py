"""Writes to `landing` (INSERT only, as nps_collector) with the spool as the fallback when the database is away, and
`replay`, the one replayer that moves the spool into landing once the database is back."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from nps.collector.spool import Spool

log = logging.getLogger(__name__)

# Only errors that mean "the database is not reachable right now" go to the spool; anything else is a bug.
UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError)

SQL = {
    # a kiosk's or widget's resend (same answer_id) is ignored: INSERT ... ON CONFLICT DO NOTHING needs no UPDATE
    "responses": "insert into landing.responses (survey_id, score, comment, reasons, language, responded_at, source, "
                 "channel, signal, webdriver, user_agent, client_hash, answer_id, location_id, order_number) "
                 "values (%(survey_id)s, %(score)s, %(comment)s, %(reasons)s, %(language)s, %(responded_at)s, "
                 "%(source)s, %(channel)s, %(signal)s, %(webdriver)s, %(user_agent)s, %(client_hash)s, "
                 "%(answer_id)s, %(location_id)s, %(order_number)s) on conflict do nothing",
    "clicks": "insert into landing.clicks (survey_id, score, clicked_at, user_agent) "
              "values (%(survey_id)s, %(score)s, %(clicked_at)s, %(user_agent)s)",
    "page_views": "insert into landing.page_views (channel, view_id, location_id, viewed_at) "
                  "values (%(channel)s, %(view_id)s, %(location_id)s, %(viewed_at)s) on conflict do nothing",
    "sendgrid_events": "insert into landing.sendgrid_events (sg_event_id, event, payload) "
                       "values (%(sg_event_id)s, %(event)s, %(payload)s::jsonb)",
    # a kiosk customer's consented contact goes to ops through this function, the collector's one way there
    "contacts": "select landing.kiosk_contact(%(answer_id)s, %(location_id)s, %(phone)s, %(email)s, %(language)s, "
                "%(consent_text)s, %(consented_at)s)",
}


# A whole batch as one statement: the rows travel as one JSON array (parsed once, planned once, one round trip).
BULK_SQL = {
    "responses": "insert into landing.responses (survey_id, score, comment, reasons, language, responded_at, source, "
                 "channel, signal, webdriver, user_agent, client_hash, answer_id, location_id, order_number) "
                 "select survey_id, score, comment, coalesce(reasons, '{}'), language, responded_at, source, "
                 "channel, signal, webdriver, user_agent, client_hash, answer_id, location_id, order_number "
                 "from jsonb_to_recordset(%s::jsonb) as r(survey_id text, score smallint, comment text, "
                 "reasons text[], language text, responded_at timestamptz, source text, channel text, signal text, "
                 "webdriver boolean, user_agent text, client_hash text, answer_id text, location_id text, "
                 "order_number text) on conflict do nothing",
    "clicks": "insert into landing.clicks (survey_id, score, clicked_at, user_agent) "
              "select survey_id, score, clicked_at, user_agent from jsonb_to_recordset(%s::jsonb) "
              "as r(survey_id text, score smallint, clicked_at timestamptz, user_agent text)",
}


def _iso(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _for_db(table: str, row: dict, replayed: bool) -> dict:
    row = dict(row)
    if table == "responses":
        row["source"] = "spool" if replayed else row.get("source", "web")
        row.setdefault("channel", "email")  # spool lines from before the QR code were all e-mail answers
        for audit in ("signal", "webdriver", "user_agent", "client_hash", "answer_id", "location_id",
                      "order_number"):  # absent from older spool lines
            row.setdefault(audit, None)
        if isinstance(row["responded_at"], str):
            row["responded_at"] = datetime.fromisoformat(row["responded_at"])
    elif table == "clicks" and isinstance(row["clicked_at"], str):
        row["clicked_at"] = datetime.fromisoformat(row["clicked_at"])
    elif table == "page_views" and isinstance(row["viewed_at"], str):
        row["viewed_at"] = datetime.fromisoformat(row["viewed_at"])
    elif table == "contacts" and isinstance(row["consented_at"], str):
        row["consented_at"] = datetime.fromisoformat(row["consented_at"])
    return row


class Batcher:
    """Group commit: concurrent requests' rows share one transaction (a commit waits for a WAL fsync, ~3 ms here).

    Every caller still waits for its own row's commit (or its fsync'ed spool line) before it answers, so batching
    changes throughput, not durability.
    """

    def __init__(self, store: Store, table: str, writers: int = 2, max_batch: int = 256):
        self.store, self.table, self.max_batch = store, table, max_batch
        self.queue: asyncio.Queue[tuple[dict, asyncio.Future]] = asyncio.Queue()
        self.tasks = [asyncio.create_task(self._run(), name=f"batch-{table}-{i}") for i in range(writers)]

    async def submit(self, row: dict) -> str:
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((row, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            rows = [row for row, _ in batch]
            try:
                outcomes = await self.store.write_now(self.table, rows)
            except Exception as exc:  # a bug, not an outage: fail these requests, keep the writer alive
                log.exception("batch insert into %s failed", self.table)
                outcomes = [exc] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def close(self) -> None:
        for _ in range(200):  # uvicorn has finished the requests; let the last rows land
            if self.queue.empty():
                break
            await asyncio.sleep(0.01)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class Store:
    BATCHED = ("responses", "clicks", "page_views")

    def __init__(self, db_url: str, spool: Spool, pool_min: int = 1, pool_max: int = 8, timeout_s: float = 2.0):
        self.db_url, self.spool = db_url, spool
        self.timeout_s = timeout_s
        self.pool = AsyncConnectionPool(db_url, min_size=pool_min, max_size=pool_max, open=False, timeout=timeout_s,
                                        kwargs={"autocommit": True}, name="nps-collector")
        self._down_until = 0.0  # while the DB is known to be away, spool at once instead of waiting per request
        self._batchers: dict[str, Batcher] = {}

    async def open(self) -> None:
        await self.pool.open(wait=False)
        self._batchers = {table: Batcher(self, table) for table in self.BATCHED}

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.close()
        await self.pool.close()
        self.spool.seal()

    @property
    def db_down(self) -> bool:
        return time.monotonic() < self._down_until

    def _mark_down(self, exc: BaseException) -> None:
        if not self.db_down:
            log.warning("database unavailable (%s): spooling to %s", type(exc).__name__, self.spool.dir)
        self._down_until = time.monotonic() + 2.0

    async def write(self, table: str, rows: list[dict]) -> str:
        """Insert rows; "db" when committed, "spool" when durably spooled instead (the DB is away)."""
        if len(rows) == 1 and table in self._batchers and not self.db_down:
            return await self._batchers[table].submit(rows[0])
        return (await self.write_now(table, rows, one_outcome=True))[0]

    async def write_now(self, table: str, rows: list[dict], one_outcome: bool = False) -> list:
        """Rows in one transaction. Outcome per row: "db", "spool", or the exception of a row the DB refused."""
        if not self.db_down:
            try:
                await self._insert(table, rows, replayed=False)
                return ["db"] * len(rows)
            except UNAVAILABLE as exc:
                self._mark_down(exc)
            except psycopg.Error:
                if one_outcome or len(rows) == 1:
                    raise
                # one bad row must not sink its neighbours: retry them one by one
                return [await self._one(table, row) for row in rows]
        await asyncio.to_thread(self.spool.append, [{"table": table, "row": row} for row in rows])
        return ["spool"] * len(rows)

    async def _one(self, table: str, row: dict):
        try:
            return (await self.write_now(table, [row]))[0]
        except psycopg.Error as exc:
            return exc

    async def _insert(self, table: str, rows: list[dict], replayed: bool) -> None:
        sql = SQL[table]
        params = [_for_db(table, r, replayed) for r in rows]
        async with self.pool.connection() as conn:
            if len(params) > 1 and table in BULK_SQL:
                await conn.execute(BULK_SQL[table], (json.dumps(params, default=_iso, ensure_ascii=False),))
            elif len(params) == 1:
                await conn.execute(sql, params[0])
            else:
                async with conn.transaction():
                    async with conn.cursor() as cur:
                        await cur.executemany(sql, params)

    async def ping(self) -> bool:
        try:
            async with self.pool.connection(timeout=1.0) as conn:
                await conn.execute("select 1")
            return True
        except UNAVAILABLE:
            return False

    async def replay(self) -> dict:
        """Once the database answers again: the spool's sealed files -> landing (`replay`, in a thread)."""
        if not await self.ping():
            return {}
        self._down_until = 0.0
        try:
            return await asyncio.to_thread(replay, self.spool, self.db_url)
        except UNAVAILABLE as exc:
            self._mark_down(exc)
            return {}


def replay(spool: Spool, dsn: str) -> dict:
    """The one spool replayer (the collector's background task, `nps_load_responses`' sweep): sealed files -> landing.

    Each claimed file lands in one transaction with its name in `landing.spool_files`, so it lands once even when a
    replayer dies between that commit and deleting the file. A line that cannot land (unreadable, not a record, or
    refused by the database) rides along in that row's `bad_lines`; `nps_load_responses` quarantines it.
    """
    spool.seal()
    spool.seal_orphans()
    claimed = spool.claim()
    totals = Counter(files=0, rows=0, bad_lines=0)
    try:
        if claimed:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                while claimed:
                    totals.update(_land(conn, claimed[0]))
                    spool.done(claimed.pop(0))
    finally:
        for path in claimed:  # not landed: the next replay tries again
            spool.release(path)
    if totals["files"]:
        log.info("spool: replayed %s", dict(totals))
    return dict(totals)


def _land(conn: psycopg.Connection, path: Path) -> dict:
    """One claimed file -> landing (nothing when an earlier replay landed it already)."""
    records, unreadable = Spool.read(path)
    # jsonb holds no NUL character, and a corrupt line may have some
    bad = [{"line": line.replace("\x00", "\ufffd"), "reason": "unreadable spool line"} for line in unreadable]
    by_table: dict[str, list[dict]] = {table: [] for table in SQL}
    for record in records:
        try:
            by_table[record["table"]].append(_for_db(record["table"], record["row"], replayed=True))
        except (KeyError, TypeError, ValueError) as exc:
            bad.append({"line": json.dumps(record, ensure_ascii=False), "reason": f"not a spool record: {exc!r}"})
    with conn.transaction():
        refused = [line for table, rows in by_table.items() for line in _insert_or_refuse(conn, table, rows)]
        bad += refused
        marked = conn.execute("insert into landing.spool_files (name, bad_lines) values (%s, %s) on conflict do nothing",
                              (path.name.removesuffix(".claimed"), Jsonb(bad))).rowcount
        if not marked:
            raise psycopg.Rollback  # its replayer committed, then died before deleting the file
    landed = sum(map(len, by_table.values())) - len(refused)
    return {"files": 1, "rows": landed, "bad_lines": len(bad)} if marked else {"files": 1}


def _insert_or_refuse(conn: psycopg.Connection, table: str, rows: list[dict]) -> list[dict]:
    """Insert under a savepoint; the rows the database refuses come back as bad lines (they must not sink the rest)."""
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(SQL[table], rows)
        return []
    except UNAVAILABLE:
        raise
    except psycopg.Error as exc:
        if len(rows) == 1:
            line = json.dumps({"table": table, "row": rows[0]}, default=_iso, ensure_ascii=False)
            return [{"line": line, "reason": f"refused by the database: {exc}"}]
        return [bad for row in rows for bad in _insert_or_refuse(conn, table, [row])]


def event_row(event: dict) -> dict:
    sg_event_id = event.get("sg_event_id")
    return {"sg_event_id": str(sg_event_id)[:200] if sg_event_id is not None else None,
            "event": str(event.get("event"))[:64] if event.get("event") is not None else None,
            "payload": json.dumps(event, ensure_ascii=False, separators=(",", ":"))}
