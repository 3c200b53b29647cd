"""Close-loop settings (env, with defaults). The SLA, the fallback address and whether passives make cases
(`NPS_CLOSELOOP_INCLUDE_PASSIVES`, applied by the dbt model ops.detractor_cases) live in `nps.config`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from nps.config import settings as base_settings
from nps.i18n import LANGUAGES

_RELATION = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


def _relation(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip() or default
    if not _RELATION.match(value):
        raise ValueError(f"setting {name} must be schema.table (lower case), got {value!r}")
    return value


@dataclass(frozen=True)
class CloseLoopSettings:
    cases_relation: str          # the dbt model with the answers that make a case, input contract
    managers_relation: str       # the dbt seed region -> manager
    sla_business_days: int
    fallback_email: str          # '' = no fallback: such cases are reported as unowned
    default_language: str
    holidays: str                # '' (weekends only) | 'ua' | 'ua,2026-03-09,...' | '2026-03-09,...'
    crm_tasks: str               # auto (when nps_crm is configured) | on | off
    max_case_age_days: int       # older answers never seen before are not opened (first deploy, long outages)
    task_deadline_hour: int      # local hour of the Bitrix24 task deadline on the SLA day
    from_email: str
    timezone: str
    kiosk_contact_days: int      # a kiosk customer's contact is erased this long after its case closed (or its consent)


def settings() -> CloseLoopSettings:
    base = base_settings()
    language = os.environ.get("NPS_CLOSELOOP_LANGUAGE", "uk").strip().lower() or "uk"
    if language not in LANGUAGES:
        raise ValueError(f"NPS_CLOSELOOP_LANGUAGE must be one of {LANGUAGES}, got {language!r}")
    crm_tasks = os.environ.get("NPS_CLOSELOOP_CRM_TASKS", "auto").strip().lower() or "auto"
    if crm_tasks not in ("auto", "on", "off"):
        raise ValueError(f"NPS_CLOSELOOP_CRM_TASKS must be auto, on or off, got {crm_tasks!r}")
    if base.case_sla_business_days < 0:
        raise ValueError("NPS_CASE_SLA_BUSINESS_DAYS must be >= 0")
    contact_days = int(os.environ.get("NPS_KIOSK_CONTACT_RETENTION_DAYS", "30") or 30)
    if contact_days < 0:
        raise ValueError(f"NPS_KIOSK_CONTACT_RETENTION_DAYS must be >= 0, got {contact_days}")
    hour = int(os.environ.get("NPS_CLOSELOOP_TASK_DEADLINE_HOUR", "18") or 18)
    if not 0 <= hour <= 23:
        raise ValueError(f"NPS_CLOSELOOP_TASK_DEADLINE_HOUR must be 0..23, got {hour}")
    return CloseLoopSettings(
        cases_relation=_relation("NPS_CLOSELOOP_CASES_RELATION", "ops.detractor_cases"),
        managers_relation=_relation("NPS_CLOSELOOP_MANAGERS_RELATION", "staging.region_managers"),
        sla_business_days=base.case_sla_business_days,
        fallback_email=base.fallback_manager_email.strip(),
        default_language=language,
        holidays=os.environ.get("NPS_CLOSELOOP_HOLIDAYS", "").strip().lower(),
        crm_tasks=crm_tasks,
        max_case_age_days=int(os.environ.get("NPS_CLOSELOOP_MAX_CASE_AGE_DAYS", "30") or 30),
        task_deadline_hour=hour,
        from_email=base.sendgrid_from_email,
        timezone=base.timezone,
        kiosk_contact_days=contact_days,
    )
