"""Errors of the extraction itself; those of the source systems (auth, unavailable, refused) are in `nps.sources`."""

from __future__ import annotations


class ExtractError(RuntimeError):
    """Base class: the extraction found something it must not load."""


class QuarantineThresholdExceeded(ExtractError):
    """Too large a share of a batch could not be parsed: the batch is not loaded (its bad rows are kept in
    raw.quarantine)."""
