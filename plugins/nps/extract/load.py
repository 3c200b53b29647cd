"""COPY into temp tables, then a set-based upsert into `raw` by natural key (psycopg 3).

One `TableLoad` per entity and run, all in one transaction:
  begin() -> add_page()* -> finish(gone)
Pipelined: the caller's thread parses a page and formats its COPY text while a database thread COPYs the
previous page into the temp tables and upserts it (`insert ... on conflict do update ... where <changed>`, so a
stored row with the same version is not rewritten), replacing the lines of the documents that changed. Rows whose
stored version (read once at begin() for the read window) equals the incoming one are skipped before parsing.
`finish()` checks the quarantine share, marks / drops objects that vanished from the source, writes the
quarantine and commits. Above the threshold nothing is loaded (rollback), the bad rows are still written to
raw.quarantine, and `QuarantineThresholdExceeded` says which source and why.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import msgspec
import psycopg
from psycopg import sql

from nps.extract.errors import QuarantineThresholdExceeded
from nps.extract.parse import BadRow, key_of
from nps.warehouse import relation

log = logging.getLogger(__name__)
Parser = Callable[[object, str], tuple[tuple, list[tuple]]]


@dataclass(frozen=True)
class LinesSpec:
    table: str  # raw.onec_sale_lines
    parent: str  # its column holding the document's key
    columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    source: str  # name in raw.quarantine / raw.load_state, e.g. "onec.sales"
    table: str  # schema-qualified raw table
    key: str
    columns: tuple[str, ...]  # in the parser's output order; `key` first, `payload` last
    changed: str  # SQL over t (stored row) and excluded (incoming): when to rewrite a stored row
    lines: LinesSpec | None = None
    # the stored rows a read covers: SQL condition over `t` (%(lo)s / %(hi)s); None = no vanish detection
    window: str | None = None
    on_vanish: str = "mark"  # 'mark': deletion_mark = true (documents, catalogs); 'delete': register records
    version: str | None = "_source_version"  # column compared before parsing (None: always parse)


ONEC_VERSION_CHANGED = "t._source_version is distinct from excluded._source_version"
PAYLOAD_CHANGED = "t.payload is distinct from excluded.payload"


def _cols(names: Iterable[str], prefix: str | None = None) -> sql.Composable:
    if prefix:
        return sql.SQL(", ").join(sql.Identifier(prefix, n) for n in names)
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def copy_field(value) -> str:
    """One value in COPY's text format (faster than per-row adaptation for a million lines)."""
    kind = type(value)
    if kind is str:
        if "\\" in value:
            value = value.replace("\\", "\\\\")
        if "\n" in value:
            value = value.replace("\n", "\\n")
        if "\r" in value:
            value = value.replace("\r", "\\r")
        if "\t" in value:
            value = value.replace("\t", "\\t")
        return value
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is float:
        return repr(value)
    if kind is datetime:
        return value.isoformat()
    return copy_field(str(value))


def copy_text(rows: Iterable[tuple]) -> str:
    """Rows in COPY's text format; the common cases (clean strings, None, numbers) inline for speed."""
    return "".join([
        "\t".join([
            (v if "\\" not in v and "\n" not in v and "\t" not in v and "\r" not in v else copy_field(v))
            if (t := type(v)) is str
            else "\\N" if v is None
            else repr(v) if t is int or t is float
            else copy_field(v)
            for v in row]) + "\n"
        for row in rows])


