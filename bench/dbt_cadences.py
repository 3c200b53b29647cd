"""Workload 2: the two dbt cadences (dbt_project/selectors.yml) against the old incremental project's full refresh.

Setup (not timed). The generated distributor's 1C history goes into `raw` through `nps.extract.run_onec` (the real
parser and loader) reading the generator's files in process (bench/onec_files.py: the fake 1C server would need
~4 GiB per 1M lines). Every shipped sale gets an answer three days later in raw.survey_responses (the issue's
5 lines : 1 answer), stamped as loaded an hour after it was given. A first `nightly` build makes the tables, then
day D arrives (its documents through `run_onec`, its answers).

Timed, on the same data:
- `nightly`: `nps.transform.build(as_of)`, everything, as after a 1C / CRM load;
- `answers`: `build(as_of, cadence="answers")` after one more hour of answers, as the hourly responses load
  triggers it;
- the anchor: the project as it was before one query shape per model (commit OLD_PROJECT, its `dbt build
  --full-refresh` with its raw indexes and triggers), on a copy of the same database (`create database ... template`).

Size: `full` is the issue's 5M purchase lines (~1M sales, so ~1M answers) over a year; NPS_BENCH_DBT_LINES and
NPS_BENCH_DBT_DAYS override them (customers scale with lines, 25 lines per customer).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from bench.common import Result, Row, RssSampler, fmt, generated_data, server_url, throwaway_db, verdict

KYIV = ZoneInfo("Europe/Kyiv")
SIZES = {"full": 5_000_000, "quick": 20_000}
HISTORY_DAYS = 365
LINES_PER_CUSTOMER = 25
ANSWERS_BUDGET_S = 45
# the last commit of the incremental project (nightly 12.7 s vs 152 s full refresh at this size, RESULTS.md)
OLD_PROJECT = "2a55482"
# issue 24's models ("Does NPS pay?"): their cost is the node time of them and all that depends on them in the
# nightly build's run_results (a second build without them measured only this machine's noise)
ISSUE_24_MODELS = ("model.nps.int_answer_outcomes", "model.nps.nps_drivers")
OLD_WAREHOUSE_SQL = ("050_raw_indexes.sql", "051_raw_deletions.sql", "052_survey_changes.sql")
ANSWERS = """
    insert into raw.survey_responses (survey_id, score, language, channel, responded_at, _loaded_at)
    select survey_id, score, 'uk', 'email', responded_at, responded_at + interval '1 hour'
    from (
        select survey_id, (abs(hashtext(ref_key)) %% 11) as score,
               (sale_date + interval '3 days' + (abs(hashtext(ref_key)) %% 36000) * interval '1 second')
                   at time zone 'Europe/Kyiv' as responded_at
        from raw.onec_sales
        where sale_date + interval '3 days' >= %(lo)s and sale_date + interval '3 days' < %(hi)s
    ) as answers
    where responded_at >= %(since)s and responded_at < %(until)s
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


def _answers(dsn: str, lo: datetime, hi: datetime, hour: datetime | None = None) -> int:
    """The answers to the sales of [lo - 3 days, hi - 3 days), or only those given within the hour from `hour`."""
    since, until = (hour, hour + timedelta(hours=1)) if hour else (lo - timedelta(days=1), hi + timedelta(days=1))
    with psycopg.connect(dsn, autocommit=True) as conn:
        inserted = conn.execute(ANSWERS, {"lo": lo.replace(tzinfo=None), "hi": hi.replace(tzinfo=None),
                                          "since": since, "until": until}).rowcount
        conn.execute("analyze raw.survey_responses")
    return inserted


def old_project(into: Path) -> Path | None:
    """dbt_project/ and the warehouse SQL as of OLD_PROJECT, extracted from git; None without the history."""
    paths = ["dbt_project", *(f"plugins/nps/warehouse/sql/{name}" for name in OLD_WAREHOUSE_SQL)]
    archive = subprocess.run(["git", "archive", "--format=tar", OLD_PROJECT, *paths], cwd=Path(__file__).parents[1],
                             capture_output=True)
    if archive.returncode != 0:
        return None
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


