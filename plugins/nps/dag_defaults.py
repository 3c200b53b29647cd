"""Defaults every DAG shares: owner, retries with backoff, the project's timezone, failure alerts."""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum

TIMEZONE = pendulum.timezone("Europe/Kyiv")
START_DATE = pendulum.datetime(2026, 1, 1, tz=TIMEZONE)
OWNER = "nps-data-team"

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    # NPS_RETRY_DELAY_SECONDS: tests and the demo shorten it, so a failing task fails in seconds under dag.test()
    "retry_delay": timedelta(seconds=int(os.environ.get("NPS_RETRY_DELAY_SECONDS", "120"))),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}
