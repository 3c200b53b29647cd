"""Retry with exponential backoff for the HTTP clients (connection errors, timeouts, 5xx)."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"setting {name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries in total, the first one included
    base_delay: float = 1.0  # seconds before the 2nd try; doubles each time (with +-25 % jitter)
    max_delay: float = 30.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """`NPS_EXTRACT_RETRIES` (tries in total) and `NPS_EXTRACT_BACKOFF` (first delay, s)."""
        return cls(attempts=max(1, int(_env_float("NPS_EXTRACT_RETRIES", 5))),
                   base_delay=_env_float("NPS_EXTRACT_BACKOFF", 1.0),
                   max_delay=_env_float("NPS_EXTRACT_MAX_BACKOFF", 30.0))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failed try (1-based)."""
        value = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return value * random.uniform(0.75, 1.25)