@contextlib.contextmanager
def database_copy(dsn: str) -> Iterator[str]:
    """A copy of the (idle) database of `dsn`, the env pointed at it while it lives; dropped after."""
    from nps.connections import postgres_connection

    source = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    name = f"{source}_old"
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (source,))
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(source)))
    url = dsn.rsplit("/", 1)[0] + "/" + name
    try:
        with mock.patch.dict(os.environ, {"NPS_WAREHOUSE_URL": url,
                                          "AIRFLOW_CONN_NPS_WAREHOUSE": json.dumps(postgres_connection(url))}):
            yield url
    finally:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def old_full_refresh(dsn: str, as_of: datetime) -> tuple[float | None, dict[str, float]]:
    """The old project's `dbt build --full-refresh` on a copy of the database: seconds and per-node seconds."""
    from nps import transform

    with tempfile.TemporaryDirectory() as tmp:
        old = old_project(Path(tmp))
        if old is None:
            return None, {}
        with database_copy(dsn) as url:
            with psycopg.connect(url, autocommit=True) as conn:
                # from scratch, as that project's full refresh ran: its raw indexes and triggers, none of our tables
                conn.execute("drop schema if exists staging cascade; drop schema if exists intermediate cascade; "
                             "drop schema if exists marts cascade; drop view if exists ops.detractor_cases")
                for name in OLD_WAREHOUSE_SQL:
                    conn.execute((old / "plugins/nps/warehouse/sql" / name).read_text())
                conn.execute("vacuum analyze")
            target = Path(tmp) / "target"
            with mock.patch.object(transform, "PROJECT_DIR", old / "dbt_project"):
                t0 = time.perf_counter()
                transform.run(["build", "--full-refresh"], target_path=target, as_of=as_of,
                              env=transform.PIPELINE_ENV)
                seconds = time.perf_counter() - t0
            return seconds, _node_seconds(target)


def dbt_sql_lines(ref: str | None = None) -> int:
    """Lines of dbt SQL + Jinja (models, macros, snapshots, tests) in the working tree or at a git ref."""
    root = Path(__file__).parents[1]
    folders = [f"dbt_project/{d}" for d in ("models", "macros", "snapshots", "tests")]
    if ref is None:
        return sum(len(p.read_text().splitlines()) for d in folders for p in (root / d).rglob("*.sql"))
    listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", ref, *folders], cwd=root, capture_output=True,
                             text=True)
    files = [f for f in listing.stdout.split() if f.endswith(".sql")]
    return sum(len(subprocess.run(["git", "show", f"{ref}:{f}"], cwd=root, capture_output=True,
                                  text=True).stdout.splitlines()) for f in files)


