"""Collector settings, read from the environment once at start-up (the app is built from one Settings value)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nps.collector.spool import default_dir
from nps.config import env_int
from nps.config import settings as nps_settings


@dataclass(frozen=True)
class CollectorSettings:
    db_url: str
    token_secret: str
    spool_dir: Path
    webhook_public_key: str = ""          # base64 DER SubjectPublicKeyInfo (SendGrid "signed webhook" key)
    webhook_max_age_s: int = 600          # older (or further in the future) signed timestamps are rejected
    max_form_bytes: int = 16 * 1024       # a survey POST is tiny; anything bigger is not a browser answer
    max_webhook_bytes: int = 4 * 1024 * 1024  # SendGrid batches are at most ~768 KB
    max_comment_chars: int = 2000
    rate_limit_per_minute: int = 60       # per client IP and worker for /s/ routes; 0 disables
    pool_min: int = 1
    pool_max: int = 8
    db_timeout_s: float = 2.0             # wait for a pooled connection before spooling
    replay_interval_s: float = 5.0        # background spool replay period
    default_language: str = "uk"
    public_base_url: str = ""             # the scan links' origin (NPS_COLLECTOR_BASE_URL), never the request's Host
    qr_api_key: str = ""                  # HTTP Basic password of GET /qr/ (1C's print form); empty: the route is off
    kiosk_idle_seconds: int = 30          # a kiosk goes back to its start screen after this long untouched
    kiosk_rate_limit_per_minute: int = 30  # answers + sessions per kiosk location and worker; 0 disables
    widget_origins: tuple[str, ...] = ()  # the sites that may embed the widget (CORS); none: the widget is off
    widget_throttle_days: int = 90        # the widget does not ask a browser that answered within this many days
    widget_order_secret: str = ""         # the shop's backend signs data-order with it; empty: order-bound answers 403


def from_env(**overrides) -> CollectorSettings:
    db_url = os.environ.get("NPS_COLLECTOR_DB_URL", "")
    if not db_url and "db_url" not in overrides:
        raise RuntimeError("NPS_COLLECTOR_DB_URL is not set: the collector connects as nps_collector "
                           "(`. .nps/env` sets it for the local Postgres)")
    token_secret = nps_settings().token_secret
    if not token_secret and "token_secret" not in overrides:
        raise RuntimeError("NPS_TOKEN_SECRET is not set: survey links cannot be checked")
    values = dict(
        db_url=db_url,
        token_secret=token_secret,
        spool_dir=default_dir(),
        webhook_public_key=os.environ.get("NPS_SENDGRID_WEBHOOK_PUBLIC_KEY", "").strip(),
        webhook_max_age_s=env_int("NPS_SENDGRID_WEBHOOK_MAX_AGE_S", 600),
        max_comment_chars=env_int("NPS_COLLECTOR_MAX_COMMENT", 2000),
        rate_limit_per_minute=env_int("NPS_COLLECTOR_RATE_LIMIT", 60),
        pool_max=env_int("NPS_COLLECTOR_POOL_MAX", 8),
        default_language=os.environ.get("NPS_COLLECTOR_DEFAULT_LANGUAGE", "uk"),
        public_base_url=nps_settings().collector_base_url,
        qr_api_key=os.environ.get("NPS_QR_API_KEY", "").strip(),
        kiosk_idle_seconds=env_int("NPS_KIOSK_IDLE_SECONDS", 30),
        kiosk_rate_limit_per_minute=env_int("NPS_KIOSK_RATE_LIMIT", 30),
        widget_origins=tuple(o.strip().rstrip("/") for o in os.environ.get("NPS_WIDGET_ORIGINS", "").split(",")
                             if o.strip()),
        widget_throttle_days=nps_settings().throttle_days,
        widget_order_secret=os.environ.get("NPS_WIDGET_ORDER_SECRET", "").strip(),
    )
    values.update(overrides)
    return CollectorSettings(**values)
