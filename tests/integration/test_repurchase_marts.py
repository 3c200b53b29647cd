"""Issue 24 (items 1-2): what answering customers bought before and after their answer, and the repurchase marts built
on it, against the same numbers recomputed here in Python from a generated dataset.

The dbt test dataset gets months of later 1C sales and detractor cases on top (tests/repurchase_support.py); one
`dbt build` as of 2026-08-20 leaves every 90-day window closed and only the earliest answers' 180-day windows, so
both sides of the maturity rule are exercised. The statistics are recomputed with Python's math (erfc for the
p-value), not with the dbt macros.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from dbt_dataset import KYIV, Dataset, latest_answers, survey_id
from repurchase_support import AS_OF_DAY, built_marts

WINDOWS = (90, 180)
UAH = ("UAH", "980")
Z = 1.96


@pytest.fixture(scope="module")
def built(warehouse_url: str, tmp_path_factory):
    with built_marts(warehouse_url, tmp_path_factory.mktemp("dbt_repurchase")) as marts:
        yield marts


# ---- ground truth, without SQL ---------------------------------------------------------------------------------------
def expected_outcomes(ds: Dataset, extra: list[dict]) -> dict[tuple, dict]:
    """(survey_id, window_days) -> what int_answer_outcomes must say: an order (a sale without one is its own) counts
    in the window of its first non-cancelled shipment, worth the UAH amounts of all of them."""
    orders: dict[tuple, dict] = {}
    for s in ds.sales + extra:
        if s["posted"] and not s["deletion_mark"]:
            order = orders.setdefault((s["customer_ref"], s["order_ref"] or s["ref_key"]),
                                      {"at": s["sale_date"], "revenue": Decimal(0)})
            order["at"] = min(order["at"], s["sale_date"])
            order["revenue"] += Decimal(s["amount"]) if s["currency"] in UAH else 0
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for (customer, _), order in orders.items():
        by_customer[customer].append(order)
    surveyed = {survey_id(s["ref_key"]): s for s in ds.sales}
    out = {}
    for sid, answer in latest_answers(ds).items():
        at = answer["responded_at"].astimezone(KYIV).replace(tzinfo=None)   # 1C's clock: Kyiv wall time
        answered_on = at.date()
        own = by_customer[surveyed[sid]["customer_ref"]]
        later = sorted(o["at"] for o in own if o["at"] >= at)
        for days in WINDOWS:
            before = [o for o in own if at - timedelta(days=days) <= o["at"] < at]
            after = [o for o in own if at <= o["at"] < at + timedelta(days=days)]
            closed = answered_on + timedelta(days=days) < AS_OF_DAY
            out[(sid, days)] = {
                "is_window_closed": closed,
                "orders_before": len(before),
                "revenue_before": sum(o["revenue"] for o in before),
                "orders_after": len(after) if closed else None,
                "revenue_after": sum(o["revenue"] for o in after) if closed else None,
                "has_repurchased": True if after else (False if closed else None),
                "first_purchase_after_on": later[0].date() if later else None,
                "month": answered_on.replace(day=1), "nps_category": category(answer["score"]),
            }
    return out


def category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def wilson(x: int, n: int) -> tuple[float, float] | tuple[None, None]:
    if n == 0:
        return None, None
    p = x / n
    center, half = p + Z * Z / (2 * n), Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (center - half) / (1 + Z * Z / n), (center + half) / (1 + Z * Z / n)


def newcombe(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = wilson(x1, n1), wilson(x2, n2)
    return p1 - p2 - math.hypot(p1 - l1, u2 - p2), p1 - p2 + math.hypot(u1 - p1, p2 - l2)


def close(actual, expected: float | None, tolerance: float) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    return abs(float(actual) - expected) <= tolerance


# ---- the tests -------------------------------------------------------------------------------------------------------
def test_build_is_green_and_exercises_both_sides_of_maturity(built):
    assert built["outcome"].success and not built["outcome"].failures
    rows = built["int_answer_outcomes"]
    closed = Counter((r["window_days"], r["is_window_closed"]) for r in rows)
    assert closed[(90, True)] > 100 and closed[(90, False)] == 0
    assert closed[(180, True)] > 10 and closed[(180, False)] > 10
    assert {r["has_repurchased"] for r in rows} == {True, False, None}


def test_answer_outcomes_equal_the_recomputation(built):
    expected = expected_outcomes(built["ds"], built["extra"])
    actual = {(r["survey_id"], r["window_days"]): r for r in built["int_answer_outcomes"]}
    assert set(actual) == set(expected)
    for key, want in expected.items():
        got = {name: actual[key][name] for name in want if name not in ("month", "nps_category")}
        assert got == {k: v for k, v in want.items() if k not in ("month", "nps_category")}, key
    # an open window never reads as "did not buy"
    assert not [r for r in actual.values() if not r["is_window_closed"] and r["has_repurchased"] is False]


def test_repurchase_by_category_counts_and_wilson_intervals(built):
    expected = expected_outcomes(built["ds"], built["extra"])
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for (_, days), o in expected.items():
        c = counts[(o["month"], o["nps_category"], days)]
        c["matured"] += o["is_window_closed"]
        c["repurchased"] += o["is_window_closed"] and bool(o["has_repurchased"])
    rows = {(r["month"], r["nps_category"], r["window_days"]): r for r in built["repurchase_by_category"]
            if r["dimension"] == "all"}
    assert set(rows) == set(counts)
    for key, c in counts.items():
        row, (lower, upper) = rows[key], wilson(c["repurchased"], c["matured"])
        assert (row["matured"], row["repurchased"], row["churned"]) == (
            c["matured"], c["repurchased"], c["matured"] - c["repurchased"]), key
        assert close(row["repurchase_rate_lower"], lower, 5e-5) and close(row["repurchase_rate_upper"], upper, 5e-5)
        churn_lower, churn_upper = wilson(c["matured"] - c["repurchased"], c["matured"])
        assert close(row["churn_rate_lower"], churn_lower, 5e-5) and close(row["churn_rate_upper"], churn_upper, 5e-5)
    # the region and segment rows split the same answers
    for dimension in ("region", "segment"):
        split: Counter = Counter()
        for r in built["repurchase_by_category"]:
            if r["dimension"] == dimension:
                split[(r["month"], r["nps_category"], r["window_days"])] += r["matured"]
        assert all(split[key] == row["matured"] for key, row in rows.items()), dimension


def test_repurchase_difference_over_all_months(built):
    expected = expected_outcomes(built["ds"], built["extra"])
    for days in WINDOWS:
        matured = [o for (_, d), o in expected.items() if d == days and o["is_window_closed"]]
        groups = {c: [o for o in matured if o["nps_category"] == c] for c in ("promoter", "detractor")}
        x1, n1 = sum(bool(o["has_repurchased"]) for o in groups["promoter"]), len(groups["promoter"])
        x2, n2 = sum(bool(o["has_repurchased"]) for o in groups["detractor"]), len(groups["detractor"])
        row = next(r for r in built["repurchase_difference"] if r["period"] == "all" and r["window_days"] == days)
        assert (row["promoters_matured"], row["promoters_repurchased"], row["detractors_matured"],
                row["detractors_repurchased"]) == (n1, x1, n2, x2)
        lower, upper = newcombe(x1, n1, x2, n2)
        assert close(row["difference_lower"], lower, 5e-5) and close(row["difference_upper"], upper, 5e-5)
        assert row["is_significant"] == (lower > 0 or upper < 0)
    months = {r["period"] for r in built["repurchase_difference"]}
    assert "all" in months and len(months) > 2


def test_closed_loop_effect_groups_and_two_proportion_test(built):
    expected = expected_outcomes(built["ds"], built["extra"])
    in_sla = {c["survey_id"] for c in built["cases"]
              if c["status"] == "closed" and c["closed_at"].astimezone(KYIV).date() <= c["sla_due_date"]}
    rows = {r["window_days"]: r for r in built["closed_loop_effect"]}
    for days in WINDOWS:
        detractors = [(sid, o) for (sid, d), o in expected.items()
                      if d == days and o["nps_category"] == "detractor" and o["is_window_closed"]]
        x1 = sum(bool(o["has_repurchased"]) for sid, o in detractors if sid in in_sla)
        n1 = sum(sid in in_sla for sid, _ in detractors)
        x2 = sum(bool(o["has_repurchased"]) for sid, o in detractors if sid not in in_sla)
        n2 = len(detractors) - n1
        row = rows[days]
        assert (row["in_sla_matured"], row["in_sla_repurchased"], row["other_matured"], row["other_repurchased"]) == (
            n1, x1, n2, x2)
        assert days != 90 or (n1 > 10 and n2 > 10), "both groups should have matured detractors"
        pooled = (x1 + x2) / (n1 + n2)
        if pooled in (0, 1):   # everyone (or no one) bought again: nothing to test
            assert row["z"] is None and row["p_value"] is None and not row["is_significant"]
        else:
            z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
            p_value = math.erfc(abs(z) / math.sqrt(2))
            assert close(row["z"], z, 5e-5) and close(row["p_value"], p_value, 1e-6)
            assert row["is_significant"] == (p_value < 0.05)
        lower, upper = newcombe(x1, n1, x2, n2)
        assert close(row["difference_lower"], lower, 5e-5) and close(row["difference_upper"], upper, 5e-5)


def test_nps_drivers_with_and_without_each_fact(built):
    ds = built["ds"]
    truth = {survey_id(ref): t for ref, t in ds.purchase_truth.items()}
    latest = latest_answers(ds)
    facts = {sid: {"on_time": str(truth[sid]["on_time"]).lower(), "in_full": str(truth[sid]["in_full"]).lower(),
                   "otif": str(truth[sid]["on_time"] and truth[sid]["in_full"]).lower(),
                   "delivery_bucket": truth[sid]["bucket"],
                   "segment": ds.customer_truth[truth[sid]["customer_ref"]]["segment"]} for sid in latest}
    rows = {(r["fact"], r["fact_value"]): r for r in built["nps_drivers"]}
    assert {fact for fact, _ in rows} == {"on_time", "in_full", "otif", "delivery_bucket", "order_size_band", "segment"}
    for (fact, value), row in rows.items():
        if fact == "order_size_band":
            continue
        side = Counter(category(latest[sid]["score"]) for sid in latest if facts[sid][fact] == value)
        rest = Counter(category(latest[sid]["score"]) for sid in latest if facts[sid][fact] != value)
        n1, n2 = sum(side.values()), sum(rest.values())
        assert (row["responses_with"], row["responses_without"]) == (n1, n2), (fact, value)
        if n2 == 0:
            assert row["nps_difference"] is None and not row["is_significant"]
            continue
        nps1 = round(100 * (side["promoter"] - side["detractor"]) / n1, 2)
        nps2 = round(100 * (rest["promoter"] - rest["detractor"]) / n2, 2)

        def variance(c: Counter, n: int) -> float:
            p, d = (c["promoter"] + 0.75) / (n + 3), (c["detractor"] + 0.75) / (n + 3)
            return (p + d - (p - d) ** 2) / (n + 3)

        # adjusted Wald: centred on the NPS with 3 pseudo-answers a side, not on the raw difference
        centre = 100 * ((side["promoter"] - side["detractor"]) / (n1 + 3)
                        - (rest["promoter"] - rest["detractor"]) / (n2 + 3))
        margin = Z * 100 * math.sqrt(variance(side, n1) + variance(rest, n2))
        assert close(row["nps_difference"], nps1 - nps2, 0.011), (fact, value)
        assert close(row["difference_lower"], centre - margin, 0.006), (fact, value)
        assert close(row["difference_upper"], centre + margin, 0.006), (fact, value)
        assert row["is_significant"] == (centre - margin > 0 or centre + margin < 0), (fact, value)
    bands = Counter({value: row["responses_with"] for (fact, value), row in rows.items() if fact == "order_size_band"})
    assert set(bands) <= {"small", "medium", "large"} and sum(bands.values()) == len(latest)
