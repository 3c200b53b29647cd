"""`make demo`: the whole loop over about eight simulated weeks, through real Airflow DAG runs.

One long-lived process (the first `dag.test()` pays ~5 s of Airflow start-up, later ones ~0.3 s): it resets the demo
warehouse, generates a distributor's data, starts the fake 1C / Bitrix24 / SendGrid and the real collector on
loopback, then replays each day in schedule order with a simulated clock (contract §6a):

  01:00 nps_extract → 10:00 nps_send_surveys (a batch over the approval ceiling waits for a person: the demo's
  operator approves it in Required actions and says so) → customers open, click and answer through the collector's
  HTTP routes, the fake SendGrid posts signed events → 23:00 nps_load_responses → (every few days and on the last day)
  nps_transform → nps_close_loop.

The other channels of issue 23 go through the same collector: shops registered with the product's kiosk code
(`open_kiosks`), where the day's walk-ins (`nps_dev.generator.walk_ins`) begin sessions and most answer; and the QR code
on the invoice, whose link comes from the collector's `GET /qr/{Ref_Key}` as 1C's print form gets it, scanned by a
share of customers (most of those without a working e-mail address) after the goods arrive (`Customers.scan_invoices`).
One purchase, one answer: a sale answered by QR is not answered by e-mail, and the other way round; and a customer
answers once a quarter whatever the channel (`Customers.answered_lately`), as the e-mail throttle has it.

Answering customers buy again as the generator's repurchase model says (promoters more often than detractors, a
detractor called back within the SLA more often than one left alone: `Repurchases`), over repurchase windows of 14
and 28 days instead of 90 and 180 so that they close within the replay; the summary prints what the marts found.

Transform and close-loop run every `--transform-every` days instead of daily (each costs seconds of dbt); the
catch-up rule (a survey is sent up to 7 days after its due day) keeps the result the same.
"""

from __future__ import annotations

import argparse
import html as html_lib
import json
import logging
import os
import random
import re
import secrets
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx
import psycopg
from psycopg.rows import dict_row

from nps import clock, warehouse
from nps.config import settings, state_dir

if TYPE_CHECKING:
    from nps_dev.generator.walk_ins import Shop, Visit

log = logging.getLogger("nps_dev.demo")
KYIV = ZoneInfo("Europe/Kyiv")
DAG_ORDER = ("nps_extract", "nps_send_surveys", "nps_load_responses", "nps_transform", "nps_close_loop")
# transform's replay path: one `dbt build` task instead of a Cosmos task per model (contract §6a)
REPLAY = {"nps_transform": {"replay": True}}
# the production windows (90 / 180 days) would not close within eight simulated weeks
REPURCHASE_DAYS = {"NPS_REPURCHASE_SHORT_DAYS": "14", "NPS_REPURCHASE_LONG_DAYS": "28"}
SALES, ORDERS, DELIVERIES = ("Document_РеализацияТоваровУслуг", "Document_ЗаказКлиента",
                             "InformationRegister_ДоставкаЗаказов")
# of the invoices that reach their customers, the share whose customer scans the QR code: (has a working e-mail
# address, has none); those with one mostly wait for the e-mail
QR_SCAN_SHARE = {False: 0.04, True: 0.35}
DEMO_SCHEMAS = ("landing", "raw", "staging", "intermediate", "marts", "marts_build", "ops", "quality", "snapshots")


@dataclass
class PendingAnswer:
    """A customer on a survey page: the e-mail's score button (GET /s/{token}/{score}?lang=xx) or the invoice's QR
    code (GET /q/{token}/{score}?lang=xx), then the page's form posted; `score` None: a QR page looked at and left."""
    at: datetime
    url: str
    score: int | None
    comment: str | None
    reasons: list[str]
    language: str
    channel: str = "email"

    def send(self, http: httpx.Client, clock_file: Path) -> bool:
        clock.set_simulated_now(clock_file, self.at)
        page = http.get(self.url)  # shows the page, records nothing
        page.raise_for_status()
        if self.score is None:
            return False
        form = {"score": str(self.score), "lang": self.language, "reasons": self.reasons}
        if self.comment:
            form["comment"] = self.comment
        posted = http.post(self.url.split("?")[0].rsplit("/", 1)[0], data=form)
        if posted.status_code not in (200, 303):
            raise RuntimeError(f"the collector refused an answer: HTTP {posted.status_code}")
        return True


@dataclass
class KioskVisit:
    """A walk-in at a shop's kiosk (`nps_dev.generator.walk_ins`): a session begins, most answer a minute later."""
    url: str            # the shop's kiosk: <collector>/k/<token>
    visit: Visit
    channel = "kiosk"

    @property
    def at(self) -> datetime:
        return self.visit.at

    def send(self, http: httpx.Client, clock_file: Path) -> bool:
        clock.set_simulated_now(clock_file, self.at)
        self._post(http, "sessions", {"id": self.visit.session_id})
        answer = self.visit.answer
        if answer is None:
            return False  # walked away: the funnel's first step only
        clock.set_simulated_now(clock_file, self.at + timedelta(hours=answer.delay_hours))
        body = {"id": self.visit.session_id, "score": answer.score, "reasons": answer.reasons,
                "comment": answer.comment or "", "lang": answer.language, "signal": "touch"}
        if self.visit.contact:  # a call back asked for: only with the consent ticked, as the kiosk page sends it
            body |= {"contact": self.visit.contact, "consent": True}
        self._post(http, "answers", body)
        return True

    def _post(self, http: httpx.Client, kind: str, body: dict) -> None:
        posted = http.post(f"{self.url}/{kind}", json=body)
        if posted.status_code != 200:
            raise RuntimeError(f"the collector refused a kiosk's {kind[:-1]}: HTTP {posted.status_code}")


