"""The two extraction jobs `nps_extract` runs, each for one data interval: `run_onec` and `run_crm`.

1C (window): documents are read by `Date` over [interval start - look-back, interval end) in 1C's local time
(default look-back 45 days, `NPS_EXTRACT_LOOKBACK_DAYS`), so late edits, postings and deletion marks of recent
documents are seen again; `DataVersion` decides what is rewritten. A document that was stored from this window
and is no longer returned is fetched by key: gone (404) -> `deletion_mark = true` (never dropped from raw);
still there (its Date moved out of the window) -> loaded as it is now. A document with an empty (0001-01-01),
missing or far-off (year >= 3000) Date is in no window: one more read per document set finds those every night
and reports them (`undated`, raw.quarantine) instead of losing them silently. The customer catalog has no date:
it is read whole each run (only changed versions are written). Deliveries (an information register): records whose
`ДатаДоставки` is in the window plus those still without a date; a record that disappears is removed from
raw.onec_deliveries, as from the register.

Bitrix24 (watermark): contacts and companies with `DATE_MODIFY` in (watermark - overlap, interval end), the
watermark (raw.load_state 'crm.contact' / 'crm.company') being the newest DATE_MODIFY loaded. It only moves
forward. A backfill run (interval end before the watermark) reads nothing for them: Bitrix24 keeps no history,
so raw already holds a newer state than that day could give. No watermark yet (or its row deleted) = full
export up to the interval end. Users (managers) are few and have no modification date: read whole every run.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import psycopg

from nps import clock, connections
from nps.bitrix_client import BitrixClient
from nps.config import env_int, settings
from nps.extract import parse
from nps.extract.errors import ExtractError, QuarantineThresholdExceeded
from nps.extract.load import (
    ONEC_VERSION_CHANGED,
    PAYLOAD_CHANGED,
    LinesSpec,
    TableLoad,
    TableSpec,
    get_watermark,
    set_watermark,
)
from nps.extract.mapping import crm_mapping, onec_mapping
from nps.extract.onec import OneCClient, datetime_literal, guid_literal

log = logging.getLogger(__name__)

ONEC_SPECS = {
    "customers": TableSpec(
        "onec.customers", "raw.onec_customers", "ref_key",
        ("ref_key", "code", "name", "legal_kind", "email", "phone", "region_raw", "deletion_mark",
         "_source_version", "payload"),
        ONEC_VERSION_CHANGED, window="true"),
    "orders": TableSpec(
        "onec.orders", "raw.onec_orders", "ref_key",
        ("ref_key", "number", "order_date", "customer_ref", "promised_date", "posted", "deletion_mark",
         "_source_version", "payload"),
        ONEC_VERSION_CHANGED,
        lines=LinesSpec("raw.onec_order_lines", "order_ref", ("order_ref", "line_number", "product_ref", "quantity")),
        window="t.order_date >= %(lo)s and t.order_date < %(hi)s"),
    "sales": TableSpec(
        "onec.sales", "raw.onec_sales", "ref_key",
        ("ref_key", "number", "sale_date", "order_ref", "customer_ref", "amount", "currency", "posted",
         "deletion_mark", "_source_version", "payload"),
        ONEC_VERSION_CHANGED,
        lines=LinesSpec("raw.onec_sale_lines", "sale_ref",
                        ("sale_ref", "line_number", "product_ref", "quantity", "price", "amount")),
        window="t.sale_date >= %(lo)s and t.sale_date < %(hi)s"),
    "deliveries": TableSpec(
        "onec.deliveries", "raw.onec_deliveries", "order_ref",
        ("order_ref", "delivered_at", "status", "carrier", "_source_version", "payload"),
        ONEC_VERSION_CHANGED,
        window="(t.delivered_at >= %(lo)s and t.delivered_at < %(hi)s) or t.delivered_at is null",
        on_vanish="delete"),
}
ONEC_ENTITIES = ("customers", "orders", "sales", "deliveries")

CRM_SPECS = {
    "contacts": TableSpec(
        "crm.contact", "raw.crm_contacts", "id",
        ("id", "name", "last_name", "company_id", "onec_code", "segment", "language", "assigned_by_id", "email",
         "phone", "date_modify", "payload"), PAYLOAD_CHANGED),
    "companies": TableSpec(
        "crm.company", "raw.crm_companies", "id",
        ("id", "title", "onec_code", "segment", "assigned_by_id", "email", "phone", "date_modify", "payload"),
        PAYLOAD_CHANGED),
    "users": TableSpec(
        "crm.user", "raw.crm_users", "id", ("id", "email", "name", "last_name", "language", "active", "payload"),
        PAYLOAD_CHANGED),
}
CRM_ENTITIES = ("contacts", "companies", "users")
SUMMARY_COLUMNS = ("read", "inserted", "updated", "unchanged", "quarantined", "undated", "vanished", "duplicate",
                   "lines")


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (Airflow's data interval is), got {value}")
    return value


class Progress:
    """Pages, rows and rate in the task log: at most one line every `every` seconds, plus the last."""

    def __init__(self, label: str, every: float = 2.0):
        self.label, self.every = label, every
        self.pages = self.rows = 0
        self.start = self.last = time.monotonic()

    def page(self, rows: int) -> None:
        self.pages += 1
        self.rows += rows
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._log(now)

    def done(self) -> float:
        now = time.monotonic()
        self._log(now)
        return now - self.start

    def _log(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-6)
        log.info("%s: %d pages, %d rows, %.0f rows/s", self.label, self.pages, self.rows, self.rows / elapsed)


def log_summary(title: str, results: dict[str, dict]) -> None:
    header = f"{'entity':<12}" + "".join(f"{c:>12}" for c in SUMMARY_COLUMNS) + f"{'seconds':>10}"
    lines = [title, header]
    for entity, stats in results.items():
        lines.append(f"{entity:<12}" + "".join(f"{stats.get(c, 0):>12}" for c in SUMMARY_COLUMNS)
                     + f"{stats.get('seconds', 0):>10.1f}")
    log.info("\n".join(lines))


def _as_dict(stats: Counter, seconds: float) -> dict:
    out = {c: int(stats.get(c, 0)) for c in SUMMARY_COLUMNS}
    out["lines_written"] = int(stats.get("lines_written", 0))
    out["seconds"] = round(seconds, 2)
    return out


# -- 1C -----------------------------------------------------------------------------------------------------

def onec_window(data_interval_start: datetime, data_interval_end: datetime, lookback_days: int,
                tz: str) -> tuple[datetime, datetime]:
    """[start - look-back, end) as naive datetimes in 1C's local time (its dates carry no zone)."""
    zone = ZoneInfo(tz)
    lo = (_aware(data_interval_start, "data_interval_start") - timedelta(days=lookback_days)).astimezone(zone)
    hi = _aware(data_interval_end, "data_interval_end").astimezone(zone)
    if hi < lo:
        raise ValueError(f"data interval ends ({data_interval_end}) before it starts ({data_interval_start})")
    return lo.replace(tzinfo=None), hi.replace(tzinfo=None)


