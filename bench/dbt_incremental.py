"""Workload 2: the nightly `dbt build` after one new day, against a full refresh on the same data.

Setup (not timed). The generated distributor's 1C history goes into `raw` through `nps.extract.run_onec` (the real
parser and loader) reading the generator's files in process (bench/onec_files.py: the fake 1C server would need
~4 GiB per 1M lines). It is loaded as the nightly runs would have loaded it, on a simulated clock: the bulk up to
day D-3 stamped as loaded that night, then the nights of D-3, D-2 and D-1 one by one. The incremental models re-read
what was loaded since the newest load they hold, that load included (var incremental_lookback_hours: it may have been
still running when they last ran), so a history stamped as loaded all at once would be re-read whole every night,
which no real warehouse does. Every shipped sale gets an answer three days later in raw.survey_responses (the issue's
5 lines : 1 answer), stamped as loaded an hour after it was given. A first full build as of D makes the incremental
models. Then day D arrives the same way (its documents through
`run_onec`, its answers), and we time `nps.transform.build()` (incremental, what the nightly run does) and
`build(full_refresh=True)` on the same data.

Size: `full` is the issue's 5M purchase lines (~1M sales, so ~1M answers); NPS_BENCH_DBT_LINES overrides it
(customers scale with it, 25 lines per customer). The history spans a year (NPS_BENCH_DBT_DAYS overrides it): the
nightly re-reads two nights of loads (the new day's and the one before), 2 % of a 77-day history (the generator's
default, too short a warehouse to say anything about "incremental") and 0.5 % of a year's.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import psycopg

from bench.common import Result, Row, RssSampler, fmt, generated_data, throwaway_db, verdict

KYIV = ZoneInfo("Europe/Kyiv")
SIZES = {"full": 5_000_000, "quick": 20_000}
HISTORY_DAYS = 365
LINES_PER_CUSTOMER = 25
NIGHTS = 3  # the nights loaded one by one before day D (the look-back, var incremental_lookback_hours, re-reads the last)
ANSWERS = """
    insert into raw.survey_responses (survey_id, score, language, channel, responded_at, _loaded_at)
    select survey_id, score, 'uk', 'web', responded_at, responded_at + interval '1 hour'
    from (
        select 'sv' || left(md5(ref_key), 24) as survey_id, (abs(hashtext(ref_key)) %% 11) as score,
               (sale_date + interval '3 days' + (abs(hashtext(ref_key)) %% 36000) * interval '1 second')
                   at time zone 'Europe/Kyiv' as responded_at
        from raw.onec_sales
        where sale_date + interval '3 days' >= %(lo)s and sale_date + interval '3 days' < %(hi)s
    ) as answers
    on conflict (survey_id) do nothing"""


@contextlib.contextmanager
def simulated_clock() -> Iterator[Path]:
    """nps.clock reads this file (the loaders stamp _loaded_at with it): the bench plays the nights it loads."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clock"
        with mock.patch.dict(os.environ, {"NPS_SIMULATION": "1", "NPS_CLOCK_FILE": str(path)}):
            yield path


def _night(clock_file: Path, client, dsn: str, lo: datetime, hi: datetime, label: str) -> None:
    """One nightly 1C load of the documents dated [lo, hi), at 01:00 after hi (as nps_extract runs)."""
    from nps import clock
    from nps.extract import run_onec

    clock.set_simulated_now(clock_file, hi + timedelta(hours=1))
    run_onec(lo, hi, label, client=client, dsn=dsn, lookback_days=0)


def _lookback_hours() -> int:
    """dbt's var incremental_lookback_hours (dbt_project/dbt_project.yml)."""
    import yaml

    from nps.transform import PROJECT_DIR

    return int(yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["incremental_lookback_hours"])


def load_history(client, dsn: str, clock_file: Path, first: datetime, day: datetime) -> None:
    """Everything before day D: the bulk as one night's load, then the last NIGHTS nights one by one; answers."""
    bulk_until = day - timedelta(days=NIGHTS)
    _night(clock_file, client, dsn, first - timedelta(days=1), bulk_until, "history")
    for n in range(NIGHTS):
        night = bulk_until + timedelta(days=n)
        _night(clock_file, client, dsn, night, night + timedelta(days=1), f"night-{n}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(ANSWERS, {"lo": (first - timedelta(days=400)).replace(tzinfo=None),
                               "hi": day.replace(tzinfo=None)})
        conn.execute("vacuum analyze")


def load_new_day(client, dsn: str, clock_file: Path, day: datetime) -> None:
    """Day D: its 1C documents the night after, its answers an hour after each was given."""
    _night(clock_file, client, dsn, day, day + timedelta(days=1), "new-day")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(ANSWERS, {"lo": day.replace(tzinfo=None), "hi": (day + timedelta(days=1)).replace(tzinfo=None)})
        conn.execute("analyze")