@dataclass
class Timings:
    per_dag: dict[str, list[float]] = field(default_factory=dict)

    def add(self, dag_id: str, seconds: float) -> None:
        self.per_dag.setdefault(dag_id, []).append(seconds)


# the generator's reason codes -> the collector's reason choices
REASON_MAP = {"delivery_time": "delivery_speed", "completeness": "delivery_accuracy", "product_quality":
              "product_quality", "price": "price", "manager": "service", "communication": "service"}


_terminal = None  # the user's terminal while everything else (Airflow, dbt, the collector) writes to the demo log


def _say(message: str) -> None:
    print(message, file=_terminal or sys.stdout, flush=True)


@contextmanager
def logs_to_file(path: Path) -> Iterator[None]:
    """Send file descriptors 1 and 2 (Airflow's task logs, dbt's lines, child processes) to `path` and keep only
    the demo's own lines (`_say`) on the terminal. When the demo fails, the end of the log is shown."""
    global _terminal
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    _terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    try:
        with path.open("w") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            streams = sys.stdout, sys.stderr
            sys.stdout = open(1, "w", buffering=1, closefd=False)
            sys.stderr = open(2, "w", buffering=1, closefd=False)
            try:
                yield
            finally:
                sys.stdout.close()
                sys.stderr.close()
                sys.stdout, sys.stderr = streams
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    except BaseException:
        tail = path.read_text(errors="replace").splitlines()[-40:]
        print(f"\n-- the demo stopped; the last lines of {path}:\n" + "\n".join(tail), file=sys.stderr, flush=True)
        raise
    finally:
        os.close(saved[0])
        os.close(saved[1])
        _terminal.close()
        _terminal = None


def reset_warehouse(url: str) -> None:
    """The demo owns the warehouse it runs on: drop its schemas and bootstrap them again."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set client_min_messages = warning")
        for schema in DEMO_SCHEMAS:
            conn.execute(f"drop schema if exists {schema} cascade")
    warehouse.bootstrap(url)


def start_collector(port: int) -> None:
    import uvicorn

    from nps.collector.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    threading.Thread(target=server.run, name="collector", daemon=True).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the collector did not come up on port {port}")


def run_dag(dag, logical_date: datetime, timings: Timings, conf: dict | None = None) -> None:
    started = time.monotonic()
    dagrun = dag.test(logical_date=logical_date, run_conf=conf)
    seconds = time.monotonic() - started
    timings.add(dag.dag_id, seconds)
    state = str(getattr(dagrun, "state", "")).split(".")[-1].lower()
    if state != "success":
        raise RuntimeError(f"{dag.dag_id} for {logical_date:%Y-%m-%d} ended {state}: see the task log above")


class Repurchases:
    """Answering customers buy again as the repurchase model says (nps_dev.generator.repurchase), so the repurchase
    marts have a known effect to find. The generator's later orders of such a customer do not depend on the answer and
    would water the effect down: they are taken out of the fake 1C (they lie in the simulated future, never extracted)
    and the model's purchase goes in, which nightly extraction reads once its day has come."""

    def __init__(self, onec, model, window_days: int, seed: int) -> None:
        from nps_dev.generator.core import EMPTY_GUID

        self.onec, self.model, self.window_days = onec, model, window_days
        self.rng = random.Random(seed)
        self.answers: dict[str, tuple] = {}  # survey id -> (category, answered at, surveyed sale, uniform draw)
        self.planted = self.removed = 0
        # customer -> (1C date, the documents of one order or counter sale) of what the generator made
        self.generated: dict[str, list[tuple[str, list[tuple[str, object]]]]] = {}
        order_sales: dict[str, list[str]] = {}
        for sale in onec.all(SALES):
            if sale["Заказ_Key"] == EMPTY_GUID:
                self.generated.setdefault(sale["Контрагент_Key"], []).append((sale["Date"], [(SALES, sale["Ref_Key"])]))
            else:
                order_sales.setdefault(sale["Заказ_Key"], []).append(sale["Ref_Key"])
        for order in onec.all(ORDERS):
            ref = order["Ref_Key"]
            docs = [(ORDERS, ref), *((SALES, s) for s in order_sales.get(ref, ())), (DELIVERIES, {"Заказ_Key": ref})]
            self.generated.setdefault(order["Контрагент_Key"], []).append((order["Date"], docs))

    def answered(self, survey_id: str, purchase_id: str, category: str, at: datetime) -> None:
        """A customer answers at `at` (Europe/Kyiv): their later generated orders go, the model's purchase comes."""
        sale = self.onec.get(SALES, purchase_id)
        if sale is None or survey_id in self.answers:
            return
        cutoff = at.astimezone(KYIV).replace(tzinfo=None).isoformat(timespec="seconds")
        for day, docs in self.generated.pop(sale["Контрагент_Key"], []):
            if day > cutoff:
                for name, key in docs:
                    self.onec.delete(name, key)
                self.removed += 1
        u = self.rng.random()
        self.answers[survey_id] = (category, at, sale, u)
        self._plant(sale, self.model.purchase_at(at, self.window_days, self.model.buys_again(category, u), self.rng))

    def closed_in_sla(self, survey_id: str, now: datetime) -> None:
        """A manager closed the detractor's case in time: the uplift turns those who were not going to buy (same
        draw), with a purchase after the call."""
        if survey_id not in self.answers:
            return
        category, at, sale, u = self.answers.pop(survey_id)
        if self.model.buys_again(category, u, closed_in_sla=True) and not self.model.buys_again(category, u):
            self._plant(sale, self.model.purchase_at(at, self.window_days, True, self.rng, after=now))

    def _plant(self, sale: dict, at: datetime | None) -> None:
        from nps_dev.generator.repurchase import repeat_sale

        if at is not None:
            self.onec.upsert(SALES, repeat_sale(sale, at.astimezone(KYIV), self.rng))
            self.planted += 1


