"""Defaults every DAG shares: owner, retries with backoff, the project's timezone, failure alerts."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from nps.quality.alerts import on_failure_callback

TIMEZONE = pendulum.timezone("Europe/Kyiv")
START_DATE = pendulum.datetime(2026, 1, 1, tz=TIMEZONE)
OWNER = "nps-data-team"

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    # every task of every DAG: log loudly, record in quality.alerts, e-mail NPS_ALERT_EMAILS (nps.quality.alerts)
    "on_failure_callback": on_failure_callback,
}
