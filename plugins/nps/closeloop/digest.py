"""The daily digest per manager: which cases go in (new, overdue, passives) and how it reads (HTML + text).

The e-mail carries customer PII by design (it goes to the manager who owns the relationship); the details are read
from the input relation at render time and never stored outside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nps import warehouse
from nps.closeloop import i18n
from nps.closeloop.business_days import BusinessCalendar
from nps.closeloop.cases import RunDay
from nps.closeloop.owners import Directory

TEMPLATES = Path(__file__).parent / "templates"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                          autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                          keep_trailing_newline=True)


@dataclass
class Digest:
    manager_email: str
    manager_name: str | None
    language: str
    day: date
    new: list[dict] = field(default_factory=list)          # case_state rows + details (detractors)
    passives: list[dict] = field(default_factory=list)
    overdue: list[dict] = field(default_factory=list)

    @property
    def new_ids(self) -> list[str]:
        return [c["survey_id"] for c in self.new + self.passives]

    @property
    def overdue_ids(self) -> list[str]:
        return [c["survey_id"] for c in self.overdue]

    def is_empty(self) -> bool:
        return not (self.new or self.passives or self.overdue)


def case_details(conn: psycopg.Connection, relation: str, survey_ids: list[str]) -> dict[str, dict]:
    if not survey_ids:
        return {}
    query = sql.SQL("""
        select survey_id::text as survey_id, purchase_id, customer_name, company_name, phone, email, location_name,
               region, order_number, delivered_at, promised_date, delay_days, is_in_full, score, reasons, comment,
               themes, responded_at, history_days, orders_before, revenue_before
          from {rel} where survey_id::text = any(%s)
    """).format(rel=warehouse.relation(relation))
    with conn.cursor(row_factory=dict_row) as cur:
        return {r["survey_id"]: r for r in cur.execute(query, (survey_ids,))}


def plan(conn: psycopg.Connection, run: RunDay, relation: str, directory: Directory) -> list[Digest]:
    """Today's digests: per owner, the cases not yet in any digest (unless already closed in the CRM) plus open
    detractor cases past their SLA."""
    with conn.cursor(row_factory=dict_row) as cur:
        fresh = cur.execute("""
            select * from ops.case_state
             where owner_email is not null and notified_at is null and digest_id is null and status <> 'closed'
             order by opened_at, survey_id
        """).fetchall()
        overdue = cur.execute("""
            select * from ops.case_state
             where kind = 'detractor' and owner_email is not null and notified_at is not null
               and status in ('open', 'in_progress') and sla_due_date < %s
             order by sla_due_date, opened_at, survey_id
        """, (run.day,)).fetchall()
    details = case_details(conn, relation, [c["survey_id"] for c in fresh + overdue])
    digests: dict[str, Digest] = {}

    def digest_for(email: str) -> Digest:
        key = email.strip().lower()
        if key not in digests:
            name, language = directory.profile(email)
            digests[key] = Digest(email.strip(), name, language, run.day)
        return digests[key]

    for case in fresh:
        detail = details.get(case["survey_id"])
        if detail is None:  # gone from the model since it was opened: open_cases withdraws it next run
            continue
        target = digest_for(case["owner_email"])
        (target.new if case["kind"] == "detractor" else target.passives).append({**case, **detail})
    for case in overdue:
        digest_for(case["owner_email"]).overdue.append({**case, **details.get(case["survey_id"], {})})
    return [d for d in digests.values() if not d.is_empty()]


def _reasons(value) -> list[str]:
    """text[] per the input contract; a comma-joined text column is tolerated."""
    if not value:
        return []
    if isinstance(value, str):
        value = value.strip("{}").split(",")
    return [str(v).strip().strip('"') for v in value if str(v).strip()]


def _themes(lang: str, value) -> str | None:
    """'delivery_time:-' items as "Терміни доставки (−), Менеджер (+)": the dictionary's labels, in its theme order."""
    from nps.comments import THEMES, load

    labels = load().labels
    pairs = [item.split(":", 1) for item in _reasons(value) if ":" in item]
    pairs = sorted((p for p in pairs if p[0] in THEMES), key=lambda p: THEMES.index(p[0]))
    marks = {"+": " (+)", "-": " (−)"}
    return ", ".join(labels[theme][lang] + marks.get(tone, "") for theme, tone in pairs) or None


def _delivery(lang: str, case: dict) -> str:
    t = i18n.strings(lang)
    parts = []
    delivered, promised = case.get("delivered_at"), case.get("promised_date")
    if delivered is not None:
        parts.append(t["delivered_on"].format(date=i18n.fmt_date(lang, delivered)))
    if promised is not None:
        parts.append(t["promised_on"].format(date=i18n.fmt_date(lang, promised)))
    if delivered is None:
        # is_in_full measures shipping: never "in full" unless it arrived; 1C has deliveries only for orders
        parts.append(t["not_delivered"] if case.get("order_number") or promised else t["no_delivery"])
        return ", ".join(parts)
    delay = case.get("delay_days")
    if delay is not None and delay > 0:
        parts.append(t["late_by"].format(days=i18n.count(lang, "day", int(delay))))
    elif delay is not None:
        parts.append(t["on_time"])
    if case.get("is_in_full") is True:
        parts.append(t["in_full"])
    elif case.get("is_in_full") is False:
        parts.append(t["not_in_full"])
    return ", ".join(parts)