class Customers:
    """The simulated customers: they receive the day's e-mails, SendGrid reports what happened, some answer."""

    def __init__(self, stack, model, truth: dict, url: str, collector: str, seed: int,
                 repurchases: Repurchases) -> None:
        from nps_dev.generator.responses import ResponseModel

        self.stack, self.model, self.truth, self.url = stack, model, truth, url
        self.repurchases = repurchases
        self.collector = collector
        self.rng = random.Random(seed)
        # who scans an invoice and how they answer: draws of their own, so the e-mail answers keep theirs
        self.scan_rng = random.Random(f"qr/{seed}")
        self.scan_model = ResponseModel(seed=seed, base_response_rate=0.8)  # a scan is a decision to answer
        self.seen = 0
        self.answered: set[str] = set()
        self.last_answer: dict[str, datetime] = {}  # customer ref -> their latest answer, whatever the channel
        self.throttle = timedelta(days=settings().throttle_days)
        self.pending: list[PendingAnswer] = []
        self.sent_total = 0
        self.other_messages = 0

    def _purchases(self, survey_ids: list[str]) -> dict[str, tuple[str, str, str]]:
        """survey id -> (order ref, customer ref, purchase id), from what the pipeline recorded."""
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "select s.survey_id, p.order_ref, s.customer_ref, s.purchase_id from raw.survey_sends s "
                "left join raw.onec_sales p on p.ref_key = s.purchase_id where s.survey_id = any(%s)",
                (survey_ids,)).fetchall()
        return {sid: (order_ref, customer, purchase) for sid, order_ref, customer, purchase in rows}

    def receive(self, now: datetime) -> int:
        from nps import tokens

        messages = self.stack.sendgrid.messages()
        new, self.seen = messages[self.seen:], len(messages)
        # the same SendGrid also carries the managers' digests and data-quality alerts: customers get only surveys
        surveys = [m for m in new if all("survey_id" in (p.get("custom_args") or {})
                                         for p in m["body"]["personalizations"])]
        self.other_messages += len(new) - len(surveys)
        new = surveys
        if not new:
            return 0
        ids = [p["custom_args"]["survey_id"] for m in new for p in m["body"]["personalizations"]]
        purchases = self._purchases(ids)
        group = None
        events: list[dict] = []
        ts = int(now.timestamp())
        for message in new:
            group = (message["body"].get("asm") or {}).get("group_id")
            for event in self.stack.sendgrid.delivery_events(message, timestamp=ts):
                email = event["email"]
                if event["event"] != "delivered":
                    events.append(event)
                    continue
                fate = self.model.email_fate(email)
                if fate == "bounce":
                    events += self.stack.sendgrid.make_events(message, "bounce", timestamp=ts, recipients={email})
                    self.stack.sendgrid.bounce(email)
                    continue
                events.append(event)
                survey_id = event.get("survey_id")
                if fate == "unsubscribe":
                    events += self.stack.sendgrid.make_events(message, "open", timestamp=ts + 3600,
                                                              recipients={email})
                    events += self.stack.sendgrid.make_events(message, "group_unsubscribe", timestamp=ts + 3700,
                                                              recipients={email})
                    self.stack.sendgrid.unsubscribe(email, group)
                    continue
                answer = None
                if survey_id not in self.answered and survey_id in purchases \
                        and not self.answered_lately(purchases[survey_id][1], now):
                    order_ref, customer_ref, _ = purchases[survey_id]
                    facts = {**self.truth["orders"].get(order_ref, {}), **self.truth["customers"].get(customer_ref, {})}
                    if facts:
                        answer = self.model.decide(facts, self.rng)
                seen = self.model.engagement(answer, self.rng)
                if seen["open"]:
                    events += self.stack.sendgrid.make_events(message, "open", timestamp=ts + 1800,
                                                              recipients={email})
                if seen["click"]:
                    events += self.stack.sendgrid.make_events(message, "click", timestamp=ts + 1900,
                                                              recipients={email})
                if answer is not None:
                    self.answered.add(survey_id)
                    token = tokens.mint(survey_id, issued_at=now)
                    answered_at = now + timedelta(hours=answer.delay_hours)
                    self.last_answer[purchases[survey_id][1]] = answered_at
                    self.repurchases.answered(survey_id, purchases[survey_id][2], answer.category, answered_at)
                    self.pending.append(PendingAnswer(
                        at=answered_at,
                        url=f"{self.collector}/s/{token}/{answer.score}?lang={answer.language}",
                        score=answer.score, comment=answer.comment, language=answer.language,
                        reasons=sorted({REASON_MAP.get(r, "other") for r in answer.reasons})))
        self.sent_total += len(ids)
        if events:
            status = self.stack.sendgrid.emit_events(f"{self.collector}/webhooks/sendgrid", events, timestamp=ts)
            if status >= 300:
                raise RuntimeError(f"the collector refused SendGrid's signed events: HTTP {status}")
        return len(ids)

    def answered_lately(self, customer_ref: str, at: datetime) -> bool:
        """Whether the customer answered, by any channel, within the send throttle (90 days) of `at`: one answer a
        quarter, as the e-mail throttle has it, so that no answer's repurchase window holds another answer's purchase
        (the repurchase marts would see the model's effect watered down)."""
        last = self.last_answer.get(customer_ref)
        return last is not None and abs(at - last) < self.throttle

    def answer_until(self, end: datetime, clock_file: Path, walk_ins: Iterable[KioskVisit] = ()) -> Counter[str]:
        """Customers click their score button or scan their invoice and submit the page, and the day's walk-ins use
        the shops' kiosks, in time order at their own simulated time: answers per channel."""
        due = sorted([*(a for a in self.pending if a.at <= end), *walk_ins], key=lambda a: a.at)
        self.pending = [a for a in self.pending if a.at > end]
        answers: Counter[str] = Counter()
        with httpx.Client(timeout=10) as http:
            for item in due:
                if item.send(http, clock_file):
                    answers[item.channel] += 1
        return answers

    def scan_invoices(self, day: date) -> None:
        """The invoices that reach their customers on `day` (`invoice_arrivals`): some customers scan the QR code
        printed on them, most of those without a working e-mail address and a few of the others, hours to days later,
        and most who scan answer there. The link is the one 1C's print form gets from the collector (GET
        /qr/{Ref_Key}, HTTP Basic with NPS_QR_API_KEY). A sale answered one way is never answered the other way."""
        arrivals = invoice_arrivals(self.stack.onec.all(SALES), self.stack.onec.all(DELIVERIES), day)
        with httpx.Client(timeout=10, auth=("1c", os.environ["NPS_QR_API_KEY"])) as http:
            for sale, arrived in arrivals:
                customer = self.truth["customers"].get(sale["Контрагент_Key"])
                if customer is None or self.answered_lately(sale["Контрагент_Key"], arrived):
                    continue
                no_email = self.model.email_fate(customer["email"]) == "bounce"
                if self.scan_rng.random() >= QR_SCAN_SHARE[no_email]:
                    continue
                link = http.get(f"{self.collector}/qr/{sale['Ref_Key']}")
                link.raise_for_status()
                survey_id, url = link.json()["survey_id"], link.json()["url"]  # {"sale_ref", "survey_id", "url"}
                if survey_id in self.answered:
                    continue
                facts = {**self.truth["orders"].get(sale["Заказ_Key"], {"delivered": True}), **customer}
                answer = self.scan_model.decide(facts, self.scan_rng)
                at = arrived + timedelta(hours=self.scan_rng.uniform(2, 24 * 5))
                if answer is None:  # scanned, looked, put the phone away
                    self.pending.append(PendingAnswer(at, f"{url}?lang={customer['language']}", None, None, [],
                                                      customer["language"], "qr"))
                    continue
                self.answered.add(survey_id)
                self.last_answer[sale["Контрагент_Key"]] = at
                self.repurchases.answered(survey_id, sale["Ref_Key"], answer.category, at)
                self.pending.append(PendingAnswer(
                    at, f"{url}/{answer.score}?lang={answer.language}", answer.score, answer.comment,
                    sorted({REASON_MAP.get(r, "other") for r in answer.reasons}), answer.language, "qr"))


