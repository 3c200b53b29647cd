"""Whether a customer buys again after answering a survey: the effect the repurchase marts must find, planted.

    model = RepurchaseModel()                       # the defaults: promoters buy again more often than detractors
    model = RepurchaseModel.no_effect()             # everyone alike: the marts must find no difference
    buys = model.buys_again(category, u, closed_in_sla=False)
    at = model.purchase_at(answered_at, window_days, buys, rng)   # a datetime, or None (never buys again)
    doc = repeat_sale(surveyed_sale, at, rng)       # that purchase as a 1C sale document

The probability of buying again within the short repurchase window (`NPS_REPURCHASE_SHORT_DAYS`, passed in as
`window_days`) depends on the answer's NPS category, plus an uplift for a detractor whose case was closed within its
SLA. A customer who does not buy within the window buys only in the window after it (`late_rate`) or never, so the
window's end is exercised. `u` is the customer's one uniform draw: the demo decides at the answer and again when a
manager closes the case in time, and the uplift then turns only customers who would not have bought anyway.
Times are 1C's wall clock (Europe/Kyiv): the marts compare sales with the answer in local time.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from nps_dev.generator.core import EMPTY_GUID


@dataclass(frozen=True)
class RepurchaseModel:
    promoter: float = 0.60       # probability of buying again within the short window, per NPS category
    passive: float = 0.50
    detractor: float = 0.40
    closed_in_sla_uplift: float = 0.15  # added for a detractor whose case a manager closed within its SLA
    late_rate: float = 0.30      # of those who do not buy within the window: they buy in the window after it

    def __post_init__(self) -> None:
        rates = (self.promoter, self.passive, self.detractor, self.detractor + self.closed_in_sla_uplift,
                 self.late_rate)
        if not all(0.0 <= p <= 1.0 for p in rates):
            raise ValueError(f"repurchase probabilities must lie in 0..1: {self}")

    @classmethod
    def no_effect(cls, rate: float = 0.5) -> RepurchaseModel:
        """Every category alike and no uplift: the marts should find nothing."""
        return cls(promoter=rate, passive=rate, detractor=rate, closed_in_sla_uplift=0.0)

    def probability(self, category: str, closed_in_sla: bool = False) -> float:
        p = {"promoter": self.promoter, "passive": self.passive, "detractor": self.detractor}[category]
        return p + self.closed_in_sla_uplift if closed_in_sla and category == "detractor" else p

    def buys_again(self, category: str, u: float, closed_in_sla: bool = False) -> bool:
        """Within the window, for the customer whose uniform draw is `u` (in [0, 1))."""
        return u < self.probability(category, closed_in_sla)

    def purchase_at(self, answered_at: datetime, window_days: int, buys: bool, rng: random.Random,
                    after: datetime | None = None) -> datetime | None:
        """When the customer buys next: inside the window (not before `after`) when `buys`, else in the window after
        it with probability `late_rate`, else never (None). Whole minutes, never on the window's end itself."""
        end = answered_at + timedelta(days=window_days)
        if buys:
            start = max(answered_at, after or answered_at)
            minutes = int((end - start).total_seconds() // 60)
            return start + timedelta(minutes=rng.randrange(1, minutes)) if minutes > 1 else None
        if rng.random() < self.late_rate:
            return end + timedelta(minutes=rng.randrange(1, window_days * 24 * 60))
        return None


def repeat_sale(sale: dict, at: datetime, rng: random.Random) -> dict:
    """The customer buys the surveyed goods again over the counter: a 1C sale without an order (like the generator's
    direct sales), dated `at` on 1C's clock. The fake 1C gives it its DataVersion."""
    ref = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    local = at.replace(tzinfo=None, microsecond=0)
    return {**sale, "Ref_Key": ref, "Number": f"РТ00-П{rng.randrange(10**6):06d}", "Date": local.isoformat(),
            "Posted": True, "DeletionMark": False, "Заказ_Key": EMPTY_GUID,
            "Товары": [{**row, "Ref_Key": ref} for row in sale.get("Товары", [])]}


__all__ = ["RepurchaseModel", "repeat_sale"]