def _onec_parser(entity: str, section: dict, currencies: dict[str, str] | None = None):
    if entity == "customers":
        return parse.OneCCustomer(section), section["fields"]["ref_key"]
    if entity == "orders":
        return (parse.OneCDocument(section, ("customer_ref", "promised_date"), ("product_ref", "quantity")),
                section["fields"]["ref_key"])
    if entity == "sales":
        return (parse.OneCDocument(section, ("order_ref", "customer_ref", "amount", "currency"),
                                   ("product_ref", "quantity", "price", "amount"), currencies),
                section["fields"]["ref_key"])
    return parse.OneCDelivery(section), section["fields"]["order_ref"]


def _onec_filter(entity: str, section: dict, lo: datetime, hi: datetime) -> str | None:
    if entity == "customers":
        return None
    if entity == "deliveries":
        field = section.get("window_field") or section["fields"]["delivered_at"]
        return (f"({field} ge {datetime_literal(lo)} and {field} lt {datetime_literal(hi)}) "
                f"or {field} eq datetime'{parse.EMPTY_DATE}'")
    field = section["fields"]["date"]
    return f"{field} ge {datetime_literal(lo)} and {field} lt {datetime_literal(hi)}"


def _undated_filter(field: str) -> str:
    """Documents no date window returns: 1C's empty date, a missing or unordered value (hence `not`), a year >= 3000."""
    return f"not ({field} gt datetime'{parse.EMPTY_DATE}' and {field} lt datetime'3000-01-01T00:00:00')"