def by_channel(answers: Counter[str]) -> str:
    """"e-mail 12, QR 1, kiosk 7": a day's or the demo's answers by the channel they came through."""
    return ", ".join(f"{label} {answers[channel]}" for channel, label in (("email", "e-mail"), ("qr", "QR"),
                                                                          ("kiosk", "kiosk")))


def invoice_arrivals(sales: list[dict], deliveries: list[dict], day: date) -> list[tuple[dict, datetime]]:
    """The posted sales whose invoice reaches the customer on `day`, with when (Europe/Kyiv): with the goods when
    the order's delivery is recorded, at once for a sale over the counter (no order), two days after a follow-up
    shipment dated after the order's delivery; never for an order still on its way or lost."""
    from nps_dev.generator.core import EMPTY_DATE, EMPTY_GUID

    delivered = {row["Заказ_Key"]: row["ДатаДоставки"] for row in deliveries if row["ДатаДоставки"] != EMPTY_DATE}
    out = []
    for sale in sales:
        if not sale["Posted"] or sale["DeletionMark"]:
            continue
        sold = datetime.fromisoformat(sale["Date"])
        if sale["Заказ_Key"] == EMPTY_GUID:
            arrived = sold
        elif sale["Заказ_Key"] in delivered:
            arrived = datetime.fromisoformat(delivered[sale["Заказ_Key"]])
            if arrived < sold:  # a follow-up shipment after the order's delivery: a trip of its own
                arrived = sold + timedelta(days=2)
        else:
            continue
        if arrived.date() == day:
            out.append((sale, arrived.replace(tzinfo=KYIV)))
    return out


def open_kiosks(url: str, collector: str, shops: tuple[Shop, ...]) -> dict[str, str]:
    """Each shop's kiosk registered as `nps kiosk add` does it, and its page opened as the shop's tablet would:
    location id -> the kiosk's URL (its token exists in clear only here)."""
    from nps.collector import kiosk

    with psycopg.connect(url, autocommit=True) as conn:
        urls = {shop.location_id: f"{collector}/k/{kiosk.add(conn, shop.location_id, shop.name, shop.region)}"
                for shop in shops}
    for link in urls.values():
        httpx.get(link, timeout=10).raise_for_status()
    return urls


