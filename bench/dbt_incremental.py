"""Workload 2: the nightly `dbt build` after one new day, against a full refresh on the same data.

Setup (not timed): the fake 1C's history up to day D is extracted into `raw` with `run_onec`, every shipped sale
gets an answer three days later in raw.survey_responses (the issue's 5 lines : 1 answer), and a first full build
makes the incremental models. Then day D arrives (its 1C documents through `run_onec`, its answers), and we time
`nps.transform.build()` (incremental, what the nightly run does) and `build(full_refresh=True)` on the same data.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from bench.common import Result, Row, RssSampler, fake_process, fmt, generated_data, throwaway_db, verdict

KYIV = ZoneInfo("Europe/Kyiv")
SIZES = {"full": (200_000, 8_000), "quick": (20_000, 800)}  # full: 1M+ is quadratic in int_purchases (see RESULTS.md)
ANSWERS = """
    insert into raw.survey_responses (survey_id, score, language, channel, responded_at)
    select 'sv' || left(md5(ref_key), 24), (abs(hashtext(ref_key)) %% 11), 'uk', 'web',
           sale_date + interval '3 days' + (abs(hashtext(ref_key)) %% 36000) * interval '1 second'
    from raw.onec_sales
    where sale_date + interval '3 days' >= %(lo)s and sale_date + interval '3 days' < %(hi)s
    on conflict (survey_id) do nothing"""


def run(quick: bool = False, lines: int | None = None, customers: int | None = None) -> Result:
    from nps import transform
    from nps.extract import run_onec
    from nps.extract.onec import OneCClient

    os.environ.setdefault("DBT_QUIET", "true")  # 230 nodes x 3 builds of log lines would bury the tables
    target_lines, n_customers = SIZES["quick" if quick else "full"]
    data = generated_data(lines or target_lines, customers or n_customers)
    meta = json.loads((data / "meta" / "summary.json").read_text())
    first = datetime.fromisoformat(meta["start"]).replace(tzinfo=KYIV)
    day = first + timedelta(days=int(meta["days"]) - 4)  # the new day: late enough that its answers exist
    result = Result("nightly dbt build after one new day", "")
    with RssSampler() as rss, fake_process("onec", data) as root, throwaway_db("nps_bench_dbt") as dsn:
        with OneCClient(root, "odata", "odata") as client:
            run_onec(first - timedelta(days=1), day, "history", client=client, dsn=dsn, lookback_days=0)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(ANSWERS, {"lo": first - timedelta(days=400), "hi": day})
        t0 = time.perf_counter()
        transform.build(day, full_refresh=True)
        first_build_s = time.perf_counter() - t0
        # the new day
        with OneCClient(root, "odata", "odata") as client:
            run_onec(day, day + timedelta(days=1), "new-day", client=client, dsn=dsn, lookback_days=0)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(ANSWERS, {"lo": day, "hi": day + timedelta(days=1)})
            lines_n = conn.execute("select count(*) from raw.onec_sale_lines").fetchone()[0]
            answers = conn.execute("select count(*) from raw.survey_responses").fetchone()[0]
            new_answers = conn.execute("select count(*) from raw.survey_responses where responded_at >= %s",
                                       (day,)).fetchone()[0]
        as_of = day + timedelta(days=1, hours=2)
        t0 = time.perf_counter()
        incremental = transform.build(as_of)
        incremental_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        full = transform.build(as_of, full_refresh=True)
        full_s = time.perf_counter() - t0
    result.scale = (f"{lines_n:,} purchase lines / {answers:,} answers of history; the new day adds "
                    f"{new_answers:,} answers")
    ratio = incremental_s / full_s
    result.rows.append(Row("dbt build wall time", f"{fmt(incremental_s)} s (incremental)",
                           f"{fmt(full_s)} s (--full-refresh)", f"{ratio:.0%} of a full refresh", "<= 10 %",
                           verdict(ratio <= 0.10)))
    result.rows.append(Row("nodes ok (incremental / full)",
                           f"{incremental.count('success', 'pass')} / {full.count('success', 'pass')}",
                           "-", "-", "all green", verdict(incremental.success and full.success)))
    result.notes.append(f"first build on the history (setup): {fmt(first_build_s)} s")
    result.peak_rss_mib = rss.peaks
    result.raw = {"incremental_s": incremental_s, "full_refresh_s": full_s, "first_build_s": first_build_s,
                  "lines": lines_n, "answers": answers, "new_answers": new_answers}
    return result
