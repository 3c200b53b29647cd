"""Signed survey tokens (contract §6): HMAC-SHA256 over the survey id and an expiry.

Format: `<survey_id>.<expiry, unix seconds, base 36>.<signature, base64url, 22 chars>`. URL-safe, no padding.
The sender mints them into e-mail links; the collector checks them before writing anything.

The QR code printed on a 1C invoice carries a second form, `<survey_id>.<signature>` (`mint_qr`): the survey of
that sale, signed with the same secret under its own label, so neither form passes for the other. It has no expiry:
a printed invoice cannot be re-issued and lives for months, and the worst a stale link can do is replace that
purchase's own answer (the latest wins). Rotating `NPS_TOKEN_SECRET` voids every link, e-mailed and printed.

The website widget's order number is signed by the shop's backend (`sign_order`, `data-order-sig`): hex HMAC-SHA256
of `order:<number>` under `NPS_WIDGET_ORDER_SECRET`, a secret of its own because the shop must hold it, and the survey
token secret never leaves the collector. Without a valid one nobody can answer for a purchase by guessing its number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from nps import clock
from nps.config import settings

# URL-safe, 1-64 characters; written so that Postgres (`~`, on landing rows) reads it the same as Python.
SURVEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
QR_TOKEN = re.compile(r"^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{22})$")


class InvalidToken(Exception):
    """Forged or malformed: answer 404."""


class ExpiredToken(Exception):
    """Genuine but past its expiry: answer 410."""

    def __init__(self, survey_id: str):
        super().__init__(survey_id)
        self.survey_id = survey_id


@dataclass(frozen=True)
class Token:
    survey_id: str
    expires_at: int


def _secret(secret: str | None) -> bytes:
    value = secret if secret is not None else settings().token_secret
    if not value:
        raise RuntimeError("NPS_TOKEN_SECRET is not set: survey links cannot be signed or checked")
    return value.encode()


def _sign(message: str, secret: bytes) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sale_survey_id(sale_ref: str) -> str:
    """The survey of a 1C sale. In SQL it is the column `raw.onec_sales.survey_id` (warehouse/sql/010_raw_sources.sql,
    Postgres computes it whenever the sale is written): the loader, the raw gate and dbt read it from there."""
    return "sv" + hashlib.md5(sale_ref.encode(), usedforsecurity=False).hexdigest()[:24]


def valid_survey_id(survey_id: str | None) -> bool:
    """Whether a survey id can go into a token (URL-safe, 1-64 characters)."""
    return bool(survey_id) and SURVEY_ID.match(survey_id) is not None


def mint(survey_id: str, issued_at: datetime | None = None, ttl: timedelta | None = None,
         secret: str | None = None) -> str:
    if not SURVEY_ID.match(survey_id):
        raise ValueError(f"survey id {survey_id!r} is not URL-safe")
    issued = issued_at or clock.now()
    lifetime = ttl or timedelta(days=settings().token_ttl_days)
    expiry = int((issued + lifetime).timestamp())
    message = f"{survey_id}.{_b36(expiry)}"
    return f"{message}.{_sign(message, _secret(secret))}"


def verify(token: str, now: datetime | None = None, secret: str | None = None) -> Token:
    parts = token.split(".")
    if len(parts) != 3 or not SURVEY_ID.match(parts[0]):
        raise InvalidToken("malformed token")
    survey_id, expiry_b36, signature = parts
    expected = _sign(f"{survey_id}.{expiry_b36}", _secret(secret))
    if not signature.isascii() or not hmac.compare_digest(expected, signature):  # non-ASCII: compare_digest raises
        raise InvalidToken("bad signature")
    try:
        expiry = int(expiry_b36, 36)
    except ValueError as exc:
        raise InvalidToken("bad expiry") from exc
    current = (now or clock.now()).timestamp()
    if current > expiry:
        raise ExpiredToken(survey_id)
    return Token(survey_id=survey_id, expires_at=expiry)


def mint_qr(survey_id: str, secret: str | None = None) -> str:
    """The QR form: no expiry (see the module docstring), a label of its own in the signed message."""
    if not SURVEY_ID.match(survey_id):
        raise ValueError(f"survey id {survey_id!r} is not URL-safe")
    return f"{survey_id}.{_sign(f'qr:{survey_id}', _secret(secret))}"


def verify_qr(token: str, secret: str | None = None) -> str:
    """The survey id of a genuine QR token; InvalidToken (404) for anything else."""
    match = QR_TOKEN.match(token)
    if not match or not hmac.compare_digest(_sign(f"qr:{match[1]}", _secret(secret)), match[2]):
        raise InvalidToken("bad QR token")
    return match[1]


def sign_order(number: str, secret: str) -> str:
    """A widget's `data-order-sig` for 1C order `number` (README, "Website widget", has it in PHP and Python)."""
    if not secret:
        raise RuntimeError("NPS_WIDGET_ORDER_SECRET is not set: widget order numbers cannot be signed or checked")
    return hmac.new(secret.encode(), f"order:{number}".encode(), hashlib.sha256).hexdigest()


def verify_order(number: str, signature: object, secret: str) -> bool:
    """Whether `signature` is `sign_order(number)` (constant time; hex in either case)."""
    return isinstance(signature, str) and signature.isascii() and bool(secret) \
        and hmac.compare_digest(sign_order(number, secret), signature.lower())


def _b36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rem = divmod(value, 36)
        out = digits[rem] + out
        if value == 0:
            return out