def managers_close_tasks(stack, url: str, now: datetime, rng: random.Random, repurchases: Repurchases) -> int:
    """The regional managers: after calling the customer they complete the case's Bitrix24 task (status 5), which
    nps_close_loop reads back into the case's status and closed_at. A detractor called back by the case's SLA day
    may buy again for it (`Repurchases.closed_in_sla`)."""
    with psycopg.connect(url) as conn:
        open_tasks = conn.execute(
            "select crm_task_id, opened_at, survey_id, kind, sla_due_date from ops.case_state "
            "where crm_task_id is not null and status <> 'closed'").fetchall()
    closed = 0
    for task_id, opened_at, survey_id, kind, sla_due_date in open_tasks:
        task = stack.crm.tasks.get(str(task_id))
        # unknown to the fake (created against another CRM), or completed since the last read-back: closing it again
        # would move its closedDate
        if task is None or task["status"] == "5":
            continue
        if (now - opened_at) >= timedelta(days=1) and rng.random() < 0.3:
            stack.crm.set_task_status(task_id, 5)
            closed += 1
            if kind == "detractor" and now.astimezone(KYIV).date() <= sla_due_date:
                repurchases.closed_in_sla(survey_id, now)
    return closed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nps demo", description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--customers", type=int, default=2500)
    parser.add_argument("--transform-every", type=int, default=7, help="days between transform/close-loop runs")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 3, 2), help="first simulated day")
    parser.add_argument("--verbose", action="store_true", help="show Airflow's and dbt's own log lines here too")
    args = parser.parse_args(argv)
    if args.verbose:
        return run(args)
    log_path = state_dir() / "demo" / "demo.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    _say(f"-- Airflow's task logs and dbt's lines go to {log_path} (`tail -f` it; --verbose shows them here)")
    with logs_to_file(log_path):
        return run(args)


