"""Data-quality gates: GX suites on raw (expectations/), row-count checks, the build-and-swap of the marts (whose
rules are dbt's), NPS drift, dbt source-freshness messages, alerts and the daily summary. See expectations/README.md.

Nothing here imports Great Expectations at import time (it costs ~3 s): only `validate_*` do, when called.
"""

from nps.quality.result import QualityGateError, QualityResult

__all__ = ["QualityGateError", "QualityResult", "validate_loads", "validate_raw"]


def validate_raw(dsn, run_id, logical_date=None, **kwargs) -> QualityResult:
    from nps.quality.gate import validate_raw as _validate_raw

    return _validate_raw(dsn, run_id, logical_date, **kwargs)


def validate_loads(dsn, run_id, logical_date=None) -> QualityResult:
    from nps.quality.gate import validate_loads as _validate_loads

    return _validate_loads(dsn, run_id, logical_date)
