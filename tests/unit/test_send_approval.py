"""The rule that makes a send batch wait for a person (nps.surveys.approval.approval_reason)."""

from __future__ import annotations

from nps.surveys.approval import approval_reason

SETTINGS = {"survey_delay_days": 14, "throttle_days": 90, "reminder_after_days": 5, "catch_up_days": 7}


def reason(would_send: int, median: int | None = 100, days: int = 28, ceiling: int = 1000, last=SETTINGS):
    return approval_reason(would_send, median, days, ceiling, SETTINGS, last)


def test_more_than_three_times_the_median_waits():
    assert reason(300) is None  # 3x exactly goes
    assert reason(301) == "301 surveys are more than 3x the median daily send of the last 28 days (100)"


def test_without_a_week_of_history_the_ceiling_applies():
    assert reason(1000, median=None, days=0) is None
    assert reason(1001, median=None, days=0).startswith("1001 surveys exceed the ceiling of 1000")
    assert reason(1001, median=10, days=6) is not None  # six sending days: still the ceiling, not 3x10
    assert reason(500, median=10, days=6) is None


def test_the_first_batch_after_an_eligibility_change_waits_whatever_its_size():
    changed = SETTINGS | {"throttle_days": 60}
    assert reason(1, last=changed) == "first batch after the eligibility settings changed (throttle_days 60 -> 90)"
    assert reason(1, last=None) is None  # no batch went out yet: nothing to compare with


def test_nothing_to_send_never_waits():
    assert reason(0, median=0, days=28, last=SETTINGS | {"catch_up_days": 3}) is None
