"""Settings of the NPS platform: one place, read from the environment, with the contract's defaults.

Secrets never live here: they come from Airflow Connections / env vars (see `nps_dev.envfile`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The repository root: plugins/nps/config.py -> repo
REPO_ROOT = Path(__file__).resolve().parents[2]


# The settings readers every module uses: an unset or empty variable means the default.
def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:  # a clear message beats a traceback deep in a task
        raise ValueError(f"setting {name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"setting {name} must be a number, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"setting {name} must be true/false, got {raw!r}")


def state_dir() -> Path:
    """Where generated state lives (`.nps/`, git-ignored)."""
    return Path(os.environ.get("NPS_STATE_DIR", REPO_ROOT / ".nps"))


@dataclass(frozen=True)
class Settings:
    timezone: str
    survey_delay_days: int
    throttle_days: int
    reminder_after_days: int
    catch_up_days: int
    extract_lookback_days: int
    quarantine_threshold: float
    collector_base_url: str
    token_secret: str
    token_ttl_days: int
    sendgrid_from_email: str
    sendgrid_asm_group_id: int
    fallback_manager_email: str
    case_sla_business_days: int
    closeloop_include_passives: bool   # passives with a comment make (information) cases too: ops.detractor_cases
    send_approval_ceiling: int
    send_approval_timeout_hours: float
    expectations_dir: Path             # the GX suites (JSON); images copy expectations/ next to plugins/
    repurchase_short_days: int         # repurchase windows after (and before) an answer: marts repurchase_*
    repurchase_long_days: int
    significance_fdr: float            # Benjamini-Hochberg false discovery rate of the nps_by_* change flags


def settings() -> Settings:
    """Current settings (read each call: tests and the demo change the environment)."""
    return Settings(
        timezone=os.environ.get("NPS_TIMEZONE", "Europe/Kyiv"),
        survey_delay_days=env_int("NPS_SURVEY_DELAY_DAYS", 14),
        throttle_days=env_int("NPS_THROTTLE_DAYS", 90),
        reminder_after_days=env_int("NPS_REMINDER_AFTER_DAYS", 5),
        catch_up_days=env_int("NPS_CATCH_UP_DAYS", 7),
        extract_lookback_days=env_int("NPS_EXTRACT_LOOKBACK_DAYS", 45),
        quarantine_threshold=env_float("NPS_QUARANTINE_THRESHOLD", 0.05),
        collector_base_url=os.environ.get("NPS_COLLECTOR_BASE_URL", "http://127.0.0.1:18080").rstrip("/"),
        token_secret=os.environ.get("NPS_TOKEN_SECRET", ""),
        token_ttl_days=env_int("NPS_TOKEN_TTL_DAYS", 60),
        sendgrid_from_email=os.environ.get("NPS_SENDGRID_FROM", "nps@example.com"),
        sendgrid_asm_group_id=env_int("NPS_SENDGRID_ASM_GROUP_ID", 1001),
        fallback_manager_email=os.environ.get("NPS_FALLBACK_MANAGER_EMAIL", "cx-team@example.com"),
        case_sla_business_days=env_int("NPS_CASE_SLA_BUSINESS_DAYS", 2),
        closeloop_include_passives=env_bool("NPS_CLOSELOOP_INCLUDE_PASSIVES", False),
        # a send batch larger than this waits for approval while there is under a week of send history
        send_approval_ceiling=env_int("NPS_SEND_APPROVAL_CEILING", 1000),
        send_approval_timeout_hours=env_float("NPS_SEND_APPROVAL_TIMEOUT_HOURS", 6.0),  # then the batch is rejected
        expectations_dir=Path(os.environ.get("NPS_EXPECTATIONS_DIR") or REPO_ROOT / "expectations"),
        repurchase_short_days=env_int("NPS_REPURCHASE_SHORT_DAYS", 90),
        repurchase_long_days=env_int("NPS_REPURCHASE_LONG_DAYS", 180),
        significance_fdr=env_float("NPS_SIGNIFICANCE_FDR", 0.10),
    )


# The settings dbt reads (dbt_project.yml `vars:` as env_var()): each default lives in settings() above only.
DBT_SETTINGS = {"NPS_TIMEZONE": "timezone", "NPS_SURVEY_DELAY_DAYS": "survey_delay_days",
                "NPS_THROTTLE_DAYS": "throttle_days", "NPS_REMINDER_AFTER_DAYS": "reminder_after_days",
                "NPS_CATCH_UP_DAYS": "catch_up_days", "NPS_CLOSELOOP_INCLUDE_PASSIVES": "closeloop_include_passives",
                "NPS_REPURCHASE_SHORT_DAYS": "repurchase_short_days", "NPS_REPURCHASE_LONG_DAYS": "repurchase_long_days",
                "NPS_SIGNIFICANCE_FDR": "significance_fdr"}


def dbt_env() -> dict[str, str]:
    """The environment dbt needs for its vars: the current settings (a user's value or the default) and the survey
    languages (nps.i18n, Ukrainian first)."""
    from nps.i18n import LANGUAGES

    current = settings()
    return {**{name: str(getattr(current, field)) for name, field in DBT_SETTINGS.items()},
            "NPS_LANGUAGES": ",".join(LANGUAGES)}


def warehouse_url() -> str:
    """The warehouse DSN (libpq URL). `NPS_WAREHOUSE_URL` is written by `.nps/env` or set by the user."""
    url = os.environ.get("NPS_WAREHOUSE_URL")
    if not url:
        raise RuntimeError(
            "NPS_WAREHOUSE_URL is not set: run `. .nps/env` (written by every make target) or export it"
        )
    return url
