"""A small, realistic raw dataset for the dbt tests, with its ground truth.

Generated deterministically in Python: ~60 customers (region spelled in uk/ru/en variants, CRM matched by code,
e-mail or phone, or not at all), ~300 purchases (partial shipments, cancellations, early/late/missing deliveries),
invites with SendGrid events, answers (some answered twice, some around midnight Kyiv time). The ground truth
(region, segment, delivery bucket per purchase) is known by construction, so tests recompute the marts without dbt.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

KYIV = ZoneInfo("Europe/Kyiv")
SURVEY_DELAY = 14

# raw spelling -> canonical region (what the seed must map it to)
SPELLINGS = [
    ("Київська обл.", "Київська область"), ("Киевская область", "Київська область"), ("Kyiv Oblast", "Київська область"),
    ("м. Київ", "м. Київ"), ("Киев", "м. Київ"), ("Kyiv city", "м. Київ"), ("  КИЇВ ", "м. Київ"),
    ("Львівська область", "Львівська область"), ("Lviv oblast", "Львівська область"), ("Львовская обл", "Львівська область"),
    ("Харківська обл", "Харківська область"), ("Харьковская область", "Харківська область"),
    ("Odesa Oblast", "Одеська область"), ("Одесская обл.", "Одеська область"),
    ("Дніпропетровська область", "Дніпропетровська область"), ("Днепропетровская обл.", "Дніпропетровська область"),
    ("Івано-Франківська обл.", "Івано-Франківська область"), ("Ivano-Frankivsk Oblast", "Івано-Франківська область"),
    ("Запорізька область", "Запорізька область"), ("Zaporizhzhia Oblast", "Запорізька область"),
    ("Вінницька обл.", "Вінницька область"), ("Чернігівська область", "Чернігівська область"),
    ("Марс", "невідомо"), (None, "невідомо"),
]
SEGMENTS = ["retail", "wholesale", "horeca"]
SCORES = [0, 1, 2, 3, 4, 5, 6, 7, 7, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10]


def _ref(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def survey_id(sale_ref: str) -> str:
    """Mirror of dbt_project/macros/survey_id.sql (tests assert they agree)."""
    import hashlib

    return "sv" + hashlib.md5(sale_ref.encode()).hexdigest()[:24]


@dataclass
class Dataset:
    customers: list[dict] = field(default_factory=list)
    companies: list[dict] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    order_lines: list[dict] = field(default_factory=list)
    sales: list[dict] = field(default_factory=list)
    sale_lines: list[dict] = field(default_factory=list)
    deliveries: list[dict] = field(default_factory=list)
    sends: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    responses: list[dict] = field(default_factory=list)  # every answer given (several per survey possible)
    suppressions: list[dict] = field(default_factory=list)
    # ground truth
    customer_truth: dict[str, dict] = field(default_factory=dict)   # customer_ref -> region, segment, language
    purchase_truth: dict[str, dict] = field(default_factory=dict)   # sale_ref -> bucket, delay, in_full, ...


def generate(seed: int = 7, n_customers: int = 60, n_orders: int = 280, start: date = date(2026, 1, 5)) -> Dataset:
    rng = random.Random(seed)
    ds = Dataset()
    for i in range(n_customers):
        ref = _ref(rng)
        code = f"C{i:05d}"
        spelling, region = SPELLINGS[i % len(SPELLINGS)]
        email = f"client{i}@example.com"
        phone_digits = f"67{rng.randrange(10**7):07d}"
        crm_shape = ["code", "email", "phone", "none", "email_company"][i % 5]
        segment = rng.choice(SEGMENTS)
        language = rng.choice(["uk", "uk", "uk", "ru", "en", "pl"])
        valid_email = i % 13 != 0
        cust_email = email if valid_email else "not-an-email"   # a few invalid addresses in 1C
        # an invalid 1C address cannot be matched on e-mail: such customers stay unmatched
        match = crm_shape if valid_email or crm_shape not in ("email", "email_company") else "none"
        ds.customers.append({
            "ref_key": ref, "code": code, "name": f"ТОВ Клієнт {i}", "legal_kind": "company",
            "email": cust_email.upper() if i % 7 == 0 else cust_email, "phone": f"+380{phone_digits}",
            "region_raw": spelling, "deletion_mark": False})
        truth_segment, truth_language = "unknown", "uk"
        if crm_shape == "code":
            ds.companies.append({"id": str(1000 + i), "title": f"Клієнт {i}", "onec_code": code, "segment": segment,
                                 "email": None, "phone": None})
            ds.contacts.append({"id": str(5000 + i), "name": "Ім'я", "last_name": f"Прізвище{i}",
                                "company_id": str(1000 + i), "onec_code": code, "segment": "other",
                                "language": language, "email": None, "phone": None})
            truth_segment, truth_language = segment, language
        elif crm_shape == "email":
            # no code in the CRM: matched on the normalized e-mail
            ds.contacts.append({"id": str(5000 + i), "name": "Olena", "last_name": f"Test{i}", "company_id": None,
                                "onec_code": None, "segment": segment.upper(), "language": language.upper(),
                                "email": f"  Client{i}@Example.com ", "phone": None})
        elif crm_shape == "phone":
            ds.contacts.append({"id": str(5000 + i), "name": "Petro", "last_name": f"Phone{i}", "company_id": None,
                                "onec_code": None, "segment": segment, "language": None, "email": None,
                                "phone": f"0{phone_digits[:2]} {phone_digits[2:5]}-{phone_digits[5:7]}-{phone_digits[7:]}"})
            truth_segment, truth_language = segment, "uk"
        elif crm_shape == "email_company":
            # contact found by e-mail; its company's segment wins over the contact's
            ds.companies.append({"id": str(1000 + i), "title": f"Клієнт {i}", "onec_code": None, "segment": segment,
                                 "email": None, "phone": None})
            ds.contacts.append({"id": str(5000 + i), "name": "Iryna", "last_name": f"Co{i}",
                                "company_id": str(1000 + i), "onec_code": None, "segment": "other",
                                "language": language, "email": email, "phone": None})
        if match in ("email", "email_company"):
            truth_segment, truth_language = segment, language
        ds.customer_truth[ref] = {"region": region, "segment": truth_segment, "language": truth_language,
                                  "match": match, "email": email if valid_email else None}
    customer_refs = [c["ref_key"] for c in ds.customers]

    for n in range(n_orders):
        order_ref = _ref(rng)
        customer_ref = rng.choice(customer_refs)
        ordered_on = start + timedelta(days=rng.randrange(0, 70))
        promised = ordered_on + timedelta(days=rng.randrange(2, 8))
        ds.orders.append({"ref_key": order_ref, "number": f"ЗК-{n:05d}", "order_date": datetime.combine(
            ordered_on, datetime.min.time()) + timedelta(hours=9), "customer_ref": customer_ref,
            "promised_date": datetime.combine(promised, datetime.min.time()), "posted": True, "deletion_mark": False})
        products = rng.sample([f"prod-{k}" for k in range(12)], rng.randint(1, 3))
        quantities = {p: rng.randint(1, 20) for p in products}
        for ln, p in enumerate(products, start=1):
            ds.order_lines.append({"order_ref": order_ref, "line_number": ln, "product_ref": p,
                                   "quantity": quantities[p]})
        # shipments: usually one full sale; sometimes short, sometimes split in two
        shape = rng.random()
        cancelled = shape < 0.05
        if shape < 0.15:
            parts = [{p: q - 1 if i == 0 else q for i, (p, q) in enumerate(quantities.items())}]   # short shipment
        elif shape < 0.25:
            parts = [{p: q // 2 for p, q in quantities.items()}, {p: q - q // 2 for p, q in quantities.items()}]
        else:
            parts = [dict(quantities)]
        shipped = {p: 0 for p in quantities}
        sale_refs = []
        for k, part in enumerate(parts):
            sale_ref = _ref(rng)
            sale_refs.append(sale_ref)
            not_posted = cancelled and k == 0 and n % 2 == 0
            is_cancelled = cancelled and k == 0
            sold = datetime.combine(ordered_on, datetime.min.time()) + timedelta(days=1 + k, hours=rng.randrange(8, 19))
            ds.sales.append({"ref_key": sale_ref, "number": f"РН-{n:05d}-{k}", "sale_date": sold,
                             "order_ref": order_ref, "customer_ref": customer_ref, "amount": 100 * sum(part.values()),
                             "currency": "UAH", "posted": not not_posted, "deletion_mark": is_cancelled and not not_posted})
            for ln, (p, q) in enumerate(part.items(), start=1):
                if q > 0:
                    ds.sale_lines.append({"sale_ref": sale_ref, "line_number": ln, "product_ref": p, "quantity": q,
                                          "price": 100, "amount": 100 * q})
                if not is_cancelled:
                    shipped[p] += q
        in_full = all(shipped[p] >= q for p, q in quantities.items())
        r = rng.random()
        if r < 0.12:
            delivered_on, delay = None, None          # no delivery record
        elif r < 0.16:
            delivered_on, delay = None, None          # a record with 1C's empty date
            ds.deliveries.append({"order_ref": order_ref, "delivered_at": None, "status": "В дорозі"})
        else:
            delay = rng.choice([-2, -1, 0, 0, 0, 0, 1, 2, 3, 4, 6, 7, 8, 12])
            delivered_on = promised + timedelta(days=delay)
            ds.deliveries.append({"order_ref": order_ref, "delivered_at": datetime.combine(
                delivered_on, datetime.min.time()) + timedelta(hours=rng.randrange(8, 20)), "status": "Доставлено"})
        if delivered_on is None:
            bucket = "not_delivered"
        elif delay <= 0:
            bucket = "on_time"
        elif delay <= 3:
            bucket = "late_1_3d"
        elif delay <= 7:
            bucket = "late_4_7d"
        else:
            bucket = "late_8d_plus"
        for sale_ref in sale_refs:
            sale = next(s for s in ds.sales if s["ref_key"] == sale_ref)
            ds.purchase_truth[sale_ref] = {
                "customer_ref": customer_ref, "bucket": bucket, "delay": delay, "in_full": in_full,
                "on_time": delivered_on is not None and delay <= 0,
                "cancelled": (not sale["posted"]) or sale["deletion_mark"],
                "due": (delivered_on or promised) + timedelta(days=SURVEY_DELAY)}

    # surveys: invites for most non-cancelled purchases, events, answers
    for sale in ds.sales:
        truth = ds.purchase_truth[sale["ref_key"]]
        cust = ds.customer_truth[truth["customer_ref"]]
        if truth["cancelled"] or not cust["email"] or rng.random() < 0.2:
            continue
        sid = survey_id(sale["ref_key"])
        send_day = truth["due"] + timedelta(days=rng.choice([0, 0, 0, 1, 3]))
        status = "failed" if rng.random() < 0.04 else "sent"
        sent_at = datetime.combine(send_day, datetime.min.time(), KYIV) + timedelta(hours=10, minutes=rng.randrange(60))
        ds.sends.append({"survey_id": sid, "kind": "invite", "purchase_id": sale["ref_key"],
                         "customer_ref": truth["customer_ref"], "email": cust["email"], "language": cust["language"],
                         "status": status, "message_id": f"msg-{sid}" if status == "sent" else None,
                         "due_date": truth["due"], "logical_date": send_day, "claimed_at": sent_at,
                         "sent_at": sent_at if status == "sent" else None})
        if status != "sent":
            continue

        def event(kind: str, at: datetime, sid: str = sid, email: str = cust["email"]) -> None:
            ds.events.append({"sg_event_id": f"ev-{rng.getrandbits(64):016x}", "event": kind, "email": email,
                              "survey_id": sid, "kind": "invite", "sg_message_id": f"msg-{sid}.filter",
                              "occurred_at": at, "reason": None})

        event("processed", sent_at + timedelta(seconds=5))
        fate = rng.random()
        if fate < 0.05:
            event("bounce", sent_at + timedelta(minutes=1))
            continue
        if fate < 0.12:
            continue  # delivered without a 'delivered' event reaching us, and never opened
        event("delivered", sent_at + timedelta(minutes=1))
        if rng.random() < 0.65:
            event("open", sent_at + timedelta(hours=2))
            if rng.random() < 0.03:
                event("unsubscribe", sent_at + timedelta(hours=3))
                continue
            if rng.random() < 0.8:
                # answers: some near midnight Kyiv (a different UTC day), some changed later
                # (never before the e-mail went out at 10:xx: the raw quality gate rejects that as critical)
                day_offset = rng.randrange(0, 9)
                local = datetime.combine(send_day + timedelta(days=day_offset), datetime.min.time(), KYIV)
                near_midnight = rng.random() < 0.3
                if day_offset == 0:
                    at = local + (timedelta(hours=23, minutes=rng.randrange(0, 59)) if near_midnight
                                  else timedelta(hours=rng.randrange(12, 22)))
                else:
                    at = local + (timedelta(minutes=rng.randrange(0, 90)) if near_midnight
                                  else timedelta(hours=rng.randrange(9, 22)))
                ds.responses.append({"survey_id": sid, "score": rng.choice(SCORES), "comment": "Дякую",
                                     "reasons": ["delivery"], "language": cust["language"], "responded_at": at})
                if rng.random() < 0.1:
                    ds.responses.append({"survey_id": sid, "score": rng.choice(SCORES), "comment": "Змінив думку",
                                         "reasons": [], "language": cust["language"],
                                         "responded_at": at + timedelta(hours=rng.randrange(1, 30))})
    ds.suppressions.append({"email": "client3@example.com", "list": "bounces", "created_at": datetime(2026, 1, 2, tzinfo=UTC)})
    return ds


def latest_answers(ds: Dataset) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for r in ds.responses:
        if r["survey_id"] not in latest or r["responded_at"] > latest[r["survey_id"]]["responded_at"]:
            latest[r["survey_id"]] = r
    return latest


# when a row was (re)built and what the next incremental run compares with: differs between incremental and full builds
BOOKKEEPING = {"transformed_at", "read_as_of", "counted_days"}


def content_columns(conn: psycopg.Connection, table: str) -> list[str]:
    """A dbt table's columns (`schema.table`) in order, without the bookkeeping ones: what it says, not when."""
    schema, name = table.split(".")
    rows = conn.execute("select column_name from information_schema.columns where table_schema = %s "
                        "and table_name = %s order by ordinal_position", (schema, name)).fetchall()
    return [r[0] for r in rows if r[0] not in BOOKKEEPING]


