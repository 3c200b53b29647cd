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
    """The survey of a sale in Python; raw.onec_sales.survey_id in SQL (test_dbt_transform asserts they agree)."""
    from nps.tokens import sale_survey_id

    return sale_survey_id(sale_ref)


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


def content_columns(conn: psycopg.Connection, table: str) -> list[str]:
    """A dbt table's columns (`schema.table`) in order."""
    schema, name = table.split(".")
    rows = conn.execute("select column_name from information_schema.columns where table_schema = %s "
                        "and table_name = %s order by ordinal_position", (schema, name)).fetchall()
    return [r[0] for r in rows]


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


# ---- two nights: the history as of DAY, then DAY + 1 with the changes a transform is most likely to miss ----------
DAY = datetime(2026, 4, 20, 6, 0, tzinfo=UTC)   # after every generated answer
NEXT = DAY + timedelta(days=1)


def pick_changes(ds: Dataset) -> dict:
    """Orders and sales of the generated dataset that the new day changes."""
    sales_by_order: dict[str, list[dict]] = {}
    for sale in ds.sales:
        sales_by_order.setdefault(sale["order_ref"], []).append(sale)
    delivered = {d["order_ref"] for d in ds.deliveries if d["delivered_at"] is not None}
    live = {ref: s for ref, s in sales_by_order.items()
            if all(x["posted"] and not x["deletion_mark"] for x in s)}
    split = [ref for ref, s in live.items() if len(s) == 2]
    single = [ref for ref, s in live.items() if len(s) == 1]
    lines = {}
    for line in ds.order_lines:
        lines.setdefault(line["order_ref"], []).append(line)
    shipped = {}
    for line in ds.sale_lines:
        shipped[(line["sale_ref"], line["product_ref"])] = line["quantity"]
    short = [ref for ref in single if any(
        shipped.get((live[ref][0]["ref_key"], ol["product_ref"]), 0) < ol["quantity"] for ol in lines[ref])]
    undelivered = [ref for ref in single if ref not in {d["order_ref"] for d in ds.deliveries}]
    return {"cancel_split": split[0], "move_split": split[1], "short": short[0], "late_delivery": undelivered[0],
            "vanished_delivery": next(ref for ref in single if ref in delivered and ref not in short[:1]),
            "move_target": next(ref for ref in single if ref not in short[:1] and ref not in undelivered[:1]),
            "sales_by_order": sales_by_order, "order_lines": lines}


def load_history(conn: psycopg.Connection, ds: Dataset) -> dict:
    """The dataset as loaded by DAY, less a customer who reaches the 1C catalog only on the next day, plus two
    invites claimed by a sender run that was still going. Returns what load_next_day() changes."""
    picks = pick_changes(ds)
    late_customer = next(c for c in ds.customers if ds.customer_truth[c["ref_key"]]["region"] != "невідомо"
                         and any(s["customer_ref"] == c["ref_key"] for s in ds.sales))
    moved_customer = next(c for c in ds.customers if c is not late_customer
                          and ds.customer_truth[c["ref_key"]]["region"] != "Львівська область")
    load(conn, ds)
    conn.execute("delete from raw.onec_customers where ref_key = %s", (late_customer["ref_key"],))
    unsent = [s for s in ds.sales if survey_id(s["ref_key"]) not in {x["survey_id"] for x in ds.sends}
              and s["posted"] and not s["deletion_mark"]]
    claimed = unsent[:2]
    for sale in claimed:
        conn.execute("""insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language,
                            status, due_date, logical_date, claimed_at, dry_run)
                        values (%s, 'invite', %s, %s, 'x@example.com', 'uk', 'claimed', '2026-04-19',
                                '2026-04-20', %s, %s)""",
                     (survey_id(sale["ref_key"]), sale["ref_key"], sale["customer_ref"], DAY, sale is claimed[0]))
    return {**picks, "late_customer": late_customer, "moved_customer": moved_customer, "claimed": claimed,
            "to_invite": unsent[2]}