def run(args: argparse.Namespace) -> int:
    from nps_dev.fakes import start_fakes
    from nps_dev.generator import GeneratorConfig, generate
    from nps_dev.generator.repurchase import RepurchaseModel
    from nps_dev.generator.responses import ResponseModel
    from nps_dev.generator.walk_ins import SHOPS, walk_ins
    from nps_dev.operator import Operator

    t0 = time.monotonic()
    url = os.environ["NPS_WAREHOUSE_URL"]
    demo_dir = state_dir() / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    days = args.weeks * 7
    history = 30  # purchases before the first day, so surveys are due from day one
    first_day, last_day = args.start, args.start + timedelta(days=days - 1)

    _say(f"== NPS demo: {args.weeks} simulated weeks, {first_day} .. {last_day} (seed {args.seed})")
    _say(f"-- resetting the demo warehouse: schemas {', '.join(DEMO_SCHEMAS)} are dropped and re-created")
    reset_warehouse(url)

    data_dir = demo_dir / "fake-data"
    summary = generate(data_dir, GeneratorConfig(seed=args.seed, customers=args.customers,
                                                 start=first_day - timedelta(days=history), days=history + days))
    _say("-- generated a distributor: " + ", ".join(
        f"{summary[k]} {k.replace('_', ' ')}" for k in ("customers", "orders", "sales", "purchase_lines",
                                                        "deliveries", "never_delivered", "crm_contacts",
                                                        "managers")))
    truth = json.loads((data_dir / "meta" / "truth.json").read_text())

    clock_file = demo_dir / "clock"
    clock.set_simulated_now(clock_file, datetime.combine(first_day, datetime.min.time(), KYIV))
    collector_port = int(os.environ.get("NPS_COLLECTOR_PORT", "18080"))
    collector = f"http://127.0.0.1:{collector_port}"
    stack = start_fakes(data_dir, onec_port=int(os.environ.get("NPS_FAKE_ONEC_PORT", 0)),
                        crm_port=int(os.environ.get("NPS_FAKE_CRM_PORT", 0)),
                        sendgrid_port=int(os.environ.get("NPS_FAKE_SENDGRID_PORT", 0)),
                        crm_rate=5, crm_burst=250)  # an Enterprise Bitrix24 portal
    os.environ.update(stack.airflow_env())
    os.environ.update({"NPS_SIMULATION": "1", "NPS_CLOCK_FILE": str(clock_file), "NPS_COLLECTOR_BASE_URL": collector,
                       "NPS_SENDGRID_WEBHOOK_PUBLIC_KEY": stack.sendgrid.public_key,
                       "NPS_COLLECTOR_RATE_LIMIT": "0",  # every simulated customer comes from 127.0.0.1
                       "NPS_KIOSK_RATE_LIMIT": "0",  # a day's walk-ins reach a kiosk within a second of real time
                       # what 1C's print form sends to GET /qr/{Ref_Key} for an invoice's QR code
                       "NPS_QR_API_KEY": os.environ.get("NPS_QR_API_KEY") or secrets.token_urlsafe(24),
                       # a small distributor's ceiling: the first day's batch (a week of catch-up) waits for approval
                       "NPS_SEND_APPROVAL_CEILING": os.environ.get("NPS_SEND_APPROVAL_CEILING", "100"),
                       "NPS_RETRY_DELAY_SECONDS": os.environ.get("NPS_RETRY_DELAY_SECONDS", "5"),
                       **REPURCHASE_DAYS})
    start_collector(collector_port)
    _say(f"-- fakes: 1C {stack.onec_url} | Bitrix24 {stack.crm_url} | SendGrid {stack.sendgrid_url}; "
         f"collector {collector}")

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dags = {dag_id: bag.get_dag(dag_id) for dag_id in DAG_ORDER if bag.get_dag(dag_id) is not None}
    _say(f"-- replaying day by day with DAGs: {', '.join(dags)}")
    kiosks = open_kiosks(url, collector, SHOPS)
    _say("-- shops with an NPS kiosk (nps kiosk add): " + "; ".join(f"{shop.name}, {shop.region}" for shop in SHOPS)
         + "; walk-ins answer there, and customers scan the QR code on their invoices (GET /qr/{Ref_Key}), "
         "most of those without an e-mail address")
    walk_rng, walk_model = random.Random(f"walk-ins/{args.seed}"), ResponseModel(seed=args.seed)

    repurchase_model = RepurchaseModel()
    window = settings().repurchase_short_days
    repurchases = Repurchases(stack.onec, repurchase_model, window, args.seed)
    _say(f"-- repurchase windows {window} and {settings().repurchase_long_days} days (NPS_REPURCHASE_SHORT_DAYS / "
         f"_LONG_DAYS) so that they close within the demo; answering customers buy again within "
         f"{window} days with probability: promoters {repurchase_model.promoter:.0%}, passives "
         f"{repurchase_model.passive:.0%}, detractors {repurchase_model.detractor:.0%}, "
         f"+{repurchase_model.closed_in_sla_uplift:.0%} when their case is closed within its SLA")
    customers = Customers(stack, ResponseModel(seed=args.seed), truth, url, collector, args.seed, repurchases)
    timings = Timings()
    answered: Counter[str] = Counter()
    operator = Operator(lambda request: "Approve", user="demo-operator", on_answer=lambda request, option: _say(
        f"   operator: {option} in Airflow's Required actions for {request.dag_id}: {request.body.splitlines()[0]}"))
    operator.start()  # answers a large batch's approval request as a person at the Airflow UI would
    try:
        for offset in range(days):
            day = first_day + timedelta(days=offset)

            def at(hour: int, day: date = day) -> datetime:
                return datetime(day.year, day.month, day.day, hour, tzinfo=KYIV)

            clock.set_simulated_now(clock_file, at(1))
            stack.onec.set_as_of(at(1).replace(tzinfo=None))
            if "nps_extract" in dags:
                run_dag(dags["nps_extract"], at(1), timings)
            customers.scan_invoices(day)
            # In production the loads' Assets trigger nps_transform right after extraction, and the marts' Asset
            # triggers nps_close_loop; the replay runs them on the first day, every few days and on the last day.
            if offset % args.transform_every == 0 and day != last_day:
                clock.set_simulated_now(clock_file, at(2))
                for dag_id in ("nps_transform", "nps_close_loop"):
                    if dag_id in dags:
                        run_dag(dags[dag_id], at(2), timings, REPLAY.get(dag_id))
            clock.set_simulated_now(clock_file, at(10))
            if "nps_send_surveys" in dags:
                run_dag(dags["nps_send_surveys"], at(10), timings)
            sent = customers.receive(at(10))
            visits = [KioskVisit(kiosks[v.shop.location_id], v) for v in walk_ins(SHOPS, day, walk_rng, walk_model)]
            today = customers.answer_until(at(23), clock_file, visits)
            answered += today
            clock.set_simulated_now(clock_file, at(23))
            closed = managers_close_tasks(stack, url, at(23), customers.rng, repurchases)
            if "nps_load_responses" in dags:
                run_dag(dags["nps_load_responses"], at(23), timings)
            _say(f"   day {offset + 1:>2}/{days} {day:%a %Y-%m-%d}: surveys sent {sent:>4}, answers {today.total():>3} "
                 f"({by_channel(today)}), cases closed by managers {closed:>2} (total {customers.sent_total} sent, "
                 f"{answered.total()} answered)  [{time.monotonic() - t0:4.0f}s]")
        # the last day: transform and close the loop after the day's answers are loaded, so the summary has them
        final = datetime.combine(last_day, datetime.min.time(), KYIV).replace(hour=23, minute=30)
        clock.set_simulated_now(clock_file, final)
        for dag_id in ("nps_transform", "nps_close_loop"):
            if dag_id in dags:
                run_dag(dags[dag_id], final, timings, REPLAY.get(dag_id))
        mailbox = write_mailbox(stack.sendgrid.messages(), demo_dir / "mailbox")
    finally:
        operator.stop()
        stack.stop()
    print_summary(url, window)
    _say(f"   (planted: {repurchases.planted} later purchases of answering customers, in place of "
         f"{repurchases.removed} generated later orders)")
    _say(f"\nE-mails captured by the fake SendGrid: {customers.sent_total} surveys, {customers.other_messages} "
         f"digests/alerts to the team; open {mailbox} to read them as the customers and managers got them")
    _say(f"\n== demo finished in {time.monotonic() - t0:.0f}s; DAG runs:")
    for dag_id, values in timings.per_dag.items():
        _say(f"   {dag_id:<20} {len(values):>3} runs, {sum(values):6.1f}s")
    print_next_steps()
    return 0


