"""The one Bitrix24 client (nps.bitrix_client) on the close loop's task calls, against the fake Bitrix24: pacing on
the leaky bucket, errors that say why, and tasks.task.add never repeated when it may have been done.
(The extraction's side of the same client: tests/integration/test_extract_crm.py.)"""

from __future__ import annotations

import time

import pytest

from nps.bitrix_client import BitrixClient, LeakyBucket, Unconfirmed
from nps.closeloop.crm_tasks import add_task, case_status, get_task
from nps.sources import RetryPolicy, SourceAuthError, SourceUnavailable

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
TASK = {"TITLE": "t", "RESPONSIBLE_ID": 1}


@pytest.fixture
def fake():
    from nps_dev.fakes.bitrix import Bitrix24Fake

    fake = Bitrix24Fake(None, rate=4.0, burst=1).start()     # one request per 250 ms
    yield fake
    fake.stop()


def test_task_calls_back_off_on_the_leaky_bucket(fake):
    with BitrixClient(fake.webhook_url, retry=FAST, bucket=LeakyBucket(capacity=50, drain=4.0)) as client:
        task_id = add_task(client, TASK)
        assert get_task(client, task_id)["id"] == task_id      # the second call in a row hit the full bucket
        assert fake.throttled >= 1 and client.rate_limited == fake.throttled
        assert get_task(client, "999") is None                  # 400 "Задача не найдена": no such task
    with BitrixClient(fake.webhook_url, retry=FAST, max_rate_wait=0) as impatient:
        with pytest.raises(SourceUnavailable, match="kept refusing tasks.task.get with QUERY_LIMIT_EXCEEDED"):
            get_task(impatient, "1")
            get_task(impatient, "1")
    with BitrixClient(fake.base_url + "/rest/1/wrong/", retry=FAST) as wrong, \
            pytest.raises(SourceAuthError, match="NO_AUTH_FOUND"):
        get_task(wrong, "1")
    with pytest.raises(ValueError, match="http"):
        BitrixClient("ftp://x")
    assert case_status("5") == "closed" and case_status("6") == "open"


def test_a_task_that_may_exist_is_not_created_again(fake):
    fake.burst = 100
    fake.faults.latency = 0.3                   # the answer comes after the client gave up: the task is made anyway
    with BitrixClient(fake.webhook_url, retry=FAST, timeout=0.1) as client:
        with pytest.raises(Unconfirmed, match="tasks.task.add may or may not have been done"):
            add_task(client, TASK)
        assert client.requests == 1
        with pytest.raises(SourceUnavailable, match=r"ReadTimeout.* after 3 attempts"):
            get_task(client, "1")                # a read is safe to repeat
        assert client.requests == 4
    deadline = time.monotonic() + 5
    # the fake serves the four abandoned requests late: wait for all, or a late one takes the 500 meant below
    while fake.requests < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(fake.tasks) == 1                 # why it was not repeated: the first try did make the task

    fake.faults.latency = 0
    fake.faults.fail_next = 1                   # 500 INTERNAL_SERVER_ERROR: an answer, so a refusal, not repeated
    with BitrixClient(fake.webhook_url, retry=FAST) as client:
        with pytest.raises(SourceUnavailable, match=r"refused tasks\.task\.add: HTTP 500 .*; not repeated") as refused:
            add_task(client, TASK)
        assert not isinstance(refused.value, Unconfirmed) and client.requests == 1
        fake.faults.fail_next = 1
        assert get_task(client, "1")["id"] == "1"   # a read is retried past the 500
        assert client.requests == 3 and len(fake.tasks) == 1
