"""Settings of the data-quality gates (env vars with defaults; read on each call, tests change the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nps.config import REPO_ROOT, env_float, state_dir

# ISO 4217 letters and numbers (1C's Catalog_Валюты.Code is the numeric one: 980 = UAH)
DEFAULT_CURRENCIES = "UAH,USD,EUR,PLN,980,840,978,985"
# SendGrid Event Webhook event types (reference/protocols.md §3): anything else is a loader or webhook bug.
DEFAULT_EVENT_TYPES = ("processed,dropped,delivered,deferred,bounce,open,click,spamreport,unsubscribe,"
                       "group_unsubscribe,group_resubscribe")
# Transactional tables that must grow every day; the others (customers, CRM) may legitimately not change.
DEFAULT_ROWCOUNT_TABLES = "raw.onec_sales,raw.onec_sale_lines,raw.onec_orders,raw.onec_order_lines"


def _list(name: str, default: str) -> tuple[str, ...]:
    raw = os.environ.get(name)
    raw = default if raw is None or raw.strip() == "" else raw
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class QualitySettings:
    known_currencies: tuple[str, ...]
    event_types: tuple[str, ...]
    rowcount_tables: tuple[str, ...]
    jump_factor: float
    baseline_weeks: int             # same-weekday checks a load is compared with
    future_slack_hours: float
    region_seed: Path | None
    gx_root: Path
    alert_emails: tuple[str, ...]
    summary_emails: tuple[str, ...]


def _region_seed() -> Path | None:
    """The dbt seed that maps region spellings to canonical names (`dbt_project/seeds/oblast_spellings.csv`)."""
    explicit = os.environ.get("NPS_REGION_SEED")
    if explicit:
        return Path(explicit)
    seeds = REPO_ROOT / "dbt_project" / "seeds"
    found = sorted(seeds.glob("oblast_spellings.csv")) + sorted(seeds.glob("*spelling*.csv")) if seeds.is_dir() else []
    return found[0] if found else None


def quality_settings() -> QualitySettings:
    alert = _list("NPS_ALERT_EMAILS", "")
    return QualitySettings(
        known_currencies=_list("NPS_KNOWN_CURRENCIES", DEFAULT_CURRENCIES),
        event_types=_list("NPS_KNOWN_EVENT_TYPES", DEFAULT_EVENT_TYPES),
        rowcount_tables=_list("NPS_QUALITY_ROWCOUNT_TABLES", DEFAULT_ROWCOUNT_TABLES),
        jump_factor=env_float("NPS_QUALITY_JUMP_FACTOR", 5.0),
        baseline_weeks=int(env_float("NPS_QUALITY_BASELINE_WEEKS", 4)),
        future_slack_hours=env_float("NPS_QUALITY_FUTURE_SLACK_HOURS", 24.0),
        region_seed=_region_seed(),
        gx_root=Path(os.environ.get("NPS_GX_DIR") or state_dir() / "gx"),
        alert_emails=alert,
        summary_emails=_list("NPS_DQ_SUMMARY_EMAILS", ",".join(alert)),
    )
