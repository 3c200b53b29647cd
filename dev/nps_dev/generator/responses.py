"""How the demo's simulated customers answer an NPS survey (so the marts show real effects).

    model = ResponseModel(seed=42)
    fate = model.email_fate(email)          # "ok" | "bounce" | "unsubscribe" (stable per address)
    answer = model.decide(facts, rng)       # None (no answer) or Answer(score, comment, reasons, language, delay_hours)
    seen = model.engagement(answer, rng)    # {"open": bool, "click": bool}

`facts` is a mapping (or an object with attributes): `segment`, `language`, `delay_days` (int, None when never
delivered), `delivered` (bool, default `delay_days is not None`), `in_full` (bool), optionally `region`.

The model, all parameters in `ResponseModel.__init__`:
- response probability = base rate × segment factor × experience factor (angry customers answer a bit more);
- score ~ Normal(segment mean + delivery effect + in-full effect, 1.5), rounded and clamped to 0..10; delivery
  effects by bucket: on time +0.4, 1–3 days late −1.3, 4–7 days −2.8, 8+ days −4.2, never delivered −5.5; a short
  shipment −1.7;
- reasons (codes): `delivery_time`, `completeness`, `product_quality`, `price`, `manager`, `communication`; the
  delivery / completeness reasons appear when they caused the score;
- a comment (more often from detractors) in the customer's language (uk / ru / en / pl): the causes of a low
  score blamed, now and then one more thing praised or blamed in the score's tone, written from templates ×
  vocabulary with typos, emoji and mixed languages (`generator/comments.py`);
- `delay_hours`: how long after the e-mail the answer comes (log-normal, median ~8 h, some after days);
- `email_fate`: a fixed share of addresses bounce or unsubscribe (syntactically invalid ones bounce).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from nps_dev.generator.comments import comment as write_comment
from nps_dev.generator.comments import topics_for
from nps_dev.generator.core import _valid_email, stable_hash

BUCKET_EFFECT = {"on_time": 0.4, "late_1_3d": -1.3, "late_4_7d": -2.8, "late_8d_plus": -4.2, "not_delivered": -5.5}
BUCKET_RESPONSE = {"on_time": 1.0, "late_1_3d": 1.0, "late_4_7d": 1.08, "late_8d_plus": 1.18, "not_delivered": 1.3}
SEGMENT_MEAN = {"dealer": 8.4, "contractor": 7.9, "developer": 7.4, "retail": 8.6}
SEGMENT_RESPONSE = {"dealer": 1.25, "contractor": 1.0, "developer": 0.75, "retail": 0.8}

@dataclass(frozen=True)
class Answer:
    score: int
    comment: str | None
    reasons: list[str] = field(default_factory=list)
    language: str = "uk"
    delay_hours: float = 1.0

    @property
    def category(self) -> str:
        return "promoter" if self.score >= 9 else "passive" if self.score >= 7 else "detractor"


def delivery_bucket(delay_days: int | None, delivered: bool | None = None) -> str:
    """The contract's delivery buckets (marts.nps_by_delivery); `delivered` defaults to `delay_days is not None`."""
    if delivered is None:
        delivered = delay_days is not None
    if not delivered:
        return "not_delivered"
    if delay_days is None:  # delivered, but 1C holds no promised date to be late against
        return "on_time"
    if delay_days <= 0:
        return "on_time"
    if delay_days <= 3:
        return "late_1_3d"
    if delay_days <= 7:
        return "late_4_7d"
    return "late_8d_plus"


def _get(facts, name: str, default=None):
    if isinstance(facts, Mapping):
        return facts.get(name, default)
    return getattr(facts, name, default)


