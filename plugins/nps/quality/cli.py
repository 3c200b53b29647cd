"""`nps quality ...`: run the gates, the drift report and the daily summary by hand (what the DAG tasks call)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from nps import connections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nps quality", description="data-quality gates")
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("raw", help="validate the raw suites, write quality.expectation_results, build Data Docs")
    p.add_argument("--date", type=date.fromisoformat, default=None, help="logical date (default: today)")
    p.add_argument("--run-id", default=None)
    p = sub.add_parser("drift", help="NPS falls beyond the combined margin of error, month over month")
    p.add_argument("month", type=date.fromisoformat, help="any day of the month, e.g. 2026-03-01")
    p = sub.add_parser("summary", help="print (or --send) the daily data-quality summary")
    p.add_argument("day", type=date.fromisoformat)
    p.add_argument("--send", action="store_true", help="e-mail it to NPS_DQ_SUMMARY_EMAILS")
    args = parser.parse_args(argv)
    dsn = connections.warehouse_dsn()

    if args.what == "raw":
        from nps import clock
        from nps.quality import validate_raw

        run_id = args.run_id or f"manual__{clock.now():%Y%m%dT%H%M%S}"
        result = validate_raw(dsn, run_id, args.date)
        print(result.summary())
        return 1 if result.critical_failures else 0
    if args.what == "drift":
        from nps.quality.drift import nps_drift

        drifts = nps_drift(dsn, args.month)
        for d in drifts:
            print(d.describe())
        print(json.dumps({"drifts": len(drifts)}))
        return 0
    from nps.quality import summary

    result = summary.send_daily_summary(dsn, args.day) if args.send else summary.build_daily_summary(dsn, args.day)
    print(result.text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