def run(quick: bool = False, lines: int | None = None) -> Result:
    from bench.onec_files import FileOneCClient
    from nps import transform

    os.environ.setdefault("DBT_QUIET", "true")  # 230 nodes x 3 builds of log lines would bury the tables
    target_lines = lines or int(os.environ.get("NPS_BENCH_DBT_LINES") or SIZES["quick" if quick else "full"])
    days = int(os.environ.get("NPS_BENCH_DBT_DAYS") or HISTORY_DAYS)
    data = generated_data(target_lines, max(40, target_lines // LINES_PER_CUSTOMER), days=days)
    meta = json.loads((data / "meta" / "summary.json").read_text())
    first = datetime.fromisoformat(meta["start"]).replace(tzinfo=KYIV)
    day = first + timedelta(days=int(meta["days"]) - 4)  # the new day: late enough that its answers exist
    result = Result("nightly dbt build after one new day", "")
    setup = time.perf_counter()
    with throwaway_db("nps_bench_dbt") as dsn, simulated_clock() as clock_file:
        with RssSampler() as setup_rss:  # not a task: the generator's file of one entity set is held while it loads
            client = FileOneCClient(data)
            load_history(client, dsn, clock_file, first, day)
            load_s = time.perf_counter() - setup
            t0 = time.perf_counter()
            transform.build(day + timedelta(hours=1, minutes=30), full_refresh=True)
            first_build_s = time.perf_counter() - t0
            load_new_day(client, dsn, clock_file, day)
            client.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            lines_n = conn.execute("select count(*) from raw.onec_sale_lines").fetchone()[0]
            sales_n = conn.execute("select count(*) from raw.onec_sales").fetchone()[0]
            answers = conn.execute("select count(*) from raw.survey_responses").fetchone()[0]
            new_sales = conn.execute("select count(*) from raw.onec_sales where _loaded_at >= %s",
                                     (day + timedelta(days=1),)).fetchone()[0]
            new_answers = conn.execute("select count(*) from raw.survey_responses where responded_at >= %s",
                                       (day,)).fetchone()[0]
            # the incremental watermark: the newest load the models hold (D-1's, 01:00 after it) minus the look-back
            reread = conn.execute("select count(*) from raw.onec_sale_lines where _loaded_at > %s",
                                  (day + timedelta(hours=1 - _lookback_hours()),)).fetchone()[0]
        as_of = day + timedelta(days=1, hours=2)
        with RssSampler() as rss:  # the two timed builds (dbt runs in this process)
            t0 = time.perf_counter()
            incremental = transform.build(as_of)
            incremental_s = time.perf_counter() - t0
            timings_incremental = _node_seconds(transform.default_target_path())
            t0 = time.perf_counter()
            full = transform.build(as_of, full_refresh=True)
            full_s = time.perf_counter() - t0
            timings_full = _node_seconds(transform.default_target_path())
    result.scale = (f"{lines_n:,} purchase lines in {sales_n:,} sales / {answers:,} answers of history over "
                    f"{meta['days']} days; the new day adds {new_sales:,} sales and {new_answers:,} answers; the "
                    f"look-back re-reads {reread:,} lines ({reread / max(lines_n, 1):.1%} of the history)")
    ratio = incremental_s / full_s
    result.rows.append(Row("dbt build wall time", f"{fmt(incremental_s)} s (incremental)",
                           f"{fmt(full_s)} s (--full-refresh)", f"{ratio:.0%} of a full refresh", "<= 10 %",
                           verdict(ratio <= 0.10)))
    result.rows.append(Row("nodes ok (incremental / full)",
                           f"{incremental.count('success', 'pass')} / {full.count('success', 'pass')}",
                           "-", "-", "all green", verdict(incremental.success and full.success)))
    result.notes.append(f"setup (not timed): history through run_onec from the generator's files {fmt(load_s)} s, "
                        f"first full build {fmt(first_build_s)} s; peak RSS of the setup (not a task: it holds one "
                        f"entity set's generator file) {max(setup_rss.peaks.values(), default=0):,.0f} MiB")
    for label, timings in (("incremental", timings_incremental), ("full refresh", timings_full)):
        if timings:
            top = sorted(timings.items(), key=lambda kv: -kv[1])[:6]
            tests = sum(s for k, s in timings.items() if k.startswith("test."))
            result.notes.append(f"slowest nodes, {label}: " + ", ".join(f"{k.split('.')[-1]} {s:.1f} s"
                                                                        for k, s in top)
                                + f"; all {sum(k.startswith('test.') for k in timings)} tests {tests:.1f} s")
    result.peak_rss_mib = rss.peaks
    result.raw = {"incremental_s": incremental_s, "full_refresh_s": full_s, "first_build_s": first_build_s,
                  "lines": lines_n, "sales": sales_n, "answers": answers, "new_answers": new_answers,
                  "nodes_incremental": timings_incremental, "nodes_full": timings_full}
    return result


def _node_seconds(target: Path) -> dict[str, float]:
    """Execution time per node of the last dbt invocation (run_results.json)."""
    path = Path(target) / "run_results.json"
    if not path.exists():
        return {}
    results = json.loads(path.read_text()).get("results", [])
    return {r["unique_id"]: float(r.get("execution_time") or 0) for r in results}