def _undated_reason(obj, field: str) -> str:
    try:
        value = parse.onec_date(obj if isinstance(obj, dict) else {}, field, required=True)
    except parse.BadRow as exc:
        return f"{exc.reason}: no date window reads this document"
    return f"{field} {value} is beyond any date window: this document is never read"


def _strip_odata(raw: msgspec.Raw) -> bytes:
    """A single-object GET may carry `odata.metadata`: drop it so payloads look like the list's objects."""
    obj = msgspec.json.decode(raw)
    if isinstance(obj, dict) and any(k.startswith("odata.") for k in obj):
        return msgspec.json.encode({k: v for k, v in obj.items() if not k.startswith("odata.")})
    return bytes(raw)


def _confirm_onec(client: OneCClient, entity: str, section: dict, keys: list[str]) -> tuple[list[bytes], list[str]]:
    """Ask 1C for each stored object the window read did not return: (still there, gone)."""
    found, gone = [], []
    for key in keys:
        if entity == "deliveries":
            field = section["fields"]["order_ref"]
            rows = client.page(section["entity_set"], filter=f"{field} eq {guid_literal(key)}", top=1)
            raw = rows[0] if rows else None
        else:
            raw = client.get_by_key(section["entity_set"], key)
        if raw is None:
            gone.append(key)
        else:
            found.append(_strip_odata(raw))
    return found, gone


def currency_codes(client: OneCClient, section: dict | None) -> dict[str, str]:
    """Currency reference -> code, from the (small) currency catalog; {} when the mapping names none."""
    if not section or not section.get("entity_set"):
        return {}
    f = section.get("fields") or {}
    ref, code = f.get("ref_key", "Ref_Key"), f.get("code", "Code")
    out = {}
    for page in client.pages(section["entity_set"], orderby=section.get("order_by") or ref):
        for raw in page:
            obj = msgspec.json.decode(raw)
            if isinstance(obj, dict) and isinstance(obj.get(ref), str) and obj.get(code) not in (None, ""):
                out[obj[ref]] = str(obj[code])
    return out


