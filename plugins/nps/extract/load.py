"""COPY into a temp table, then one set-based upsert into `raw` by natural key (psycopg 3).

One `TableLoad` per entity and run, inside one transaction:
  begin() -> add_page()* (parse, COPY good rows into temp tables, collect bad rows) -> [vanished()] -> finish()
`finish()` checks the quarantine share, upserts (`... on conflict do update ... where <changed>`, so an
unchanged row is not rewritten), replaces the lines of changed documents, marks or drops objects that vanished
from the source, writes the quarantine and commits. Above the threshold nothing is loaded, the bad rows are
still written to raw.quarantine, and `QuarantineThresholdExceeded` says which source and why.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import msgspec
import psycopg
from psycopg import sql

from nps.extract.errors import QuarantineThresholdExceeded
from nps.extract.parse import BadRow, key_of

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
    # vanish detection: SQL condition over `t` selecting the stored rows the read covered (%(lo)s / %(hi)s)
    window: str | None = None
    on_vanish: str = "mark"  # 'mark': deletion_mark = true (documents, catalogs); 'delete': register records


ONEC_VERSION_CHANGED = "t._source_version is distinct from excluded._source_version"
PAYLOAD_CHANGED = "t.payload is distinct from excluded.payload"


def _ident(qualified: str) -> sql.Identifier:
    return sql.Identifier(*qualified.split("."))


def _cols(names: Iterable[str], prefix: str | None = None) -> sql.Composable:
    if prefix:
        return sql.SQL(", ").join(sql.Identifier(prefix, n) for n in names)
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


class TableLoad:
    def __init__(self, conn: psycopg.Connection, spec: TableSpec, parser: Parser, key_field: str, *,
                 run_id: str | None, loaded_at: datetime, threshold: float, label: str, force: bool = False):
        self.conn, self.spec, self.parser, self.key_field = conn, spec, parser, key_field
        self.run_id, self.loaded_at, self.threshold, self.label = run_id, loaded_at, threshold, label
        self.force = force
        self.stats: Counter = Counter()
        self.bad: list[tuple[str | None, str, str]] = []  # (key, reason, payload)
        self.seen: set[str] = set()
        self.bad_keys: set[str] = set()
        name = spec.table.split(".")[-1]
        self.tmp = sql.Identifier(f"_tmp_{name}")
        self.tmp_lines = sql.Identifier(f"_tmp_{name}_lines")
        self.tmp_changed = sql.Identifier(f"_tmp_{name}_changed")
        self._copy_rows = sql.SQL("copy {} ({}) from stdin").format(self.tmp, _cols(spec.columns))
        if spec.lines:
            self._copy_lines = sql.SQL("copy {} ({}) from stdin").format(self.tmp_lines, _cols(spec.lines.columns))

    # -- staging ---------------------------------------------------------------------------------------------

    def begin(self) -> TableLoad:
        spec = self.spec
        # the raw table's column types, none of its constraints or defaults
        create = "create temp table {} on commit drop as select {} from {} with no data"
        self.conn.execute(sql.SQL(create).format(self.tmp, _cols(spec.columns), _ident(spec.table)))
        if spec.lines:
            self.conn.execute(sql.SQL(create).format(self.tmp_lines, _cols(spec.lines.columns),
                                                     _ident(spec.lines.table)))
        self.conn.execute(sql.SQL("create temp table {} (key text primary key, inserted boolean) on commit drop")
                          .format(self.tmp_changed))
        return self

    def add_page(self, raws: Iterable[msgspec.Raw | bytes]) -> int:
        """Parse a page of source objects (raw JSON each) and COPY the good ones; returns rows read."""
        rows: list[tuple] = []
        lines: list[tuple] = []
        parser, seen, n = self.parser, self.seen, 0
        for raw in raws:
            n += 1
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
        self.stats["ok"] += len(rows)
        self.stats["lines"] += len(lines)
        with self.conn.cursor() as cur:
            if rows:
                with cur.copy(self._copy_rows) as copy:
                    for row in rows:
                        copy.write_row(row)
            if lines:
                with cur.copy(self._copy_lines) as copy:
                    for line in lines:
                        copy.write_row(line)
        return n

    def _quarantine(self, obj, reason: str, payload: str) -> None:
        key = key_of(obj, self.key_field)
        if key:
            self.bad_keys.add(key)
        self.bad.append((key, reason, payload))
        self.stats["quarantined"] += 1

    # -- vanished objects ------------------------------------------------------------------------------------

    def vanished(self, lo: datetime | None = None, hi: datetime | None = None) -> list[str]:
        """Keys of stored, live rows inside the read window that this read did not return (nor quarantined)."""
        spec = self.spec
        if spec.window is None:
            return []
        alive = sql.SQL("not t.deletion_mark") if spec.on_vanish == "mark" else sql.SQL("true")
        query = sql.SQL("select t.{key} from {table} t where ({window}) and {alive} "
                        "and not exists (select 1 from {tmp} s where s.{key} = t.{key})").format(
            key=sql.Identifier(spec.key), table=_ident(spec.table), window=sql.SQL(spec.window), alive=alive,
            tmp=self.tmp)
        keys = [r[0] for r in self.conn.execute(query, {"lo": lo, "hi": hi})]
        return [k for k in keys if k not in self.bad_keys]

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

    def finish(self, gone: Iterable[str] = ()) -> Counter:
        """Check the quarantine share, upsert, replace lines, handle vanished keys, write quarantine, commit."""
        try:
            self.check_threshold()
        except QuarantineThresholdExceeded:
            self.conn.rollback()
            self.write_quarantine()
            self.conn.commit()
            raise
        spec = self.spec
        params = {"loaded_at": self.loaded_at, "run_id": self.run_id}
        non_key = [c for c in spec.columns if c != spec.key]
        assignments = sql.SQL(", ").join(
            sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in [*non_key, "_loaded_at", "_run_id"])
        upsert = sql.SQL(
            "with up as (insert into {table} as t ({cols}, _loaded_at, _run_id) "
            "select {cols}, %(loaded_at)s, %(run_id)s from {tmp} "
            "on conflict ({key}) do update set {assignments} where {changed} "
            "returning t.{key} as key, (t.xmax = 0) as inserted) "
            "insert into {changed_tmp} (key, inserted) select key, inserted from up").format(
            table=_ident(spec.table), cols=_cols(spec.columns), tmp=self.tmp, key=sql.Identifier(spec.key),
            assignments=assignments, changed=sql.SQL("true" if self.force else spec.changed),
            changed_tmp=self.tmp_changed)
        self.conn.execute(upsert, params)
        inserted, changed = self.conn.execute(
            sql.SQL("select count(*) filter (where inserted), count(*) from {}").format(self.tmp_changed)).fetchone()
        self.stats["inserted"] += inserted
        self.stats["updated"] += changed - inserted
        self.stats["unchanged"] += self.stats["ok"] - changed
        if spec.lines:
            lines = spec.lines
            self.conn.execute(sql.SQL(
                "delete from {lines} l using {changed_tmp} c where l.{parent} = c.key and not c.inserted").format(
                lines=_ident(lines.table), changed_tmp=self.tmp_changed, parent=sql.Identifier(lines.parent)))
            cur = self.conn.execute(sql.SQL(
                "insert into {lines} ({cols}, _loaded_at) select {lcols}, %(loaded_at)s from {tmp_lines} l "
                "join {changed_tmp} c on c.key = l.{parent}").format(
                lines=_ident(lines.table), cols=_cols(lines.columns), lcols=_cols(lines.columns, "l"),
                tmp_lines=self.tmp_lines, changed_tmp=self.tmp_changed, parent=sql.Identifier(lines.parent)),
                params)
            self.stats["lines_written"] += cur.rowcount
        gone = sorted(set(gone))
        if gone:
            if spec.on_vanish == "mark":
                cur = self.conn.execute(sql.SQL(
                    "update {table} set deletion_mark = true, _source_version = null, _loaded_at = %(loaded_at)s, "
                    "_run_id = %(run_id)s where {key} = any(%(keys)s) and not deletion_mark").format(
                    table=_ident(spec.table), key=sql.Identifier(spec.key)), {**params, "keys": gone})
            else:
                cur = self.conn.execute(sql.SQL("delete from {table} where {key} = any(%(keys)s)").format(
                    table=_ident(spec.table), key=sql.Identifier(spec.key)), {"keys": gone})
            self.stats["vanished"] += cur.rowcount
        self.write_quarantine()
        return self.stats

    def write_quarantine(self) -> None:
        """Bad rows, once each: a re-run of the same interval adds no duplicates."""
        if not self.bad:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                "insert into raw.quarantine (source, source_key, reason, payload, run_id, quarantined_at) "
                "select %(source)s, %(key)s, %(reason)s, %(payload)s::jsonb, %(run_id)s, %(at)s "
                "where not exists (select 1 from raw.quarantine q where q.source = %(source)s "
                "and q.source_key is not distinct from %(key)s and q.reason = %(reason)s "
                "and q.payload = %(payload)s::jsonb)",
                [{"source": self.spec.source, "key": key, "reason": reason, "payload": payload,
                  "run_id": self.run_id, "at": self.loaded_at} for key, reason, payload in self.bad])


def get_watermark(conn: psycopg.Connection, source: str) -> str | None:
    row = conn.execute("select watermark from raw.load_state where source = %s", (source,)).fetchone()
    return row[0] if row else None


def set_watermark(conn: psycopg.Connection, source: str, value: str, at: datetime) -> None:
    conn.execute("insert into raw.load_state (source, watermark, updated_at) values (%s, %s, %s) "
                 "on conflict (source) do update set watermark = excluded.watermark, updated_at = excluded.updated_at",
                 (source, value, at))