class ResponseModel:
    def __init__(self, seed: int = 42, *, base_response_rate: float = 0.34, score_sd: float = 1.5,
                 bounce_rate: float = 0.03, unsubscribe_rate: float = 0.015, segment_mean: dict | None = None,
                 segment_response: dict | None = None, bucket_effect: dict | None = None,
                 short_shipment_effect: float = -1.7) -> None:
        self.seed = seed
        self.base_response_rate = base_response_rate
        self.score_sd = score_sd
        self.bounce_rate, self.unsubscribe_rate = bounce_rate, unsubscribe_rate
        self.segment_mean = {**SEGMENT_MEAN, **(segment_mean or {})}
        self.segment_response = {**SEGMENT_RESPONSE, **(segment_response or {})}
        self.bucket_effect = {**BUCKET_EFFECT, **(bucket_effect or {})}
        self.short_shipment_effect = short_shipment_effect

    def email_fate(self, email: str | None) -> str:
        """"ok", "bounce" or "unsubscribe": the same answer for the same address and seed, in any process."""
        if not email or not _valid_email(email):
            return "bounce"
        u = stable_hash(self.seed, "fate", email.strip().lower())
        if u < self.bounce_rate:
            return "bounce"
        if u < self.bounce_rate + self.unsubscribe_rate:
            return "unsubscribe"
        return "ok"

    def response_probability(self, facts) -> float:
        delay = _get(facts, "delay_days")
        delivered = _get(facts, "delivered", delay is not None)
        bucket = delivery_bucket(delay, bool(delivered))
        p = self.base_response_rate * self.segment_response.get(_get(facts, "segment") or "", 0.9)
        p *= BUCKET_RESPONSE[bucket] * (1.0 if _get(facts, "in_full", True) else 1.1)
        return min(p, 0.95)

    def expected_score(self, facts) -> float:
        delay = _get(facts, "delay_days")
        bucket = delivery_bucket(delay, bool(_get(facts, "delivered", delay is not None)))
        mean = self.segment_mean.get(_get(facts, "segment") or "", 7.8) + self.bucket_effect[bucket]
        if not _get(facts, "in_full", True):
            mean += self.short_shipment_effect
        return mean

    def decide(self, facts, rng: random.Random) -> Answer | None:
        """Whether this customer answers the survey for this purchase, and how. Deterministic given `rng`."""
        if rng.random() >= self.response_probability(facts):
            return None
        delay = _get(facts, "delay_days")
        bucket = delivery_bucket(delay, bool(_get(facts, "delivered", delay is not None)))
        in_full = bool(_get(facts, "in_full", True))
        score = int(round(min(10.0, max(0.0, rng.gauss(self.expected_score(facts), self.score_sd)))))
        language = _get(facts, "language") or "uk"
        if language not in ("uk", "ru", "en", "pl"):
            language = "uk"
        category = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        causes = []
        if bucket == "not_delivered":
            causes.append("not_delivered")
        elif bucket != "on_time" and category != "promoter":
            causes.append("delivery_time")
        if not in_full and category != "promoter":
            causes.append("completeness")
        reasons = ["delivery_time" if c == "not_delivered" else c for c in causes]
        if not reasons:
            pool = ["product_quality", "manager", "price", "communication"]
            if category == "promoter" and bucket == "on_time":
                pool.append("delivery_time")
            reasons = rng.sample(pool, k=rng.choice([1, 1, 2]))
        p_comment = {"detractor": 0.6, "passive": 0.25, "promoter": 0.3}[category]
        comment = None
        if rng.random() < p_comment:
            words = random.Random(rng.random())  # its own stream: the comment's draws leave the answers' alone
            topics = topics_for(words, category, causes, bucket == "on_time")
            comment, _ = write_comment(words, language, topics, days=max(int(delay or 0), 2))
        delay_hours = min(24 * 9.0, math.exp(rng.gauss(math.log(8.0), 1.3)))
        return Answer(score, comment, reasons, language, round(delay_hours, 2))

    def engagement(self, answer: Answer | None, rng: random.Random) -> dict[str, bool]:
        """Opens and clicks around an answer: answering means the mail was opened and a score link clicked."""
        if answer is not None:
            return {"open": True, "click": True}
        opened = rng.random() < 0.45
        return {"open": opened, "click": opened and rng.random() < 0.08}


__all__ = ["Answer", "ResponseModel", "delivery_bucket"]