def write_mailbox(messages: list[dict], out: Path) -> Path:
    """What the fake SendGrid delivered, as files to open in a browser: one survey e-mail per (kind, language) as a
    customer received it, every digest and alert to the team, and an index.html listing them."""
    from nps_dev.fakes.sendgrid import rendered  # the fakes are the demo's, imported when it runs

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rows, seen = [], set()
    for mail in (mail for message in messages for mail in rendered(message)):
        args = mail["custom_args"]
        language = (re.search(r'<html lang="([a-z]{2})"', mail["html"]) or [None, "xx"])[1]
        if "survey_id" in args:
            key = ("survey", args.get("kind", "invite"), language)
            if key in seen:
                continue  # one example per kind and language; the demo sent thousands
            seen.add(key)
            name = f"survey-{key[1]}-{language}.html"
        else:
            name = f"team-{len(rows):03d}-{language}.html"
        (out / name).write_text(mail["html"] or f"<pre>{html_lib.escape(mail['text'])}</pre>", encoding="utf-8")
        to = ", ".join(r.get("email", "") for r in mail["to"])
        rows.append(f'<tr><td><a href="{name}">{html_lib.escape(mail["subject"])}</a></td>'
                    f"<td>{html_lib.escape(to)}</td><td>{language}</td></tr>")
    index = out / "index.html"
    index.write_text("<!doctype html><meta charset='utf-8'><title>NPS demo mailbox</title>"
                     "<h1>E-mails the fake SendGrid delivered</h1><table border='1' cellpadding='4'>"
                     "<tr><th>subject</th><th>to</th><th>language</th></tr>" + "".join(rows) + "</table>",
                     encoding="utf-8")
    return index


