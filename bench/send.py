"""Workload 3: send N due surveys to the fake SendGrid.

ours   : `nps.surveys.sender.Sender` over a due-queue table with the dbt model's columns (claim -> 1 request per
         1000 recipients, languages and kinds mixed where a group's remainder shares a request -> record in
         raw.survey_sends)
anchor : one request per e-mail through the same client (`nps.sendgrid_client`), as Airflow's SendGrid provider
         does (`send_email` builds one `Mail` per message); timed on a sample and extrapolated, labelled so
The fake SendGrid runs in a process of its own, its rate limit lifted (it otherwise answers 429 after 600/min).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import psycopg

from bench.common import Result, Row, RssSampler, fake_process, fmt, throwaway_db, verdict

KYIV = ZoneInfo("Europe/Kyiv")
DAY = date(2026, 3, 2)
ISSUED = datetime(2026, 3, 2, 10, 0, tzinfo=KYIV)
KEY = "SG.nps-bench-key"
QUEUE = "bench.due_queue"
COLUMNS = ("survey_id", "kind", "purchase_id", "customer_ref", "email", "language", "customer_name", "due_date",
           "days_late")
LANGS = ("uk", "uk", "uk", "ru", "en")  # roughly the generator's language mix
SIZES = {"full": (100_000, 2_000), "quick": (10_000, 300)}  # (surveys, anchor sample)


def _queue(conn: psycopg.Connection, n: int) -> None:
    conn.execute("create schema if not exists bench")
    conn.execute(f"""create table {QUEUE} (survey_id text, kind text, purchase_id text, customer_ref text,
                     email text, language text, customer_name text, due_date date, days_late int)""")
    with conn.cursor().copy(f"copy {QUEUE} ({', '.join(COLUMNS)}) from stdin") as copy:
        for i in range(n):
            copy.write_row((f"svbench{i:08d}", "invite" if i % 7 else "reminder", f"p{i:08d}", f"c{i:08d}",
                            f"customer{i}@example.com", LANGS[i % len(LANGS)], f"Клієнт {i}", DAY, 0))


def _client(url: str):
    from nps import sendgrid_client
    from nps.connections import Conn

    return sendgrid_client.connect(Conn("nps_sendgrid", "http", url, None, "", KEY, "", {}))


def send_ours(url: str, dsn: str, n: int) -> tuple[float, dict]:
    from nps.surveys.sender import Sender

    with psycopg.connect(dsn, autocommit=True) as conn:
        _queue(conn, n)
    client = _client(url)
    t0 = time.perf_counter()
    report = Sender(day=DAY, issued_at=ISSUED, dsn=dsn, client=client, queue_relation=QUEUE,
                    run_id="bench").run()
    seconds = time.perf_counter() - t0
    with psycopg.connect(dsn) as conn:
        recorded = conn.execute("select count(*) from raw.survey_sends where status = 'sent'").fetchone()[0]
    return seconds, {**{k: v for k, v in report.as_dict().items() if k in ("due", "sent", "failed", "unknown",
                                                                            "requests")}, "recorded_sent": recorded}


def send_one_per_email(url: str, sample: int) -> float:
    """The per-message way: render each e-mail, one `POST /v3/mail/send` per recipient (the same client)."""
    from nps import sendgrid_client, tokens
    from nps.config import settings
    from nps.surveys import render

    cfg = settings()
    client = _client(url)
    templates = {}
    t0 = time.perf_counter()
    for i in range(sample):
        lang, kind = LANGS[i % len(LANGS)], "invite" if i % 7 else "reminder"
        if (lang, kind) not in templates:
            templates[lang, kind] = render.render_template(lang, kind, cfg.collector_base_url)
        template = templates[lang, kind]
        token = tokens.mint(f"svanchor{i:08d}", issued_at=ISSUED)
        subs = render.substitutions(lang, token, f"Клієнт {i}")
        body = sendgrid_client.message([f"customer{i}@example.com"], template.subject,
                                       render.apply_substitutions(template.text, subs),
                                       render.apply_substitutions(template.html, subs),
                                       from_email=cfg.sendgrid_from_email,
                                       custom_args={"survey_id": f"svanchor{i:08d}"})
        result = sendgrid_client.send(client, body)
        if result.outcome is not sendgrid_client.Outcome.SENT:
            raise RuntimeError(f"anchor send: {result.error}")
    return time.perf_counter() - t0


def run(quick: bool = False, n: int | None = None, sample: int | None = None) -> Result:
    full_n, full_sample = SIZES["quick" if quick else "full"]
    n, sample = n or full_n, min(sample or full_sample, n or full_n)
    os.environ.setdefault("NPS_TOKEN_SECRET", "nps-bench-token-secret")
    os.environ.setdefault("NPS_COLLECTOR_BASE_URL", "https://nps.example.com")
    result = Result("send due surveys to the fake SendGrid", f"{n:,} surveys; anchor on a {sample:,} sample")
    with RssSampler() as rss, fake_process("sendgrid", None, api_keys=[KEY], rate_limit=10**9) as url:
        with throwaway_db("nps_bench_send") as dsn:
            ours_s, report = send_ours(url, dsn, n)
        anchor_sample_s = send_one_per_email(url, sample)
    anchor_s = anchor_sample_s * n / sample
    rate = report["recorded_sent"] / ours_s
    anchor_rate = sample / anchor_sample_s
    result.rows.append(Row("HTTP requests", f"{report['requests']:,}", f"{n:,} (one per e-mail)",
                           f"{n / max(report['requests'], 1):,.0f}x fewer", f"<= {n // 1000:,}",
                           verdict(report["requests"] <= max(n // 1000, 1))))
    groups = Counter((LANGS[i % len(LANGS)], "invite" if i % 7 else "reminder") for i in range(n))
    listing = ", ".join(f"{lang}/{kind} {size:,}" for (lang, kind), size in sorted(groups.items()))
    full = sum(size // 1000 for size in groups.values())
    result.notes.append(f"{len(groups)} (language, kind) groups ({listing}): {full} full requests of one group; the "
                        f"groups' remainders share {report['requests'] - full} (one request per remainder would "
                        f"have made {sum(-(-size // 1000) for size in groups.values()):,} in all)")
    result.rows.append(Row("surveys sent + recorded / s", fmt(rate), f"{fmt(anchor_rate)} (sample)",
                           f"{rate / anchor_rate:,.0f}x", ">= 5,000/s", verdict(rate >= 5000)))
    result.rows.append(Row("wall time", f"{fmt(ours_s)} s", f"{fmt(anchor_s)} s (extrapolated from "
                           f"{sample:,} in {fmt(anchor_sample_s)} s)", f"{anchor_s / ours_s:,.0f}x faster"))
    result.rows.append(Row("recorded sent / due", f"{report['recorded_sent']:,} / {report['due']:,}", "-", "-",
                           "all", verdict(report["recorded_sent"] == n)))
    result.peak_rss_mib = rss.peaks
    result.raw = {"ours_s": ours_s, "anchor_sample_s": anchor_sample_s, "anchor_sample": sample, **report}
    return result
