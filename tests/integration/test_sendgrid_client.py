"""nps.sendgrid_client: the one sent / refused / unknown rule, against the fake SendGrid and a dead port."""

from __future__ import annotations

import socket
import time
import urllib.error

import pytest

from conftest import free_port
from nps import sendgrid_client
from nps.connections import Conn
from nps.sendgrid_client import Outcome
from nps_dev.fakes.sendgrid import SendGridFake

KEY = "SG.client-test-key"


@pytest.fixture
def fake():
    sg = SendGridFake(api_keys=(KEY,)).start()
    yield sg
    sg.stop()


def client(url: str, key: str = KEY):
    return sendgrid_client.connect(Conn("nps_sendgrid", "http", url, None, "", key, "", {}))


def mail(**extra) -> dict:
    return sendgrid_client.message([{"email": "olena@firm.ua", "name": None}, "cx@firm.ua"], "Subject", "text",
                                   "<p>html</p>", from_email="nps@example.com", from_name="NPS", **extra)


@pytest.mark.parametrize(("status", "error", "expected"), [
    (202, None, Outcome.SENT), (200, None, Outcome.SENT),  # 200: sandbox mode
    (400, None, Outcome.REFUSED), (401, None, Outcome.REFUSED), (413, None, Outcome.REFUSED),
    (429, None, Outcome.REFUSED),
    (500, None, Outcome.UNKNOWN), (503, None, Outcome.UNKNOWN), (201, None, Outcome.UNKNOWN),
    (None, urllib.error.URLError(ConnectionRefusedError()), Outcome.REFUSED),
    (None, urllib.error.URLError(socket.gaierror()), Outcome.REFUSED),
    (None, urllib.error.URLError(TimeoutError()), Outcome.UNKNOWN),
    (None, TimeoutError(), Outcome.UNKNOWN), (None, ConnectionResetError(), Outcome.UNKNOWN),
])
def test_the_rule(status, error, expected):
    assert sendgrid_client.outcome(status, error) is expected


def test_sent_carries_the_message_id_and_the_body_is_valid(fake):
    body = mail(categories=["nps-close-loop"], custom_args={"kind": "digest"})
    assert fake.validate(body) == []
    assert body["personalizations"][0]["to"] == [{"email": "olena@firm.ua"}, {"email": "cx@firm.ua"}]
    result = sendgrid_client.send(client(fake.base_url), body)
    assert (result.outcome, result.status, result.error) == (Outcome.SENT, 202, None)
    assert result.message_id == fake.messages()[0]["message_id"]


def test_refusals_say_why(fake):
    result = sendgrid_client.send(client(fake.base_url, "SG.wrong"), mail())
    assert result.outcome is Outcome.REFUSED and result.error.startswith("HTTP 401 Unauthorized: ")
    bad = mail()
    bad["personalizations"][0]["to"][0]["email"] = "broken@"
    result = sendgrid_client.send(client(fake.base_url), bad)
    assert result.outcome is Outcome.REFUSED and result.status == 400
    assert result.errors[0]["field"].startswith("personalizations.0") and fake.messages() == []


def test_a_429_says_when_to_retry(fake):
    fake.rate_limit, fake.rate_window = 0, 30.0
    fake._window_start = time.time()
    result = sendgrid_client.send(client(fake.base_url), mail())
    assert result.outcome is Outcome.REFUSED and result.status == 429
    assert 0 < result.retry_after <= 31


def test_no_connection_is_refused_and_a_timeout_or_5xx_unknown(fake):
    dead = sendgrid_client.send(client(f"http://127.0.0.1:{free_port()}"), mail())
    assert dead.outcome is Outcome.REFUSED and dead.status is None
    fake.faults.fail_next = 1
    assert sendgrid_client.send(client(fake.base_url), mail()).outcome is Outcome.UNKNOWN
    fake.faults.latency = 0.5
    slow = sendgrid_client.send(client(fake.base_url), mail(), timeout=0.1)
    assert slow.outcome is Outcome.UNKNOWN and "timed out" in slow.error
