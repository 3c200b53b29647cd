"""Defaults every DAG shares: owner, retries with backoff, the project's timezone, failure alerts."""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum

from nps.quality.alerts import on_failure_callback

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
    # every task of every DAG: log loudly, record in quality.alerts, e-mail NPS_ALERT_EMAILS (nps.quality.alerts)
    "on_failure_callback": on_failure_callback,
}

# The same for every DAG: one run at a time, no catch-up runs (a missed day is caught up by the data: extraction's
# look-back, the due queue's catch-up window, the responses loader's watermark), the defaults above.
DAG_KWARGS = {
    "start_date": START_DATE,
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
}
