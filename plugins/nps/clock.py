"""The one clock for everything that stamps or compares time outside a DAG's logical date (contract §6a).

Production reads the system clock. The demo and tests replay past weeks: with `NPS_SIMULATION=1`, `now()` reads the
simulated instant from `NPS_CLOCK_FILE` (an ISO-8601 timestamp with offset), which the driver advances day by day.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo


def simulated() -> bool:
    return os.environ.get("NPS_SIMULATION") == "1" and bool(os.environ.get("NPS_CLOCK_FILE"))


def now() -> datetime:
    """Timezone-aware current instant (simulated when the simulation is on)."""
    if simulated():
        text = Path(os.environ["NPS_CLOCK_FILE"]).read_text().strip()
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise ValueError(f"NPS_CLOCK_FILE must hold a timestamp with an offset, got {text!r}")
        return value
    return datetime.now(UTC)


def local_day(instant: datetime, timezone: str | None = None) -> date:
    """The day an instant falls on in the project's timezone: a run's day, for every task that needs one."""
    if instant.tzinfo is None:
        raise ValueError("the instant must be timezone-aware")
    from nps.config import settings

    return instant.astimezone(ZoneInfo(timezone or settings().timezone)).date()


def set_simulated_now(path: Path, value: datetime) -> None:
    """Used by the demo driver and tests: atomically move the simulated clock."""
    if value.tzinfo is None:
        raise ValueError("simulated time must be timezone-aware")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value.isoformat())
    tmp.replace(path)
