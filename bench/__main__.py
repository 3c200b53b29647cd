"""`make bench` / `make bench-quick`: every workload with its anchor measured in the same run; bench/RESULTS.md.

    . .nps/env && .venv/bin/python -m bench [--quick] [--only extract,send,...] [--no-write]

Each workload runs on its own throwaway database on the project's Postgres and drops it after. The tables print
as they finish; RESULTS.md gets the machine (cores, memory, CPU model, load average before and after) too.
Timings are not a pass/fail: the verdict column only says whether the issue's target was met on this run.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Result

WORKLOADS = ("extract", "dbt", "send", "collector")
RESULTS = Path(__file__).with_name("RESULTS.md")
MEMORY_LIMIT_MIB = 1024


def _run(name: str, quick: bool) -> Result:
    if name == "extract":
        from bench import extract

        return extract.run(quick)
    if name == "dbt":
        from bench import dbt_cadences

        return dbt_cadences.run(quick)
    if name == "send":
        from bench import send

        return send.run(quick)
    if name == "collector":
        from bench import collector

        return collector.run(quick)
    raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")


def machine() -> dict[str, str]:
    import psutil

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores (nproc)": str(os.cpu_count()), "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
            "cpu": cpu, "python": platform.python_version(), "os": platform.platform()}


def table(result: Result) -> str:
    head = ["measure", "ours", "anchor (same run)", "ratio", "target", "verdict"]
    lines = [f"### {result.workload}", "", f"Scale: {result.scale}", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result.rows:
        lines.append(f"| {row.measure} | {row.ours} | {row.anchor} | {row.ratio} | {row.target} | {row.verdict} |")
    # the fakes stand in for 1C / SendGrid (they hold the whole generated data set in memory): not our tasks
    tasks = {k: v for k, v in result.peak_rss_mib.items() if not k.startswith("fake")}
    fakes = {k: v for k, v in result.peak_rss_mib.items() if k.startswith("fake")}
    if tasks:
        per = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(tasks.items(), key=lambda kv: -kv[1]))
        lines.append(f"| peak RSS per process (MiB) | {per} | - | - | < 1,024 MiB each | "
                     f"{'met' if max(tasks.values()) < MEMORY_LIMIT_MIB else 'NOT met'} |")
    if fakes:
        lines.append("| peak RSS of the fakes (MiB, not judged) | "
                     + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(fakes.items())) + " | - | - | - | - |")
    lines += ["", *[f"- {note}" for note in result.notes]]
    return "\n".join(lines).rstrip() + "\n"


def _terminate(*_) -> None:
    raise KeyboardInterrupt("SIGTERM")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute or two)")
    parser.add_argument("--only", default=",".join(WORKLOADS), help=f"comma list of {', '.join(WORKLOADS)}")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    # `kill` (or CI's timeout) must still drop the throwaway databases and stop the servers we started
    signal.signal(signal.SIGTERM, _terminate)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    for name in names:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    load_before = os.getloadavg()
    started = time.perf_counter()
    sections, failed = [], []
    for name in names:
        print(f">> {name}", flush=True)
        try:
            result = _run(name, args.quick)
        except Exception:  # one broken workload must not hide the others' figures
            failed.append(name)
            sections.append(f"### {name}\n\nFAILED:\n\n```\n{traceback.format_exc()[-3000:]}```\n")
            print(sections[-1], flush=True)
            continue
        sections.append(table(result))
        print("\n" + sections[-1], flush=True)
    load_after = os.getloadavg()
    info = machine()
    mode = "quick (`make bench-quick`)" if args.quick else "full (`make bench`)"
    header = [f"## Run: {mode}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {time.perf_counter() - started:.0f} s",
              "", "| machine | |", "|---|---|", *[f"| {k} | {v} |" for k, v in info.items()],
              f"| load average (1/5/15 min) before | {' / '.join(f'{x:.2f}' for x in load_before)} |",
              f"| load average (1/5/15 min) after | {' / '.join(f'{x:.2f}' for x in load_after)} |", ""]
    report = "\n".join(header) + "\n" + "\n".join(sections)
    print(f"total {time.perf_counter() - started:.0f} s")
    if not args.no_write:
        _write(args.out, report, "quick" if args.quick else "full")
        print(f"written to {args.out}")
    return 1 if failed else 0


def _write(path: Path, section: str, mode: str) -> None:
    """Keep the other mode's latest section: RESULTS.md holds the latest quick and the latest full run."""
    marker = {"quick": "<!-- quick -->", "full": "<!-- full -->"}
    text = path.read_text() if path.exists() else ""
    parts = {}
    for key, tag in marker.items():
        start = text.find(tag)
        if start >= 0:
            end = text.find("<!-- end -->", start)
            parts[key] = text[start:end + len("<!-- end -->")] if end >= 0 else ""
    parts[mode] = f"{marker[mode]}\n{section}\n<!-- end -->"
    intro = text.split("<!-- ", 1)[0] if text else "# Benchmark results\n\n"
    path.write_text(intro + "\n\n".join(parts[k] for k in ("full", "quick") if parts.get(k)) + "\n")


if __name__ == "__main__":
    sys.exit(main())