def _order(lang: str, case: dict) -> str:
    """The 1C order number, else the sale's 1C key (purchase_id): the one reference in the row that 1C can find."""
    t = i18n.strings(lang)
    if case.get("order_number"):
        return case["order_number"]
    if case.get("purchase_id"):
        return t["no_order_sale"].format(sale=case["purchase_id"])
    return t["order_unknown"]


def _bought(lang: str, case: dict) -> str | None:
    """What the customer bought before the answer (orders, UAH), so the manager calls knowing the relationship."""
    if case.get("history_days") is None:
        return None
    t = i18n.strings(lang)
    orders = int(case.get("orders_before") or 0)
    if not orders:
        return t["bought_none"]
    return f"{i18n.count(lang, 'order', orders)}, {t['uah'].format(amount=i18n.fmt_amount(lang, case['revenue_before']))}"


def is_overdue(case: dict, today: date) -> bool:
    """A detractor case past its response due date: the one rule for the overdue section, the subject's count and
    the 'overdue by' line."""
    return case.get("kind") == "detractor" and case.get("sla_due_date") is not None and case["sla_due_date"] < today


def sections(digest: Digest) -> dict[str, list[dict]]:
    """The cases the body lists, per section in order; the subject counts these. A new case already past its due
    date is listed (and counted) as overdue."""
    late = [c for c in digest.new if is_overdue(c, digest.day)]
    return {"new": [c for c in digest.new if not is_overdue(c, digest.day)],
            "overdue": sorted(late + digest.overdue, key=lambda c: c["sla_due_date"]),
            "passives": digest.passives}


def view(lang: str, case: dict, today: date, calendar: BusinessCalendar, tz: ZoneInfo) -> dict:
    """One case as the templates show it: every value a display string (or None to omit the line)."""
    t = i18n.strings(lang)
    responded = case.get("responded_at") or case.get("opened_at")
    if isinstance(responded, datetime):
        responded = responded.astimezone(tz)
    overdue_by = None
    if is_overdue(case, today):
        days = max(calendar.business_days_between(case["sla_due_date"], today), 1)
        overdue_by = t["overdue_by"].format(days=i18n.count(lang, "bday", days))
    score = case.get("score")
    kiosk = case.get("location_name") is not None
    return {
        "survey_id": case["survey_id"],
        "customer": case.get("customer_name") or (t["kiosk_customer"] if kiosk else t["none"]),
        "company": case.get("company_name") or case.get("location_name"),
        "phone": case.get("phone"),
        "email": case.get("email"),
        "region": case.get("region"),
        "order": None if kiosk else _order(lang, case),  # a kiosk answer is about no purchase
        "delivery": None if kiosk else _delivery(lang, case),
        "bought_label": t["bought"].format(days=i18n.count(lang, "day", int(case["history_days"])))
        if case.get("history_days") is not None else None,
        "bought": _bought(lang, case),
        "score": f"{score}/10" if score is not None else t["none"],
        "score_value": score,
        "reasons": ", ".join(i18n.reason_label(lang, r) for r in _reasons(case.get("reasons"))) or None,
        "comment": (case.get("comment") or "").strip() or None,
        "themes": _themes(lang, case.get("themes")),
        "answered": i18n.fmt_date(lang, responded),
        "due": i18n.fmt_date(lang, case.get("sla_due_date")) if case.get("kind") == "detractor" else None,
        "overdue_by": overdue_by,
        "task": f"#{case['crm_task_id']}" if case.get("crm_task_id") else None,
        "status": t.get(f"status_{case.get('status')}"),
    }


def render(digest: Digest, calendar: BusinessCalendar, timezone: str) -> tuple[str, str, str]:
    """(subject, text, html) in the manager's language."""
    lang = digest.language
    t = i18n.strings(lang)
    tz = ZoneInfo(timezone)
    day = i18n.fmt_date(lang, digest.day)
    listed = sections(digest)
    context = {
        "t": t, "lang": lang,
        "greeting": t["greeting_name"].format(name=digest.manager_name) if digest.manager_name else t["greeting"],
        "intro": t["intro"].format(date=day),
        "sections": [{"title": t[f"section_{kind}"], "kind": kind,
                      "cases": [view(lang, c, digest.day, calendar, tz) for c in cases]}
                     for kind, cases in listed.items() if cases],
    }
    subject = t["subject"].format(new=len(listed["new"]), overdue=len(listed["overdue"]), date=day)
    text = _ENV.get_template("digest.txt").render(context)
    html = _ENV.get_template("digest.html").render(context)
    return subject, text, html


def task_fields(lang: str, case: dict, responsible_id: str, deadline: str, calendar: BusinessCalendar,
                today: date, timezone: str) -> dict:
    """tasks.task.add fields for one case, described in the owner's language (plain text)."""
    t = i18n.strings(lang)
    v = view(lang, case, today, calendar, ZoneInfo(timezone))
    description = _ENV.get_template("task.txt").render({"t": t, "c": v, "intro": t["task_intro"].format(
        score=case.get("score"))})
    return {"TITLE": t["task_title"].format(score=case.get("score"), customer=v["customer"]),
            "DESCRIPTION": description, "RESPONSIBLE_ID": int(responsible_id), "DEADLINE": deadline,
            "PRIORITY": 2}