def run(quick: bool = False, lines: int | None = None) -> Result:
    from bench.onec_files import FileOneCClient
    from nps import transform

    os.environ.setdefault("DBT_QUIET", "true")  # 130 nodes x 4 builds of log lines would bury the tables
    target_lines = lines or int(os.environ.get("NPS_BENCH_DBT_LINES") or SIZES["quick" if quick else "full"])
    days = int(os.environ.get("NPS_BENCH_DBT_DAYS") or HISTORY_DAYS)
    data = generated_data(target_lines, max(40, target_lines // LINES_PER_CUSTOMER), days=days)
    meta = json.loads((data / "meta" / "summary.json").read_text())
    first = datetime.fromisoformat(meta["start"]).replace(tzinfo=KYIV)
    day = first + timedelta(days=int(meta["days"]) - 4)  # the new day: late enough that its answers exist
    result = Result("dbt cadences: nightly and answers", "")
    setup = time.perf_counter()
    with throwaway_db("nps_bench_dbt") as dsn, simulated_clock() as clock_file:
        with RssSampler() as setup_rss:  # not a task: the generator's file of one entity set is held while it loads
            client = FileOneCClient(data)
            _night(clock_file, client, dsn, first - timedelta(days=1), day, "history")
            _answers(dsn, first - timedelta(days=400), day)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("vacuum analyze")
            load_s = time.perf_counter() - setup
            t0 = time.perf_counter()
            transform.build(day + timedelta(hours=1, minutes=30))
            first_build_s = time.perf_counter() - t0
            _night(clock_file, client, dsn, day, day + timedelta(days=1), "new-day")
            new_answers = _answers(dsn, day, day + timedelta(days=1))
            client.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            lines_n = conn.execute("select count(*) from raw.onec_sale_lines").fetchone()[0]
            sales_n = conn.execute("select count(*) from raw.onec_sales").fetchone()[0]
            answers = conn.execute("select count(*) from raw.survey_responses").fetchone()[0]
            new_sales = conn.execute("select count(*) from raw.onec_sales where _loaded_at >= %s",
                                     (day + timedelta(days=1),)).fetchone()[0]
        as_of = day + timedelta(days=1, hours=2)
        old_s, timings_old = old_full_refresh(dsn, as_of)
        with RssSampler() as rss:  # the timed builds (dbt runs in this process)
            t0 = time.perf_counter()
            nightly = transform.build(as_of)
            nightly_s = time.perf_counter() - t0
            timings_nightly = _node_seconds(transform.default_target_path())
            issue_24 = _descendants(transform.default_target_path(), ISSUE_24_MODELS)
            hour = day + timedelta(days=1, hours=12)  # the answers given 12:00-13:00 the day after
            hour_answers = _answers(dsn, day + timedelta(days=1), day + timedelta(days=2), hour=hour)
            t0 = time.perf_counter()
            answers_run = transform.build(hour + timedelta(hours=1, minutes=5), cadence=transform.ANSWERS)
            answers_s = time.perf_counter() - t0
            timings_answers = _node_seconds(transform.default_target_path())
    result.scale = (f"{lines_n:,} purchase lines in {sales_n:,} sales / {answers:,} answers over {meta['days']} days; "
                    f"the new day adds {new_sales:,} sales and {new_answers:,} answers, the hour after it "
                    f"{hour_answers:,} answers")
    old_label = f"{fmt(old_s)} s (old project, --full-refresh)" if old_s else "- (no git history)"
    result.rows.append(Row("answers build after one hour of answers", f"{fmt(answers_s)} s", old_label,
                           f"{answers_s / old_s:.0%}" if old_s else "-", f"< {ANSWERS_BUDGET_S} s",
                           verdict(answers_s < ANSWERS_BUDGET_S)))
    result.rows.append(Row("nightly build after one new day", f"{fmt(nightly_s)} s", old_label,
                           f"{nightly_s / old_s:.0%}" if old_s else "-", "<= the old full refresh",
                           verdict(old_s is not None and nightly_s <= old_s)))
    issue_24_s = sum(s for node, s in timings_nightly.items() if node in issue_24)
    nodes_s = sum(timings_nightly.values())
    result.rows.append(Row("issue 24's models and their dependants, node time in the nightly build",
                           f"{fmt(issue_24_s)} s", f"{fmt(nodes_s)} s (all its nodes)",
                           f"{issue_24_s / nodes_s:.0%}" if nodes_s else "-", "-", "-"))
    result.rows.append(Row("nodes ok (nightly / answers)",
                           f"{nightly.count('success', 'pass')} / {answers_run.count('success', 'pass')}",
                           "-", "-", "all green", verdict(nightly.success and answers_run.success)))
    old_lines = dbt_sql_lines(OLD_PROJECT) if old_s else None
    result.rows.append(Row("lines of dbt SQL + Jinja (models, macros, snapshots, tests)", f"{dbt_sql_lines():,}",
                           f"{old_lines:,} (old project)" if old_lines else "-", "-", "-", "-"))
    result.notes.append(f"setup (not timed): history through run_onec from the generator's files {fmt(load_s)} s, "
                        f"first nightly build {fmt(first_build_s)} s; peak RSS of the setup (not a task: it holds one "
                        f"entity set's generator file) {max(setup_rss.peaks.values(), default=0):,.0f} MiB")
    for label, timings in (("nightly", timings_nightly), ("answers", timings_answers),
                           ("old full refresh", timings_old)):
        if timings:
            top = sorted(timings.items(), key=lambda kv: -kv[1])[:6]
            tests = sum(s for k, s in timings.items() if k.startswith("test."))
            result.notes.append(f"slowest nodes, {label}: " + ", ".join(f"{k.split('.')[-1]} {s:.1f} s"
                                                                        for k, s in top)
                                + f"; all {sum(k.startswith('test.') for k in timings)} tests {tests:.1f} s")
    result.peak_rss_mib = rss.peaks
    result.raw = {"nightly_s": nightly_s, "answers_s": answers_s, "old_full_refresh_s": old_s,
                  "first_build_s": first_build_s, "issue_24_node_s": issue_24_s, "lines": lines_n, "sales": sales_n,
                  "answers": answers,
                  "hour_answers": hour_answers, "nodes_nightly": timings_nightly, "nodes_answers": timings_answers,
                  "nodes_old": timings_old}
    return result


def _descendants(target: Path, roots: tuple[str, ...]) -> set[str]:
    """The nodes `roots` and all that depend on them, from the build's manifest (models and their tests)."""
    children = json.loads((Path(target) / "manifest.json").read_text())["child_map"]
    seen, todo = set(), list(roots)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(children.get(node, ()))
    return seen


def _node_seconds(target: Path) -> dict[str, float]:
    """Execution time per node of the last dbt invocation (run_results.json)."""
    path = Path(target) / "run_results.json"
    if not path.exists():
        return {}
    results = json.loads(path.read_text()).get("results", [])
    return {r["unique_id"]: float(r.get("execution_time") or 0) for r in results}