def load_next_day(conn: psycopg.Connection, ds: Dataset, picks: dict) -> None:
    """Day D+1 as the loaders would write it (every touched row stamped now())."""
    late_customer, moved_customer, claimed, to_invite = (
        picks["late_customer"], picks["moved_customer"], picks["claimed"], picks["to_invite"])
    sales_by_order, lines = picks["sales_by_order"], picks["order_lines"]
    # a brand-new order with its sale, shipped the new day
    order_ref, sale_ref, customer = "new-order-1", "new-sale-1", ds.sales[0]["customer_ref"]
    conn.execute("""insert into raw.onec_orders (ref_key, number, order_date, customer_ref, promised_date, posted,
                        payload) values (%s, 'ЗК-NEW', '2026-04-20 09:00', %s, '2026-04-23', true, '{}')""",
                 (order_ref, customer))
    conn.execute("insert into raw.onec_order_lines (order_ref, line_number, product_ref, quantity) "
                 "values (%s, 1, 'prod-1', 4)", (order_ref,))
    conn.execute("""insert into raw.onec_sales (ref_key, number, sale_date, order_ref, customer_ref, amount, currency,
                        posted, payload) values (%s, 'РН-NEW', '2026-04-20 14:00', %s, %s, 400, 'UAH', true, '{}')""",
                 (sale_ref, order_ref, customer))
    conn.execute("insert into raw.onec_sale_lines (sale_ref, line_number, product_ref, quantity, price, amount) "
                 "values (%s, 1, 'prod-1', 4, 100, 400)", (sale_ref,))
    # an old order's delivery arrives late; another old order's delivery record vanishes from 1C
    conn.execute("""insert into raw.onec_deliveries (order_ref, delivered_at, status, payload)
                    values (%s, '2026-04-20 12:00', 'Доставлено', '{}')""", (picks["late_delivery"],))
    conn.execute("delete from raw.onec_deliveries where order_ref = %s", (picks["vanished_delivery"],))
    # the second shipment of a split order is cancelled: the first one is no longer in full
    cancelled = sales_by_order[picks["cancel_split"]][1]["ref_key"]
    conn.execute("update raw.onec_sales set deletion_mark = true, _loaded_at = now() where ref_key = %s", (cancelled,))
    # the rest of a short order ships: its first sale becomes in full
    short = picks["short"]
    for k, ol in enumerate(lines[short], start=1):
        conn.execute("""insert into raw.onec_sale_lines (sale_ref, line_number, product_ref, quantity, price, amount)
                        values ('follow-up-1', %s, %s, %s, 100, 100)""", (k, ol["product_ref"], ol["quantity"]))
    conn.execute("""insert into raw.onec_sales (ref_key, number, sale_date, order_ref, customer_ref, amount, currency,
                        posted, payload)
                    values ('follow-up-1', 'РН-FUP', '2026-04-20 15:00', %s, %s, 100, 'UAH', true, '{}')""",
                 (short, sales_by_order[short][0]["customer_ref"]))
    # a sale booked against the wrong order is moved to another one (1C re-posts the document)
    moved = sales_by_order[picks["move_split"]][1]["ref_key"]
    conn.execute("update raw.onec_sales set order_ref = %s, _loaded_at = now() where ref_key = %s",
                 (picks["move_target"], moved))
    conn.execute("update raw.onec_sale_lines set _loaded_at = now() where sale_ref = %s", (moved,))
    # customers: one reaches the catalog only now, one moves to another region
    c = late_customer
    conn.execute("""insert into raw.onec_customers (ref_key, code, name, legal_kind, email, phone, region_raw,
                        deletion_mark, payload) values (%s, %s, %s, %s, %s, %s, %s, false, '{}')""",
                 (c["ref_key"], c["code"], c["name"], c["legal_kind"], c["email"], c["phone"], c["region_raw"]))
    conn.execute("update raw.onec_customers set region_raw = 'Lviv oblast', _loaded_at = now() where ref_key = %s",
                 (moved_customer["ref_key"],))
    # CRM: the contact found by customer 2's phone loses it and takes customer 3's e-mail (customer 2 loses its
    # match, customer 3, unmatched so far, gains one); the company matched by customer 0's 1C code changes segment
    conn.execute("update raw.crm_contacts set phone = null, email = %s, _loaded_at = now() where id = '5002'",
                 (ds.customers[3]["email"],))
    conn.execute("update raw.crm_companies set segment = 'b2g', _loaded_at = now() where id = '1000'")
    # surveys: an invite goes out (and is opened, and clicked); a dry-run claim is dropped; a claim turns 'unknown'
    sid = survey_id(to_invite["ref_key"])
    conn.execute("""insert into raw.survey_sends (survey_id, kind, purchase_id, customer_ref, email, language, status,
                        message_id, due_date, logical_date, claimed_at, sent_at)
                    values (%s, 'invite', %s, %s, 'y@example.com', 'uk', 'sent', 'msg-new', '2026-04-21',
                            '2026-04-21', %s, %s)""", (sid, to_invite["ref_key"], to_invite["customer_ref"], NEXT, NEXT))
    conn.execute("""insert into raw.sendgrid_events (sg_event_id, event, email, survey_id, kind, occurred_at, payload)
                    values ('new-open-1', 'open', 'y@example.com', %s, 'invite', %s, '{}')""",
                 (sid, NEXT + timedelta(hours=1)))
    conn.execute("insert into raw.survey_clicks (landing_id, survey_id, score, clicked_at) values (990001, %s, 9, %s)",
                 (sid, NEXT + timedelta(hours=2)))
    dropped, unknown = (survey_id(s["ref_key"]) for s in claimed)
    conn.execute("delete from raw.survey_sends where survey_id = %s", (dropped,))
    conn.execute("update raw.survey_sends set status = 'unknown' where survey_id = %s", (unknown,))
    # answers: one given long ago that arrives only now; one changed by a loader that keeps _loaded_at
    sent = [s for s in ds.sends if s["kind"] == "invite" and s["status"] == "sent"]
    answered = {r["survey_id"] for r in ds.responses}
    late = next(s for s in sent if s["survey_id"] not in answered)
    conn.execute("""insert into raw.survey_responses (survey_id, score, comment, language, responded_at)
                    values (%s, 1, 'пізно', 'uk', %s)""", (late["survey_id"], late["sent_at"] + timedelta(days=2)))
    conn.execute("""update raw.survey_responses set score = 10 - score,
                        responded_at = (select max(responded_at) from raw.survey_responses) + interval '1 hour'
                    where survey_id = (select min(survey_id) from raw.survey_responses where comment <> 'пізно')""")
    # a SendGrid event for an old invite, retried by SendGrid and loaded only now
    old = sent[0]
    conn.execute("""insert into raw.sendgrid_events (sg_event_id, event, email, survey_id, kind, occurred_at, payload)
                    values ('late-click-1', 'click', %s, %s, 'invite', %s, '{}')""",
                 (old["email"], old["survey_id"], old["sent_at"] + timedelta(hours=5)))
