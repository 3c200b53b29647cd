"""Drift alert: a region's or segment's NPS falling by more than its combined margin of error month over month.

Reported, never a failure. The margin of the difference of two independent estimates is sqrt(moe1^2 + moe2^2) with
each `nps_moe_95` the mart's adjusted-Wald 95 % margin in points (contract §5).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import psycopg
from psycopg import sql

DIMENSIONS = (("nps_by_region", "region"), ("nps_by_segment", "segment"))


@dataclass(frozen=True)
class Drift:
    mart: str
    dimension: str
    value: str
    month: date
    previous_nps: float
    nps: float
    drop: float
    margin: float
    responses: int
    previous_responses: int

    def describe(self) -> str:
        return (f"{self.dimension} {self.value!r}: NPS {self.previous_nps:+.1f} -> {self.nps:+.1f} in "
                f"{self.month:%Y-%m} (drop {self.drop:.1f} > margin {self.margin:.1f}; "
                f"n={self.previous_responses}->{self.responses})")

    def as_dict(self) -> dict:
        return {**asdict(self), "month": self.month.isoformat()}


def first_of_month(value: date) -> date:
    return value.replace(day=1)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def nps_drift(dsn: str, month: date, schema: str = "marts") -> list[Drift]:
    """Regions / segments whose NPS in `month` fell from the month before by more than the combined margin."""
    month = first_of_month(month)
    before = previous_month(month)
    found: list[Drift] = []
    with psycopg.connect(dsn) as conn:
        for table, dim in DIMENSIONS:
            if conn.execute("select to_regclass(%s) is null", (f"{schema}.{table}",)).fetchone()[0]:
                continue
            query = sql.SQL("""
                select cur.{dim}, prev.nps, cur.nps, prev.nps_moe_95, cur.nps_moe_95, cur.responses, prev.responses
                from {tbl} cur join {tbl} prev on prev.{dim} is not distinct from cur.{dim} and prev.month = %s
                where cur.month = %s and cur.nps is not null and prev.nps is not null
                order by cur.{dim}""").format(dim=sql.Identifier(dim), tbl=sql.Identifier(schema, table))
            for value, prev_nps, nps, prev_moe, moe, n, prev_n in conn.execute(query, (before, month)):
                drop = float(prev_nps) - float(nps)
                margin = math.sqrt(float(prev_moe or 0) ** 2 + float(moe or 0) ** 2)
                if drop > margin:
                    found.append(Drift(table, dim, str(value), month, float(prev_nps), float(nps), round(drop, 2),
                                       round(margin, 2), int(n or 0), int(prev_n or 0)))
    return found


def report_drift(dsn: str, month: date, schema: str = "marts", run_id: str | None = None) -> list[Drift]:
    """`nps_drift` plus one `drift` alert per finding (recorded; e-mailed when NPS_ALERT_EMAILS is set)."""
    from nps.quality import alerts

    drifts = nps_drift(dsn, month, schema)
    if drifts:
        alerts.raise_alert(dsn, "drift", f"NPS fell beyond its margin of error in {len(drifts)} "
                                         f"region(s)/segment(s) in {first_of_month(month):%Y-%m}",
                           run_id=run_id, logical_date=first_of_month(month),
                           details={"drifts": [d.as_dict() for d in drifts],
                                    "lines": [d.describe() for d in drifts]})
    return drifts
