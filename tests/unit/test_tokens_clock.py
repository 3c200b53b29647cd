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


def test_non_ascii_signature_is_forged_not_a_crash():
    token = tokens.mint("s-1", secret=SECRET)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(token[:-1] + "é", secret=SECRET)


def test_qr_token_is_bound_to_its_sale_and_is_no_email_token():
    survey = tokens.sale_survey_id("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert survey == "sv5716e8448cde87a7af1b4768"  # raw.onec_sales.survey_id of that ref
    qr = tokens.mint_qr(survey, secret=SECRET)
    assert tokens.verify_qr(qr, secret=SECRET) == survey and len(qr) == len(survey) + 23
    other = tokens.sale_survey_id("1f8fad5b-d9cb-469f-a165-70867728950e")
    email = tokens.mint(survey, secret=SECRET)
    for bad in (other + qr[len(survey):], qr[:-1] + ("A" if qr[-1] != "A" else "B"), qr + "é", email,
                f"{survey}.{email.rsplit('.', 1)[1]}"):
        with pytest.raises(tokens.InvalidToken):
            tokens.verify_qr(bad, secret=SECRET)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify_qr(qr, secret="other")
    with pytest.raises(tokens.InvalidToken):  # nor passes a QR token for an e-mail one
        tokens.verify(qr, secret=SECRET)


def test_order_signature_is_the_readmes_hex_hmac_and_binds_its_number():
    import hashlib
    import hmac

    sig = tokens.sign_order("ЦБ-000123", "shop-secret")
    assert sig == hmac.new(b"shop-secret", "order:ЦБ-000123".encode(), hashlib.sha256).hexdigest()  # README's Python
    assert tokens.verify_order("ЦБ-000123", sig, "shop-secret") and tokens.verify_order("ЦБ-000123", sig.upper(),
                                                                                        "shop-secret")
    for number, bad, secret in (("ЦБ-000124", sig, "shop-secret"), ("ЦБ-000123", sig, "other"),
                                ("ЦБ-000123", sig[:-1], "shop-secret"), ("ЦБ-000123", sig[:-1] + "é", "shop-secret"),
                                ("ЦБ-000123", None, "shop-secret"), ("ЦБ-000123", 12, "shop-secret"),
                                ("ЦБ-000123", "", "shop-secret"), ("ЦБ-000123", sig, "")):
        assert not tokens.verify_order(number, bad, secret)
    with pytest.raises(RuntimeError):
        tokens.sign_order("ЦБ-000123", "")


def test_simulated_clock(tmp_path, monkeypatch):
    path = tmp_path / "clock"
    instant = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
    clock.set_simulated_now(path, instant)
    monkeypatch.setenv("NPS_SIMULATION", "1")
    monkeypatch.setenv("NPS_CLOCK_FILE", str(path))
    assert clock.now() == instant
    monkeypatch.setenv("NPS_SIMULATION", "0")
    assert clock.now() > instant
