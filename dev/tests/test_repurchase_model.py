"""The generator's repurchase model and the demo's planting of it in the fake 1C (no services, no database)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nps_dev.demo import DELIVERIES, ORDERS, SALES, Repurchases
from nps_dev.fakes.onec import OneCFake
from nps_dev.generator import GeneratorConfig, generate
from nps_dev.generator.core import EMPTY_GUID
from nps_dev.generator.repurchase import RepurchaseModel, repeat_sale

KYIV = ZoneInfo("Europe/Kyiv")
ANSWERED = datetime(2026, 3, 20, 15, 30, tzinfo=KYIV)   # a 14-day window across the switch to summer time


def test_probabilities_per_category_uplift_and_no_effect():
    model = RepurchaseModel()
    assert model.probability("promoter") > model.probability("passive") > model.probability("detractor")
    assert model.probability("detractor", closed_in_sla=True) == pytest.approx(
        model.detractor + model.closed_in_sla_uplift)
    assert model.probability("promoter", closed_in_sla=True) == model.promoter   # the uplift is the detractors'
    # the uplift turns exactly the detractors whose draw lies between the two rates
    assert [model.buys_again("detractor", u, True) and not model.buys_again("detractor", u)
            for u in (0.39, 0.41, 0.54, 0.56)] == [False, True, True, False]
    none = RepurchaseModel.no_effect(0.45)
    assert {none.probability(c, s) for c in ("promoter", "passive", "detractor") for s in (False, True)} == {0.45}
    with pytest.raises(ValueError):
        RepurchaseModel(detractor=0.9, closed_in_sla_uplift=0.2)


def test_purchases_fall_inside_the_window_after_it_or_never():
    model, rng, window = RepurchaseModel(late_rate=0.3), random.Random(5), 14
    end = ANSWERED + timedelta(days=window)   # wall-clock arithmetic: 1C's local time, as the marts compare
    bought = [model.purchase_at(ANSWERED, window, True, rng) for _ in range(2000)]
    assert all(ANSWERED < at < end for at in bought)
    assert min(bought) - ANSWERED < timedelta(days=1) and end - max(bought) < timedelta(days=1)
    other = [model.purchase_at(ANSWERED, window, False, rng) for _ in range(4000)]
    late = [at for at in other if at is not None]
    assert all(end <= at < end + timedelta(days=window) for at in late)
    assert abs(len(late) / len(other) - 0.3) < 0.03
    after = ANSWERED + timedelta(days=10)
    assert all(after <= model.purchase_at(ANSWERED, window, True, rng, after=after) < end for _ in range(200))
    assert model.purchase_at(ANSWERED, window, True, rng, after=end) is None   # called back after the window


def test_repeat_sale_is_a_counter_sale_of_the_same_goods():
    sale = {"Ref_Key": "a1", "Number": "РТ00-000001", "Date": "2026-03-01T10:00:00", "Заказ_Key": "o1",
            "Контрагент_Key": "c1", "Posted": False, "Товары": [{"Ref_Key": "a1", "LineNumber": "1", "Сумма": 10.0}]}
    doc = repeat_sale(sale, ANSWERED + timedelta(days=3), random.Random(1))
    assert doc["Ref_Key"] != "a1" and doc["Number"] != sale["Number"] and doc["Posted"] and not doc["DeletionMark"]
    assert (doc["Контрагент_Key"], doc["Заказ_Key"], doc["Date"]) == ("c1", EMPTY_GUID, "2026-03-23T15:30:00")
    assert doc["Товары"] == [{"Ref_Key": doc["Ref_Key"], "LineNumber": "1", "Сумма": 10.0}]
    assert sale["Товары"][0]["Ref_Key"] == "a1"   # the surveyed sale is untouched


@pytest.fixture
def onec(tmp_path):
    generate(tmp_path, GeneratorConfig(seed=3, customers=40, start=date(2026, 2, 1), days=60))
    return OneCFake(tmp_path / "onec")


def _surveyed(onec: OneCFake) -> tuple[dict, datetime]:
    """A customer's first order's sale, answered 20 days later, with generated orders after the answer."""
    orders = sorted(onec.all(ORDERS), key=lambda o: o["Date"])
    for order in orders:
        answered = datetime.fromisoformat(order["Date"]).replace(tzinfo=KYIV) + timedelta(days=20)
        later = [o for o in orders if o["Контрагент_Key"] == order["Контрагент_Key"]
                 and o["Date"] > answered.replace(tzinfo=None).isoformat()]
        sale = next((s for s in onec.all(SALES) if s["Заказ_Key"] == order["Ref_Key"]), None)
        if later and sale is not None:
            return sale, answered
    raise AssertionError("no customer with orders after an answer")


def _customer_sales(onec: OneCFake, customer: str, after: datetime) -> list[dict]:
    cut = after.replace(tzinfo=None).isoformat()
    return [s for s in onec.all(SALES) if s["Контрагент_Key"] == customer and s["Date"] > cut]


def test_an_answer_replaces_the_generated_later_orders_with_the_planted_purchase(onec):
    sale, answered = _surveyed(onec)
    customer = sale["Контрагент_Key"]
    earlier = {o["Ref_Key"] for o in onec.all(ORDERS) if o["Контрагент_Key"] == customer
               and o["Date"] <= answered.replace(tzinfo=None).isoformat()}
    repurchases = Repurchases(onec, RepurchaseModel(promoter=1.0, late_rate=0.0), 14, seed=1)
    repurchases.answered("sv1", sale["Ref_Key"], "promoter", answered)
    orders = {o["Ref_Key"] for o in onec.all(ORDERS) if o["Контрагент_Key"] == customer}
    assert orders == earlier and repurchases.removed > 0   # later orders gone, earlier ones kept
    assert not [d for d in onec.all(DELIVERIES) if d["Заказ_Key"] not in {o["Ref_Key"] for o in onec.all(ORDERS)}]
    (planted,) = _customer_sales(onec, customer, answered)
    assert planted["Заказ_Key"] == EMPTY_GUID and planted["DataVersion"]
    assert answered.replace(tzinfo=None) < datetime.fromisoformat(planted["Date"]) < (
        answered + timedelta(days=14)).replace(tzinfo=None)
    repurchases.answered("sv1", sale["Ref_Key"], "promoter", answered)   # the same answer again changes nothing
    assert len(_customer_sales(onec, customer, answered)) == 1 and repurchases.planted == 1


def test_a_case_closed_in_time_turns_a_detractor_into_a_buyer(onec):
    sale, answered = _surveyed(onec)
    customer = sale["Контрагент_Key"]
    model = RepurchaseModel(detractor=0.0, closed_in_sla_uplift=1.0, late_rate=0.0)
    repurchases = Repurchases(onec, model, 14, seed=1)
    repurchases.answered("sv2", sale["Ref_Key"], "detractor", answered)
    assert _customer_sales(onec, customer, answered) == []
    called = answered + timedelta(days=1)
    repurchases.closed_in_sla("sv2", called)
    repurchases.closed_in_sla("sv2", called)   # once per case
    (planted,) = _customer_sales(onec, customer, answered)
    assert called.replace(tzinfo=None) <= datetime.fromisoformat(planted["Date"])
    repurchases.closed_in_sla("unknown", called)   # a case of an answer the demo did not plant for
    assert repurchases.planted == 1


def test_planted_rates_follow_the_model():
    model, rng = RepurchaseModel(), random.Random(9)
    counts: Counter = Counter()
    for _ in range(6000):
        for category in ("promoter", "detractor"):
            at = model.purchase_at(ANSWERED, 14, model.buys_again(category, rng.random()), rng)
            counts[category] += at is not None and at < ANSWERED + timedelta(days=14)
    assert abs(counts["promoter"] / 6000 - model.promoter) < 0.02
    assert abs(counts["detractor"] / 6000 - model.detractor) < 0.02
