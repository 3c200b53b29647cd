from datetime import UTC, datetime, timedelta

import pytest

from nps import clock, tokens

SECRET = "test-secret"


def test_token_roundtrip():
    issued = datetime(2026, 3, 1, tzinfo=UTC)
    token = tokens.mint("s-123", issued_at=issued, ttl=timedelta(days=60), secret=SECRET)
    parsed = tokens.verify(token, now=issued + timedelta(days=59), secret=SECRET)
    assert parsed.survey_id == "s-123"


def test_forged_token_rejected():
    token = tokens.mint("s-123", issued_at=datetime(2026, 3, 1, tzinfo=UTC), secret=SECRET)
    forged = token.replace("s-123", "s-124")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(forged, now=datetime(2026, 3, 2, tzinfo=UTC), secret=SECRET)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token, now=datetime(2026, 3, 2, tzinfo=UTC), secret="other")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify("garbage", secret=SECRET)


def test_expired_token():
    issued = datetime(2026, 3, 1, tzinfo=UTC)
    token = tokens.mint("s-1", issued_at=issued, ttl=timedelta(days=60), secret=SECRET)
    with pytest.raises(tokens.ExpiredToken) as err:
        tokens.verify(token, now=issued + timedelta(days=61), secret=SECRET)
    assert err.value.survey_id == "s-1"


def test_simulated_clock(tmp_path, monkeypatch):
    path = tmp_path / "clock"
    instant = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
    clock.set_simulated_now(path, instant)
    monkeypatch.setenv("NPS_SIMULATION", "1")
    monkeypatch.setenv("NPS_CLOCK_FILE", str(path))
    assert clock.now() == instant
    monkeypatch.setenv("NPS_SIMULATION", "0")
    assert clock.now() > instant