class TableLoad:
    def __init__(self, conn: psycopg.Connection, spec: TableSpec, parser: Parser, key_field: str, *,
                 run_id: str | None, loaded_at: datetime, threshold: float, label: str, force: bool = False,
                 identify: Callable[[bytes], tuple[str | None, str | None]] | None = None,
                 track: str | None = None, batch_rows: int = 10_000):
        self.conn, self.spec, self.parser, self.key_field = conn, spec, parser, key_field
        self.run_id, self.loaded_at, self.threshold, self.label = run_id, loaded_at, threshold, label
        self.force = force
        self.identify = identify  # raw object -> (key, version) without a full parse, to skip unchanged rows
        self._track = spec.columns.index(track) if track else None
        self.newest = None  # max of the `track` column over the rows parsed (a watermark)
        self.stats: Counter = Counter()
        self._db_stats: Counter = Counter()  # written only by the database thread, merged by close()
        self.bad: list[tuple[str | None, str, str]] = []  # (key, reason, payload)
        self.undated: list[tuple[str | None, str, str]] = []  # the same, for objects no read window returns
        self.seen: set[str] = set()
        self.bad_keys: set[str] = set()
        self.stored: dict[str, str | None] = {}  # key -> version of stored rows in the window
        self.alive: set[str] = set()  # stored keys in the window not yet marked deleted
        name = spec.table.split(".")[-1]
        self.tmp = sql.Identifier(f"_tmp_{name}")
        self.tmp_lines = sql.Identifier(f"_tmp_{name}_lines")
        self.tmp_changed = sql.Identifier(f"_tmp_{name}_changed")
        self.batch_rows = batch_rows  # rows per database round (COPY + upsert): fewer, larger statements
        self._buf_rows: list[str] = []
        self._buf_lines: list[str] = []
        self._buf_n = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()
        self._params = {"loaded_at": loaded_at, "run_id": run_id}
        self._sql = self._statements()

    # -- SQL -------------------------------------------------------------------------------------------------

    def _statements(self) -> dict[str, sql.Composable]:
        spec = self.spec
        non_key = [c for c in spec.columns if c != spec.key]
        assignments = sql.SQL(", ").join(
            sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in [*non_key, "_loaded_at", "_run_id"])
        select = sql.SQL(", ").join(
            sql.SQL("payload::jsonb") if c == "payload" else sql.Identifier(c) for c in spec.columns)
        out = {
            "copy": sql.SQL("copy {} ({}) from stdin").format(self.tmp, _cols(spec.columns)),
            "upsert": sql.SQL(
                "with up as (insert into {table} as t ({cols}, _loaded_at, _run_id) "
                "select {select}, %(loaded_at)s, %(run_id)s from {tmp} "
                "on conflict ({key}) do update set {assignments} where {changed} "
                "returning t.{key} as key, (t.xmax = 0) as inserted) "
                "insert into {changed_tmp} (key, inserted) select key, inserted from up").format(
                table=relation(spec.table), cols=_cols(spec.columns), select=select, tmp=self.tmp,
                key=sql.Identifier(spec.key), assignments=assignments,
                changed=sql.SQL("true" if self.force else spec.changed), changed_tmp=self.tmp_changed),
            "counts": sql.SQL("select count(*) filter (where inserted), count(*) from {}").format(self.tmp_changed),
            "truncate": sql.SQL("truncate {}").format(sql.SQL(", ").join(
                [self.tmp, self.tmp_changed] + ([self.tmp_lines] if spec.lines else []))),
        }
        if spec.lines:
            lines = spec.lines
            out["copy_lines"] = sql.SQL("copy {} ({}) from stdin").format(self.tmp_lines, _cols(lines.columns))
            out["delete_lines"] = sql.SQL(
                "delete from {lines} l using {changed_tmp} c where l.{parent} = c.key and not c.inserted").format(
                lines=relation(lines.table), changed_tmp=self.tmp_changed, parent=sql.Identifier(lines.parent))
            out["insert_lines"] = sql.SQL(
                "insert into {lines} ({cols}, _loaded_at) select {lcols}, %(loaded_at)s from {tmp_lines} l "
                "join {changed_tmp} c on c.key = l.{parent}").format(
                lines=relation(lines.table), cols=_cols(lines.columns), lcols=_cols(lines.columns, "l"),
                tmp_lines=self.tmp_lines, changed_tmp=self.tmp_changed, parent=sql.Identifier(lines.parent))
        return out

    # -- staging ---------------------------------------------------------------------------------------------

    def begin(self, lo: datetime | None = None, hi: datetime | None = None) -> TableLoad:
        """Temp tables; the stored versions of the window (to skip unchanged rows and find vanished ones)."""
        spec = self.spec
        create = "create temp table {} on commit drop as select {} from {} with no data"
        self.conn.execute(sql.SQL(create).format(self.tmp, _cols(spec.columns), relation(spec.table)))
        # payload stays text until it is inserted: 1C sends far more unchanged objects than changed ones
        self.conn.execute(sql.SQL("alter table {} alter payload type text").format(self.tmp))
        if spec.lines:
            self.conn.execute(sql.SQL(create).format(self.tmp_lines, _cols(spec.lines.columns),
                                                     relation(spec.lines.table)))
        self.conn.execute(sql.SQL("create temp table {} (key text primary key, inserted boolean) on commit drop")
                          .format(self.tmp_changed))
        if spec.window is not None:
            alive = sql.SQL("not t.deletion_mark") if spec.on_vanish == "mark" else sql.SQL("true")
            version = sql.Identifier("t", spec.version) if spec.version else sql.SQL("null")
            query = sql.SQL("select t.{key}, {version}, {alive} from {table} t where {window}").format(
                key=sql.Identifier(spec.key), version=version, alive=alive, table=relation(spec.table),
                window=sql.SQL(spec.window))
            for key, version, is_alive in self.conn.execute(query, {"lo": lo, "hi": hi}):
                self.stored[key] = version
                if is_alive:
                    self.alive.add(key)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="load-db")
        return self

    def add_page(self, raws: Iterable[msgspec.Raw | bytes]) -> int:
        """Parse a page of source objects (raw JSON each); the database thread loads it. Returns rows read."""
        rows: list[tuple] = []
        lines: list[tuple] = []
        parser, seen, stored, identify = self.parser, self.seen, self.stored, self.identify
        skip = identify is not None and bool(stored) and not self.force
        n = unchanged = 0
        for raw in raws:
            n += 1
            if skip:
                key, version = identify(raw)
                if key is not None and version is not None and stored.get(key, "\0") == version:
                    if key in seen:
                        self.stats["duplicate"] += 1
                    else:
                        seen.add(key)
                        unchanged += 1
                    continue
            payload = bytes(raw).decode("utf-8")
            obj = None
            try:
                obj = msgspec.json.decode(raw)
                row, row_lines = parser(obj, payload)
            except BadRow as exc:
                self._quarantine(obj, exc.reason, payload)
                continue
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                self._quarantine(obj, f"not valid JSON: {exc}", payload)
                continue
            key = row[0]
            if key in seen:  # $skip paging can show an object twice when the source changes mid-read
                self.stats["duplicate"] += 1
                continue
            seen.add(key)
            rows.append(row)
            if row_lines:
                lines.extend(row_lines)
        self.stats["read"] += n
        self.stats["ok"] += len(rows) + unchanged
        self.stats["unchanged"] += unchanged
        self.stats["lines"] += len(lines)
        if rows and self._track is not None:
            newest = max(row[self._track] for row in rows)
            self.newest = newest if self.newest is None else max(self.newest, newest)
        if rows:
            self._buf_rows.append(copy_text(rows))
            if lines:
                self._buf_lines.append(copy_text(lines))
            self._buf_n += len(rows)
            if self._buf_n >= self.batch_rows:
                self.flush()
        return n

    def flush(self) -> None:
        """Hand the buffered rows to the database thread."""
        if self._buf_n:
            self._submit(self._apply, "".join(self._buf_rows), "".join(self._buf_lines))
            self._buf_rows, self._buf_lines, self._buf_n = [], [], 0

    def _submit(self, fn, *args) -> None:
        assert self._pool is not None, "begin() first"
        while len(self._pending) >= 2:  # bounded: parse at most one page ahead of the database
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def _drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def _apply(self, rows_text: str, lines_text: str) -> None:
        """Database thread: one page into raw."""
        q, conn = self._sql, self.conn
        with conn.cursor() as cur:
            cur.execute(q["truncate"])
            with cur.copy(q["copy"]) as copy:
                copy.write(rows_text)
            if lines_text:
                with cur.copy(q["copy_lines"]) as copy:
                    copy.write(lines_text)
            cur.execute(q["upsert"], self._params)
            inserted, changed = cur.execute(q["counts"]).fetchone()
            if self.spec.lines and changed:
                cur.execute(q["delete_lines"])
                cur.execute(q["insert_lines"], self._params)
                self._db_stats["lines_written"] += cur.rowcount
        self._db_stats["inserted"] += inserted
        self._db_stats["updated"] += changed - inserted
        self._db_stats["unchanged"] += rows_text.count("\n") - changed

    def _quarantine(self, obj, reason: str, payload: str) -> None:
        key = key_of(obj, self.key_field)
        if key:
            self.bad_keys.add(key)
        self.bad.append((key, reason, payload))
        self.stats["quarantined"] += 1

    def add_undated(self, raws: Iterable[msgspec.Raw | bytes], reason: Callable[[object], str]) -> None:
        """Objects that no read window returns (a document without a usable date): quarantined with `reason(obj)`
        each time they are seen, counted as `undated`, and kept out of the threshold (they would fail every night
        until someone fixes them in the source)."""
        for raw in raws:
            obj = msgspec.json.decode(raw)
            key = key_of(obj, self.key_field)
            if key:
                self.bad_keys.add(key)
            self.undated.append((key, reason(obj), bytes(raw).decode("utf-8")))
            self.stats["undated"] += 1

    # -- vanished objects ------------------------------------------------------------------------------------

    def vanished(self) -> list[str]:
        """Keys of stored, live rows inside the read window that this read did not return (nor quarantined)."""
        return sorted(k for k in self.alive if k not in self.seen and k not in self.bad_keys)

    # -- apply -----------------------------------------------------------------------------------------------

    def check_threshold(self) -> None:
        read, bad = self.stats["read"], self.stats["quarantined"]
        if read and bad / read > self.threshold:
            reasons = Counter(reason for _, reason, _ in self.bad).most_common(3)
            top = "; ".join(f"{count}x {reason}" for reason, count in reasons)
            raise QuarantineThresholdExceeded(
                f"{self.label}: {bad} of {read} rows could not be loaded ({bad / read:.1%} > "
                f"{self.threshold:.1%} allowed); nothing of this batch was loaded, the bad rows are in "
                f"raw.quarantine (source '{self.spec.source}'). Most common: {top}")

    def close(self) -> None:
        """Wait for the database thread's work (raising its error) and stop it; safe to call twice."""
        if self._pool is not None:
            try:
                self.flush()
                self._drain()
            finally:
                self._pool.shutdown(wait=True)
                self._pool = None
                self._pending.clear()
                self.stats.update(self._db_stats)
                self._db_stats.clear()

    def abort(self) -> None:
        """After a failure elsewhere: stop the database thread, ignoring its errors (the caller rolls back)."""
        self._buf_rows, self._buf_lines, self._buf_n = [], [], 0
        try:
            self.close()
        except Exception as exc:  # the original failure is the one to report
            log.debug("%s: database thread stopped with %r", self.label, exc)

    def finish(self, gone: Iterable[str] = ()) -> Counter:
        """Wait for the loads, check the quarantine share, handle vanished keys, write the quarantine.

        The caller commits (so it can add to the same transaction, e.g. a watermark)."""
        try:
            self.close()
            self.check_threshold()
        except QuarantineThresholdExceeded:
            self.conn.rollback()
            self.write_quarantine()
            self.conn.commit()
            raise
        spec = self.spec
        gone = sorted(set(gone))
        if gone:
            if spec.on_vanish == "mark":
                cur = self.conn.execute(sql.SQL(
                    "update {table} set deletion_mark = true, _source_version = null, _loaded_at = %(loaded_at)s, "
                    "_run_id = %(run_id)s where {key} = any(%(keys)s) and not deletion_mark").format(
                    table=relation(spec.table), key=sql.Identifier(spec.key)), {**self._params, "keys": gone})
            else:
                cur = self.conn.execute(sql.SQL("delete from {table} where {key} = any(%(keys)s)").format(
                    table=relation(spec.table), key=sql.Identifier(spec.key)), {"keys": gone})
            self.stats["vanished"] += cur.rowcount
        self.write_quarantine()
        return self.stats

    def write_quarantine(self) -> None:
        """Bad rows, once each: a re-run of the same interval adds no duplicates."""
        bad = self.bad + self.undated
        if not bad:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                "insert into raw.quarantine (source, source_key, reason, payload, run_id, quarantined_at) "
                "select %(source)s, %(key)s, %(reason)s, %(payload)s::jsonb, %(run_id)s, %(at)s "
                "where not exists (select 1 from raw.quarantine q where q.source = %(source)s "
                "and q.source_key is not distinct from %(key)s and q.reason = %(reason)s "
                "and q.payload = %(payload)s::jsonb)",
                [{"source": self.spec.source, "key": key, "reason": reason, "payload": payload,
                  "run_id": self.run_id, "at": self.loaded_at} for key, reason, payload in bad])


def get_watermark(conn: psycopg.Connection, source: str) -> str | None:
    row = conn.execute("select watermark from raw.load_state where source = %s", (source,)).fetchone()
    return row[0] if row else None


def set_watermark(conn: psycopg.Connection, source: str, value: str, at: datetime) -> None:
    conn.execute("insert into raw.load_state (source, watermark, updated_at) values (%s, %s, %s) "
                 "on conflict (source) do update set watermark = excluded.watermark, updated_at = excluded.updated_at",
                 (source, value, at))
