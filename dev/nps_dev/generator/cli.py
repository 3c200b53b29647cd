"""`nps generate OUT_DIR [--seed N] [--customers N] [--start YYYY-MM-DD] [--days N] [--purchase-lines N]`."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from nps_dev.generator.core import GeneratorConfig, generate


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nps generate", description="generate a distributor's 1C / Bitrix24 data "
                                "into the fakes' JSON directories")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--customers", type=int, default=400)
    p.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 5))
    p.add_argument("--days", type=int, default=77)
    p.add_argument("--orders-per-customer", type=float, default=2.5)
    p.add_argument("--purchase-lines", type=int, default=None,
                   help="aim for this many sale lines (sets the order volume; e.g. 1000000 for the benchmark)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = GeneratorConfig(seed=args.seed, customers=args.customers, start=args.start, days=args.days,
                          orders_per_customer=args.orders_per_customer, target_purchase_lines=args.purchase_lines)
    summary = generate(args.out_dir, cfg)
    summary.pop("config", None)
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0