def _load_onec_entity(conn: psycopg.Connection, client: OneCClient, entity: str, section: dict, lo: datetime,
                      hi: datetime, *, run_id: str | None, loaded_at: datetime, threshold: float, force: bool,
                      failures: list[str], currencies: dict[str, str] | None = None) -> dict:
    label = f"1C {section['entity_set']}"
    spec = ONEC_SPECS[entity]
    parser, key_field = _onec_parser(entity, section, currencies)
    version_field = None if entity == "deliveries" else section["fields"]["version"]
    load = TableLoad(conn, spec, parser, key_field, run_id=run_id, loaded_at=loaded_at, threshold=threshold,
                     label=label, force=force, identify=parse.identity(key_field, version_field))
    progress = Progress(label)
    try:
        load.begin(lo, hi)
        orderby = section.get("order_by") or key_field
        for page in client.pages(section["entity_set"], filter=_onec_filter(entity, section, lo, hi),
                                 orderby=orderby):
            load.add_page(page)
            progress.page(len(page))
        date_field = section["fields"].get("date")
        if date_field:  # one more (normally empty) read a night, so such documents are reported, not silently lost
            for page in client.pages(section["entity_set"], filter=_undated_filter(date_field), orderby=orderby):
                load.add_undated(page, lambda obj: _undated_reason(obj, date_field))
        missing = load.vanished()
        gone: list[str] = []
        if missing:
            log.info("%s: %d stored objects of this window were not returned; asking 1C for each", label,
                     len(missing))
            found, gone = _confirm_onec(client, entity, section, missing)
            load.add_page(found)
        try:
            stats = load.finish(gone)
        except QuarantineThresholdExceeded as exc:
            log.error("%s", exc)
            failures.append(str(exc))
            return _as_dict(load.stats, progress.done())
        conn.commit()
    finally:
        load.abort()
    if stats["quarantined"]:
        log.warning("%s: %d rows quarantined (raw.quarantine, source '%s')", label, stats["quarantined"],
                    spec.source)
    if stats["undated"]:
        log.warning("%s: %d documents have an empty or invalid %s, so no date window reads them: fix them in 1C "
                    "(raw.quarantine, source '%s')", label, stats["undated"], section["fields"]["date"], spec.source)
    return _as_dict(stats, progress.done())


def run_onec(data_interval_start: datetime, data_interval_end: datetime, run_id: str | None = None, *,
             client: OneCClient | None = None, dsn: str | None = None, lookback_days: int | None = None,
             entities: Iterable[str] = ONEC_ENTITIES, force: bool = False) -> dict[str, dict]:
    """Load what changed in 1C for one data interval into raw.onec_*; returns the summary per entity."""
    cfg = settings()
    lookback = cfg.extract_lookback_days if lookback_days is None else lookback_days
    lo, hi = onec_window(data_interval_start, data_interval_end, lookback, cfg.timezone)
    mapping = onec_mapping()
    loaded_at = clock.now()
    own_client = client is None
    client = client or OneCClient.from_connection("nps_onec")
    results: dict[str, dict] = {}
    failures: list[str] = []
    log.info("1C: reading documents dated %s .. %s (%s, look-back %d days), page size %d",
             lo.isoformat(), hi.isoformat(), cfg.timezone, lookback, client.page_size)
    try:
        currencies = currency_codes(client, mapping.get("currencies")) if "sales" in entities else {}
        with psycopg.connect(dsn or connections.warehouse_dsn()) as conn:
            for entity in entities:
                results[entity] = _load_onec_entity(conn, client, entity, mapping[entity], lo, hi, run_id=run_id,
                                                    loaded_at=loaded_at, threshold=cfg.quarantine_threshold,
                                                    force=force, failures=failures, currencies=currencies)
    finally:
        if own_client:
            client.close()
    log_summary(f"1C summary ({lo:%Y-%m-%d %H:%M} .. {hi:%Y-%m-%d %H:%M} {cfg.timezone}, "
                f"{client.requests} requests):", results)
    if failures:
        raise QuarantineThresholdExceeded("; ".join(failures))
    return results


# -- Bitrix24 -----------------------------------------------------------------------------------------------