def _insert(conn: psycopg.Connection, table: str, rows: list[dict], extra: dict | None = None) -> None:
    if not rows:
        return
    columns = list(rows[0]) + list(extra or {})
    placeholders = ", ".join(["%s"] * len(columns))
    with conn.cursor() as cur:
        cur.executemany(f"insert into {table} ({', '.join(columns)}) values ({placeholders})",
                        [tuple(r[c] if c in r else extra[c] for c in columns) for r in rows])


def load(conn: psycopg.Connection, ds: Dataset) -> None:
    """Insert into raw.* exactly as the loaders would (payload = the row as JSON; latest answer per survey)."""
    def payload(rows: list[dict]) -> list[dict]:
        return [{**r, "payload": json.dumps(r, default=str, ensure_ascii=False)} for r in rows]

    _insert(conn, "raw.onec_customers", payload(ds.customers))
    _insert(conn, "raw.onec_orders", payload(ds.orders))
    _insert(conn, "raw.onec_order_lines", ds.order_lines)
    _insert(conn, "raw.onec_sales", payload(ds.sales))
    _insert(conn, "raw.onec_sale_lines", ds.sale_lines)
    _insert(conn, "raw.onec_deliveries", payload(ds.deliveries))
    _insert(conn, "raw.crm_companies", payload(ds.companies))
    _insert(conn, "raw.crm_contacts", payload(ds.contacts))
    _insert(conn, "raw.survey_sends", ds.sends)
    _insert(conn, "raw.sendgrid_events", payload(ds.events))
    _insert(conn, "raw.sendgrid_suppressions", ds.suppressions)
    _insert(conn, "raw.survey_responses", list(latest_answers(ds).values()))
