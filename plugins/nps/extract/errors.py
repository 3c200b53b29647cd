"""Errors of the extraction: each names the system and says why, so a failed task's log is enough to act on."""

from __future__ import annotations


class ExtractError(RuntimeError):
    """Base class: anything that makes an extraction task fail."""


class SourceAuthError(ExtractError):
    """The source rejected our credentials (401/403): retrying the same request cannot help."""


class SourceUnavailable(ExtractError):
    """The source did not answer usefully (connection error, timeout, 5xx) even after the retries."""


class SourceRequestError(ExtractError):
    """The source refused the request itself (400/404): usually a name in a mapping file that 1C or Bitrix24
    does not know."""


class QuarantineThresholdExceeded(ExtractError):
    """Too large a share of a batch could not be parsed: the batch is not loaded (its bad rows are kept in
    raw.quarantine)."""