def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def run_crm(data_interval_start: datetime, data_interval_end: datetime, run_id: str | None = None, *,
            client: BitrixClient | None = None, dsn: str | None = None, overlap_minutes: int | None = None,
            force: bool = False) -> dict[str, dict]:
    """Load contacts, companies (incremental by DATE_MODIFY) and users from Bitrix24 into raw.crm_*."""
    cfg = settings()
    _aware(data_interval_start, "data_interval_start")
    end = _aware(data_interval_end, "data_interval_end")
    overlap = timedelta(minutes=env_int("NPS_CRM_OVERLAP_MINUTES", 10) if overlap_minutes is None
                        else overlap_minutes)
    mapping = crm_mapping()
    loaded_at = clock.now()
    own_client = client is None
    client = client or BitrixClient.from_connection("nps_crm")
    results: dict[str, dict] = {}
    failures: list[str] = []
    try:
        with psycopg.connect(dsn or connections.warehouse_dsn()) as conn:
            # what to read, per list: the DATE_MODIFY filter from the stored watermark
            plans: dict[str, tuple[dict, list[str]] | None] = {}
            for entity in ("contacts", "companies"):
                source = CRM_SPECS[entity].source
                stored = get_watermark(conn, source)
                date_filter: dict = {"<DATE_MODIFY": _iso(end)}
                if stored:
                    since = datetime.fromisoformat(stored) - overlap
                    if since >= end:
                        log.info("Bitrix24 %s: watermark %s is past this interval's end %s (a backfill): "
                                 "nothing to read", entity, stored, _iso(end))
                        plans[entity] = None
                        continue
                    date_filter[">DATE_MODIFY"] = _iso(since)
                    log.info("Bitrix24 %s: changes since %s (watermark %s - %s overlap) until %s", entity,
                             _iso(since), stored, overlap, _iso(end))
                else:
                    log.info("Bitrix24 %s: no watermark yet, full export until %s", entity, _iso(end))
                plans[entity] = (date_filter, list(mapping[entity].get("select") or ["*", "UF_*"]))
            conn.commit()
            # the first page of every list in one call
            commands = {e: (mapping[e]["method"], client.list_params(p[0], p[1])) for e, p in plans.items() if p}
            user_params = {"sort": "ID", "order": "ASC"}
            commands["users"] = (mapping["users"]["method"], {**user_params, "start": 0})
            first = client.batch(commands)
            for entity in CRM_ENTITIES:
                if entity != "users" and plans.get(entity) is None:
                    results[entity] = _as_dict(Counter(), 0.0)
                    continue
                spec, section = CRM_SPECS[entity], mapping[entity]
                label = f"Bitrix24 {section['method']}"
                parser = {"contacts": parse.CrmContact, "companies": parse.CrmCompany,
                          "users": parse.CrmUser}[entity](section.get("fields") or {})
                load = TableLoad(conn, spec, parser, "ID", run_id=run_id, loaded_at=loaded_at,
                                 threshold=cfg.quarantine_threshold, label=label, force=force,
                                 track=None if entity == "users" else "date_modify")
                progress = Progress(label)
                try:
                    load.begin()
                    if entity == "users":
                        pages = client.offsets(section["method"], user_params, first=first["users"])
                    else:
                        date_filter, select = plans[entity]
                        pages = client.export(section["method"], date_filter, select,
                                              first=client.rows(first[entity].result))
                    for page in pages:
                        load.add_page(page)
                        progress.page(len(page))
                    try:
                        stats = load.finish()
                    except QuarantineThresholdExceeded as exc:
                        log.error("%s", exc)
                        failures.append(str(exc))
                        results[entity] = _as_dict(load.stats, progress.done())
                        continue
                finally:
                    load.abort()
                newest = load.newest
                if newest is not None:
                    stored = get_watermark(conn, spec.source)
                    if stored is None or newest > datetime.fromisoformat(stored):
                        set_watermark(conn, spec.source, newest.isoformat(), loaded_at)
                        log.info("%s: watermark -> %s", label, newest.isoformat())
                conn.commit()
                results[entity] = _as_dict(stats, progress.done())
    finally:
        if own_client:
            client.close()
    log_summary(f"Bitrix24 summary (until {_iso(end)}, {client.requests} requests, {client.rate_limited} "
                f"rate-limit answers, {client.bucket.waited:.1f} s paced):", results)
    if failures:
        raise QuarantineThresholdExceeded("; ".join(failures))
    return results


__all__ = ["ExtractError", "run_crm", "run_onec"]
