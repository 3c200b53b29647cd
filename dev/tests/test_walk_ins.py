"""The demo's shops (issue 23): walk-ins at the kiosks, invoices whose QR code is scanned, answers by channel (no
services, no database)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime
from statistics import mean
from zoneinfo import ZoneInfo

from nps.collector.i18n import REASONS
from nps.collector.kiosk import LOCATION_ID, answer_survey_id, contact_of
from nps_dev.demo import by_channel, invoice_arrivals
from nps_dev.generator.core import EMPTY_DATE, EMPTY_GUID
from nps_dev.generator.responses import ResponseModel
from nps_dev.generator.walk_ins import ABANDONED, SHOPS, Shop, poisson, walk_ins

KYIV = ZoneInfo("Europe/Kyiv")
MONDAY = date(2026, 3, 2)


def days(n: int, seed: int = 3) -> list:
    rng, model = random.Random(seed), ResponseModel()
    return [walk_ins(SHOPS, date.fromordinal(MONDAY.toordinal() + d), rng, model) for d in range(n)]


def test_the_same_seed_gives_the_same_visits():
    assert days(7, seed=11) == days(7, seed=11)
    assert days(7, seed=11) != days(7, seed=12)


def test_visits_are_in_opening_hours_in_time_order_with_kiosk_ids():
    for visits in days(14):
        assert [v.at for v in visits] == sorted(v.at for v in visits)
        for visit in visits:
            assert visit.at.tzinfo == KYIV and 10 <= visit.at.hour < 20
            assert answer_survey_id("kq", visit.session_id) == "kq" + visit.session_id  # what the kiosk accepts
            if visit.answer is not None:
                assert 0 <= visit.answer.score <= 10 and set(visit.answer.reasons) <= set(REASONS)
                assert visit.answer.language in visit.shop.languages
                assert 0 < visit.answer.delay_hours < 0.05  # answered within minutes


def test_traffic_abandonment_and_scores_follow_the_shops():
    visits = [v for day in days(120) for v in day]
    per_shop = Counter(v.shop.location_id for v in visits)
    weekly = {s.location_id: s.traffic * (5 + 1.5 + 0.6) / 7 * 120 for s in SHOPS}
    for shop in SHOPS:
        assert abs(per_shop[shop.location_id] / weekly[shop.location_id] - 1) < 0.15
    walked_away = sum(v.answer is None for v in visits) / len(visits)
    assert abs(walked_away - ABANDONED) < 0.04  # the kiosk funnel is not 100 %
    score = {s.location_id: mean(v.answer.score for v in visits if v.shop == s and v.answer) for s in SHOPS}
    best, worst = max(SHOPS, key=lambda s: s.effect), min(SHOPS, key=lambda s: s.effect)
    assert score[best.location_id] - score[worst.location_id] > 1.0
    commented = [v.answer.comment for v in visits if v.answer and v.answer.comment]
    assert 0.1 < len(commented) / per_shop.total() < 0.4 and len(set(commented)) > len(commented) / 2


def test_saturdays_are_busier_than_sundays():
    shop = Shop("one", "Одна", "Київ", traffic=4.0)
    rng, model = random.Random(1), ResponseModel()
    saturday, sunday = date(2026, 3, 7), date(2026, 3, 8)
    assert sum(len(walk_ins((shop,), saturday, rng, model)) for _ in range(300)) > \
        2 * sum(len(walk_ins((shop,), sunday, rng, model)) for _ in range(300))
    assert abs(mean(poisson(rng, 2.5) for _ in range(5000)) - 2.5) < 0.1


def test_shops_are_valid_kiosk_locations_in_oblasts_the_seed_knows():
    from pathlib import Path

    seed = Path(__file__).parents[2] / "dbt_project" / "seeds" / "oblast_spellings.csv"
    spellings = {line.split(",")[0] for line in seed.read_text(encoding="utf-8").splitlines()}
    assert all(LOCATION_ID.match(s.location_id) and s.region in spellings for s in SHOPS)
    assert len({s.location_id for s in SHOPS}) == len(SHOPS) >= 3


def sale(ref: str, when: str, order: str = EMPTY_GUID, posted: bool = True) -> dict:
    return {"Ref_Key": ref, "Date": when, "Заказ_Key": order, "Posted": posted, "DeletionMark": False}


def test_invoices_arrive_with_the_goods_over_the_counter_at_once_and_never_when_lost():
    sales = [sale("counter", "2026-03-05T12:00:00"),
             sale("delivered", "2026-03-03T09:00:00", "o1"),
             sale("follow-up", "2026-03-04T16:00:00", "o1"),      # shipped after o1's delivery: its own trip
             sale("lost", "2026-03-03T10:00:00", "o2"),
             sale("draft", "2026-03-05T10:00:00", posted=False),
             sale("in-transit", "2026-03-04T10:00:00", "o3")]
    deliveries = [{"Заказ_Key": "o1", "ДатаДоставки": "2026-03-04T11:30:00"},
                  {"Заказ_Key": "o2", "ДатаДоставки": EMPTY_DATE}]

    def on(day: date) -> list[tuple[str, datetime]]:
        return [(s["Ref_Key"], at) for s, at in invoice_arrivals(sales, deliveries, day)]

    assert on(date(2026, 3, 4)) == [("delivered", datetime(2026, 3, 4, 11, 30, tzinfo=KYIV))]
    assert on(date(2026, 3, 5)) == [("counter", datetime(2026, 3, 5, 12, tzinfo=KYIV))]
    assert on(date(2026, 3, 6)) == [("follow-up", datetime(2026, 3, 6, 16, tzinfo=KYIV))]
    assert on(date(2026, 3, 3)) == []


def test_answers_by_channel_line():
    assert by_channel(Counter({"email": 12, "kiosk": 7})) == "e-mail 12, QR 0, kiosk 7"


def test_a_customer_answers_once_a_quarter_whatever_the_channel():
    from datetime import timedelta

    from nps_dev.demo import Customers

    customers = Customers(None, None, {}, "", "", 1, None)
    answered = datetime(2026, 3, 10, 12, tzinfo=KYIV)
    customers.last_answer["c1"] = answered
    assert customers.answered_lately("c1", answered + timedelta(days=20))      # an e-mail after a QR answer
    assert customers.answered_lately("c1", answered - timedelta(days=3))       # a scan planned before it
    assert not customers.answered_lately("c1", answered + timedelta(days=91))
    assert not customers.answered_lately("c2", answered)


def test_about_a_third_of_the_kiosk_detractors_leave_a_phone_the_collector_accepts():
    visits = [v for day in days(60, seed=7) for v in day]
    detractors = [v for v in visits if v.answer is not None and v.answer.score <= 6]
    called = [v for v in visits if v.contact]
    assert all(v.answer is not None and v.answer.score <= 6 for v in called)  # only after a low score
    assert 0.2 < len(called) / len(detractors) < 0.4
    assert all(contact_of(v.contact)["phone"].startswith("+38067") for v in called)
