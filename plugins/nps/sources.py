"""What the clients of the outside systems (1C OData in `nps.extract.onec`, Bitrix24 in `nps.bitrix_client`) share:
errors that name the system and say why, so a failed task's log is enough to act on, and one backoff rule for the
transient failures (connection errors, timeouts, 5xx).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from nps.config import env_float


class SourceError(RuntimeError):
    """Base class: an outside system could not be used."""


class SourceAuthError(SourceError):
    """The source rejected our credentials (401/403): retrying the same request cannot help."""


class SourceUnavailable(SourceError):
    """The source did not answer usefully (connection error, timeout, 5xx) even after the retries."""


class SourceRequestError(SourceError):
    """The source refused the request itself (400/404): usually a name in a mapping file that 1C or Bitrix24
    does not know. `status` is the HTTP status of the refusal."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries in total, the first one included
    base_delay: float = 1.0  # seconds before the 2nd try; doubles each time (with +-25 % jitter)
    max_delay: float = 30.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """`NPS_EXTRACT_RETRIES` (tries in total) and `NPS_EXTRACT_BACKOFF` (first delay, s)."""
        return cls(attempts=max(1, int(env_float("NPS_EXTRACT_RETRIES", 5))),
                   base_delay=env_float("NPS_EXTRACT_BACKOFF", 1.0),
                   max_delay=env_float("NPS_EXTRACT_MAX_BACKOFF", 30.0))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failed try (1-based)."""
        value = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return value * random.uniform(0.75, 1.25)
