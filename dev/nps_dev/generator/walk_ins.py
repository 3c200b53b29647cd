"""The demo's walk-in customers at the distributor's own shops, each with an NPS kiosk by the till (issue 23).

    visits = walk_ins(SHOPS, day, rng, ResponseModel())   # the day's kiosk sessions, in time order

A shop's sessions per day are Poisson around its `traffic` (Saturdays busier, Sundays quieter), between 10:00 and
20:00. A share of the customers who tap the screen walk away before choosing a score (`ABANDONED`: the kiosk funnel
is not 100 %). The others score as a retail customer who took the goods home at once (`ResponseModel.expected_score`
of an on-time, in-full purchase) plus the shop's own `effect`, with the model's spread; a detractor names the shop's
weak spot more often than not, and a few leave a short comment (`generator/comments.py`, fewer than by e-mail:
typing on a kiosk is a chore). Kiosk answers are anonymous: no customer, no purchase, only the shop.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from nps_dev.generator.comments import comment as write_comment
from nps_dev.generator.responses import Answer, ResponseModel

KYIV = ZoneInfo("Europe/Kyiv")
ABANDONED = 0.15  # of the sessions begun
CALL_BACK = 0.3  # the detractors who leave a phone for a call back (the kiosk offers it after 0-6)
COMMENTED = {"detractor": 0.35, "passive": 0.15, "promoter": 0.2}
DAY_FACTOR = {5: 1.5, 6: 0.6}  # Saturday, Sunday; weekdays 1.0
# the collector's reasons a shop visit can have -> the comment theme that says it
THEMES = {"service": "manager", "product_quality": "product_quality", "price": "price"}


@dataclass(frozen=True)
class Shop:
    location_id: str
    name: str
    region: str                      # any spelling the oblast seed knows: the oblast its answers count in
    traffic: float                   # kiosk sessions on a weekday (mean)
    effect: float = 0.0              # score points the shop adds to or takes from a retail customer's mean
    weak_spot: str = "price"         # the reason its detractors name most (a key of THEMES)
    languages: tuple[str, ...] = ("uk",) * 8 + ("ru", "en")  # drawn uniformly


SHOPS = (
    Shop("kyiv-khreshchatyk", "Магазин на Хрещатику", "Київ", 3.0, 0.3, "price", ("uk",) * 7 + ("ru", "en", "en")),
    Shop("lviv-rynok", "Магазин на площі Ринок", "Львів", 2.0, 0.5, "price", ("uk",) * 9 + ("pl",)),
    Shop("odesa-derybasivska", "Магазин на Дерибасівській", "Одеса", 1.8, -0.4, "service",
         ("uk",) * 5 + ("ru",) * 4 + ("en",)),
    Shop("dnipro-yavornytskoho", "Магазин на проспекті Яворницького", "Дніпро", 1.6, -1.2, "product_quality",
         ("uk",) * 7 + ("ru",) * 3),
)


@dataclass(frozen=True)
class Visit:
    shop: Shop
    at: datetime             # the session begins (Europe/Kyiv)
    session_id: str          # 32 hex: the kiosk page's id of the session, and of its answer
    answer: Answer | None    # None: walked away before choosing a score
    contact: str | None = None  # a phone left with the consent ticked (a detractor asking to be called back)


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the few visits a shop has a day."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def shop_answer(shop: Shop, rng: random.Random, model: ResponseModel) -> Answer:
    """A walk-in's score, reasons and maybe a comment, in one of the shop's languages."""
    mean = model.expected_score({"segment": "retail", "delay_days": 0, "in_full": True}) + shop.effect
    score = int(round(min(10.0, max(0.0, rng.gauss(mean, model.score_sd)))))
    language = rng.choice(shop.languages)
    category = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    if category == "detractor" and rng.random() < 0.6:
        reasons = [shop.weak_spot]
    else:
        reasons = rng.sample(sorted(THEMES), k=rng.choice([1, 1, 2]))
    text = None
    if rng.random() < COMMENTED[category]:
        tone = {"promoter": "+", "detractor": "-"}.get(category) or rng.choice("+-")
        words = random.Random(rng.random())  # its own stream, as in ResponseModel.decide
        text, _ = write_comment(words, language, [(THEMES[reason], tone) for reason in reasons])
    return Answer(score, text, reasons, language, delay_hours=round(rng.uniform(0.5, 2.0) / 60, 4))


def call_back(session_id: str, answer: Answer | None) -> str | None:
    """About a third of the detractors leave a phone, typed the local way, with consent to be called back. Drawn from
    the session id, not the generator's stream, so the other visits stay as they were."""
    if answer is None or answer.score > 6 or int(session_id[:2], 16) >= CALL_BACK * 256:
        return None
    digits = str(int(session_id[2:12], 16))[-7:].rjust(7, "0")
    return f"067 {digits[:3]} {digits[3:5]} {digits[5:]}"


def walk_ins(shops: tuple[Shop, ...], day: date, rng: random.Random, model: ResponseModel) -> list[Visit]:
    """The kiosk sessions of `day` in every shop, in time order. Deterministic given `rng`."""
    visits = []
    for shop in shops:
        for _ in range(poisson(rng, shop.traffic * DAY_FACTOR.get(day.weekday(), 1.0))):
            at = datetime(day.year, day.month, day.day, 10, tzinfo=KYIV) + timedelta(seconds=rng.randrange(10 * 3600))
            session_id = f"{rng.getrandbits(128):032x}"
            answer = None if rng.random() < ABANDONED else shop_answer(shop, rng, model)
            visits.append(Visit(shop, at, session_id, answer, call_back(session_id, answer)))
    return sorted(visits, key=lambda visit: visit.at)


__all__ = ["SHOPS", "Shop", "Visit", "walk_ins"]
