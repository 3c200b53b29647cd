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
- a comment (more often from detractors) in the customer's language (uk / ru / en / pl), naming the cause;
- `delay_hours`: how long after the e-mail the answer comes (log-normal, median ~8 h, some after days);
- `email_fate`: a fixed share of addresses bounce or unsubscribe (syntactically invalid ones bounce).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from nps_dev.generator.core import _valid_email, stable_hash

BUCKET_EFFECT = {"on_time": 0.4, "late_1_3d": -1.3, "late_4_7d": -2.8, "late_8d_plus": -4.2, "not_delivered": -5.5}
BUCKET_RESPONSE = {"on_time": 1.0, "late_1_3d": 1.0, "late_4_7d": 1.08, "late_8d_plus": 1.18, "not_delivered": 1.3}
SEGMENT_MEAN = {"dealer": 8.4, "contractor": 7.9, "developer": 7.4, "retail": 8.6}
SEGMENT_RESPONSE = {"dealer": 1.25, "contractor": 1.0, "developer": 0.75, "retail": 0.8}

COMMENTS = {
    "uk": {
        "delivery_time": ["Доставка затрималася на кілька днів, бригада простоювала.", "Знову запізнилися з доставкою.",
                          "Обіцяли привезти вчасно, а привезли пізніше."],
        "not_delivered": ["Замовлення так і не доїхало, ніхто не може пояснити де воно.",
                          "Товар досі не отримали."],
        "completeness": ["Привезли не все, довелося докуповувати в іншому місці.", "Недовкладення у відвантаженні."],
        "promoter": ["Все чудово, дякуємо!", "Швидко і без проблем, рекомендую.", "Менеджер завжди на зв'язку."],
        "passive": ["В цілому нормально.", "Ціни могли б бути нижчими.", "Загалом добре, але є куди рости."],
        "detractor": ["Сервіс погіршився.", "Дорого і незручно."],
    },
    "ru": {
        "delivery_time": ["Доставка задержалась на несколько дней.", "Опять опоздали с доставкой.",
                          "Обещали привезти вовремя, привезли позже."],
        "not_delivered": ["Заказ так и не доехал, никто не может объяснить где он.", "Товар до сих пор не получили."],
        "completeness": ["Привезли не всё, пришлось докупать в другом месте.", "Недовложение в отгрузке."],
        "promoter": ["Всё отлично, спасибо!", "Быстро и без проблем, рекомендую.", "Менеджер всегда на связи."],
        "passive": ["В целом нормально.", "Цены могли бы быть ниже.", "Неплохо, но есть куда расти."],
        "detractor": ["Сервис ухудшился.", "Дорого и неудобно."],
    },
    "en": {
        "delivery_time": ["The delivery was several days late.", "Late again with the delivery.",
                          "You promised a date and missed it."],
        "not_delivered": ["The order never arrived and nobody can tell us where it is.", "Still waiting for the goods."],
        "completeness": ["Not everything was delivered, we had to buy the rest elsewhere.", "The shipment was short."],
        "promoter": ["Everything was great, thank you!", "Fast and hassle-free, I recommend you.",
                     "Our manager is always available."],
        "passive": ["Fine overall.", "Prices could be lower.", "Good, but there is room to improve."],
        "detractor": ["The service has got worse.", "Expensive and inconvenient."],
    },
    "pl": {
        "delivery_time": ["Dostawa spóźniła się o kilka dni.", "Znowu spóźniona dostawa.",
                          "Obiecany termin nie został dotrzymany."],
        "not_delivered": ["Zamówienie nigdy nie dotarło.", "Nadal czekamy na towar."],
        "completeness": ["Nie dowieziono wszystkiego, resztę kupiliśmy gdzie indziej.", "Niekompletna wysyłka."],
        "promoter": ["Wszystko świetnie, dziękujemy!", "Szybko i bez problemów, polecam.",
                     "Opiekun zawsze jest dostępny."],
        "passive": ["Ogólnie w porządku.", "Ceny mogłyby być niższe.", "Dobrze, ale jest co poprawić."],
        "detractor": ["Obsługa się pogorszyła.", "Drogo i niewygodnie."],
    },
}


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
        if language not in COMMENTS:
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
            texts = COMMENTS[language]
            key = causes[0] if causes else category
            comment = rng.choice(texts[key])
        delay_hours = min(24 * 9.0, math.exp(rng.gauss(math.log(8.0), 1.3)))
        return Answer(score, comment, reasons, language, round(delay_hours, 2))

    def engagement(self, answer: Answer | None, rng: random.Random) -> dict[str, bool]:
        """Opens and clicks around an answer: answering means the mail was opened and a score link clicked."""
        if answer is not None:
            return {"open": True, "click": True}
        opened = rng.random() < 0.45
        return {"open": opened, "click": opened and rng.random() < 0.08}


__all__ = ["Answer", "ResponseModel", "delivery_bucket"]