def _table(conn: psycopg.Connection, title: str, query: str) -> None:
    try:
        cur = conn.execute(query)
    except psycopg.Error as exc:
        conn.rollback()
        _say(f"\n{title}: not available ({exc.diag.message_primary})")
        return
    rows = cur.fetchall()
    headers = [c.name for c in cur.description]
    cells = [[("" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    _say(f"\n{title}")
    _say("  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        _say("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def print_summary(url: str, repurchase_days: int) -> None:
    # Every NPS figure comes from the marts (the one NPS macro): the summary never recomputes it.
    with psycopg.connect(url) as conn:
        _table(conn, "NPS trend (rolling windows on the last day with answers)", "select day, responses, "
               "round(nps, 1) as nps_that_day, round(nps_rolling_30d, 1) as nps_30d, round(nps_rolling_90d, 1) as "
               "nps_90d from marts.nps_daily where responses > 0 order by day desc limit 1")
        _table(conn, "NPS by region, latest month", "select region, surveys_sent, responses, round(nps, 1) as nps, "
               "round(nps_moe_95, 1) as moe_95, is_low_n, round(response_rate, 3) as response_rate "
               "from marts.nps_by_region where month = (select max(month) from marts.nps_by_region) "
               "order by nps desc nulls last")
        _table(conn, "NPS by segment, latest month", "select segment, responses, round(nps, 1) as nps, "
               "round(nps_moe_95, 1) as moe_95, is_low_n from marts.nps_by_segment "
               "where month = (select max(month) from marts.nps_by_segment) order by nps desc nulls last")
        _table(conn, "NPS by delivery bucket, latest month", "select delivery_bucket, responses, round(nps, 1) as nps, "
               "round(nps_moe_95, 1) as moe_95, is_low_n from marts.nps_by_delivery "
               "where month = (select max(month) from marts.nps_by_delivery) order by delivery_bucket")
        _table(conn, "Survey funnel (all days)", "select sum(sent) sent, sum(delivered) delivered, sum(bounced) "
               "bounced, sum(opened) opened, sum(clicked) clicked, sum(responded) responded, sum(unsubscribed) "
               "unsubscribed from marts.survey_funnel")
        print_channels(conn)
        # a view over ops.case_state: the live owner and status nps_close_loop wrote
        _table(conn, "Detractor cases per manager", "select coalesce(manager_email, '(no owner)') manager, "
               "count(*) cases, count(*) filter (where status = 'open') open, count(*) filter (where status = "
               "'closed') closed, count(notified_at) notified from ops.detractor_cases group by 1 order by 2 desc")
        _table(conn, "Kiosk customers who left a phone to be called back (their cases, by shop)",
               "select location_name shop, region, count(*) cases, count(notified_at) notified, count(*) filter "
               "(where status = 'closed') closed from ops.detractor_cases where location_name is not null "
               "group by 1, 2 order by 3 desc")
        _say("\nWhat the comments say, latest month (marts.comment_themes_by_month)")
        try:
            for line in top_themes(conn):
                _say(f"  {line}")
        except psycopg.Error as exc:
            conn.rollback()
            _say(f"  not available ({exc.diag.message_primary})")
        _say("\nDoes NPS pay? Answers whose repurchase window has closed (marts repurchase_difference, "
             "closed_loop_effect; 95 % intervals)")
        try:
            for line in repurchase_findings(conn, repurchase_days):
                _say(f"  {line}")
        except psycopg.Error as exc:
            conn.rollback()
            _say(f"  not available ({exc.diag.message_primary})")


def print_channels(conn: psycopg.Connection) -> None:
    """Answers and NPS by the way they came (e-mail, the invoice's QR code, a shop's kiosk), and each channel's
    funnel: e-mails opened, QR pages opened, kiosk sessions begun, and how many of those answered, per month."""
    _table(conn, "NPS by channel, per month", "select month, channel, responses, round(nps, 1) as nps, "
           "round(nps_moe_95, 1) as moe_95, is_low_n from marts.nps_by_channel order by month, responses desc, channel")
    _table(conn, "Survey funnel by channel, per month (opened: e-mail opened, QR page opened, kiosk session begun)",
           "select month, channel, opened, answered, round(response_rate, 3) as response_rate "
           "from marts.survey_funnel_by_channel order by month, opened desc, channel")


def top_themes(conn: psycopg.Connection, limit: int = 3) -> list[str]:
    """The most named themes of detractors and of promoters in the mart's last month, with their share of the
    category's commented answers and tone, as the mart holds them (never recomputed here)."""
    rows = conn.execute("""
        select month, nps_category, theme, mentions, share_of_commented, positive, negative
        from (
            select *, row_number() over (partition by nps_category order by mentions desc, theme) as rank
            from marts.comment_themes_by_month
            where month = (select max(month) from marts.comment_themes_by_month)
              and nps_category in ('detractor', 'promoter')
        ) as ranked
        where rank <= %s
        order by nps_category, rank
    """, (limit,)).fetchall()
    if not rows:
        return ["no classified comments yet"]
    lines = []
    for category in ("detractor", "promoter"):
        named = [f"{theme} {share * 100:.0f} % ({mentions}: {positive} +, {negative} -)"
                 for _, cat, theme, mentions, share, positive, negative in rows if cat == category]
        lines.append(f"{category}s, {rows[0][0]:%Y-%m}: " + ("; ".join(named) or "no theme named"))
    return lines


def repurchase_findings(conn: psycopg.Connection, window_days: int) -> list[str]:
    """One line per finding, every number read from the marts (never recomputed here): promoters against detractors,
    and detractors called back within the SLA against the others (observational: who gets called is not random)."""
    def verdict(significant: bool) -> str:
        return "significant" if significant else "not significant"

    with conn.cursor(row_factory=dict_row) as cur:
        versus = cur.execute(
            "select promoters_matured, promoter_repurchase_rate, promoter_repurchase_rate_lower, "
            "promoter_repurchase_rate_upper, detractors_matured, detractor_repurchase_rate, "
            "detractor_repurchase_rate_lower, detractor_repurchase_rate_upper, rate_difference, difference_lower, "
            "difference_upper, is_significant from marts.repurchase_difference "
            "where period = 'all' and window_days = %s", (window_days,)).fetchone()
        closed_loop = cur.execute(
            "select in_sla_matured, in_sla_repurchase_rate, in_sla_repurchase_rate_lower, "
            "in_sla_repurchase_rate_upper, other_matured, other_repurchase_rate, other_repurchase_rate_lower, "
            "other_repurchase_rate_upper, rate_difference, difference_lower, difference_upper, p_value, is_significant "
            "from marts.closed_loop_effect where window_days = %s", (window_days,)).fetchone()
    lines = []
    if versus is None or versus["rate_difference"] is None:
        lines.append(f"repurchase within {window_days} days: no promoter's and detractor's window has closed yet")
    else:
        compared = compare_groups(versus, ("promoters", "promoter", "promoters"),
                                  ("detractors", "detractor", "detractors"))
        lines.append(f"repurchase within {window_days} days: {compared}, {verdict(versus['is_significant'])}")
    if closed_loop is None or closed_loop["rate_difference"] is None:
        lines.append(f"closed loop, within {window_days} days: no detractors' windows on both sides have closed yet")
    else:
        p_value = "n/a" if closed_loop["p_value"] is None else f"{closed_loop['p_value']:.3f}"
        compared = compare_groups(closed_loop,
                                  ("detractors whose case was closed within its SLA", "in_sla", "in_sla"),
                                  ("the other detractors", "other", "other"))
        lines.append(f"closed loop (observational), within {window_days} days: {compared}, p = {p_value}, "
                     f"{verdict(closed_loop['is_significant'])}")
    return lines


def compare_groups(row: dict, first: tuple[str, str, str], second: tuple[str, str, str]) -> str:
    """"<A> 58 % (53–64) (n=272) vs <B> 46 % (39–54) (n=171), difference +12 points (95 % CI +3 to +22)": group A
    against group B of a repurchase mart's row. A group is (label, its rate columns' prefix, its count's prefix):
    `<rate>_repurchase_rate[_lower|_upper]`, `<count>_matured`; the difference is `rate_difference` and its interval."""
    def group(label: str, rate: str, count: str) -> str:
        value, lower, upper = (row[f"{rate}_repurchase_rate{end}"] for end in ("", "_lower", "_upper"))
        interval = f" ({lower * 100:.0f}–{upper * 100:.0f})" if lower is not None else ""
        return f"{label} {value * 100:.0f} %{interval} (n={row[f'{count}_matured']})"

    return (f"{group(*first)} vs {group(*second)}, difference {row['rate_difference'] * 100:+.0f} points "
            f"(95 % CI {row['difference_lower'] * 100:+.0f} to {row['difference_upper'] * 100:+.0f})")


def print_next_steps() -> None:
    _say("\nWhere to look next:")
    _say("  make airflow        Airflow UI on http://localhost:8080 (admin/admin): the DAG runs of this demo;")
    _say("                      Data Docs of the quality gates on http://localhost:8080/nps-data-docs/")
    _say("  make bi             the NPS dashboard (Superset) on http://localhost:8088/superset/dashboard/nps/ (admin/admin)")
    _say("  make dbt-docs       dbt's documentation: every model, column, test and the lineage, on http://localhost:8089")
    _say("  psql \"$NPS_WAREHOUSE_URL\"   marts.* for BI (role nps_bi), ops.detractor_cases for follow-up")
    _say(f"  {state_dir() / 'demo'}   the generated data, the simulated clock")
