"""The fake SendGrid against reference/protocols.md §3 and the official OpenAPI file."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sendgrid.helpers.eventwebhook import EventWebhook

from nps_dev.fakes.schema_check import UnsupportedSchema, compile_check
from nps_dev.fakes.sendgrid import SendGridFake
from nps_dev.fakes.sendgrid import rendered as sg_rendered

KEY = "SG.test-key"

HTTP = httpx.Client(timeout=10)  # one client: building one per call costs ~50 ms (TLS context)


@pytest.fixture
def sg():
    fake = SendGridFake(api_keys=(KEY,), rate_limit=1000).start()
    yield fake
    fake.stop()


def mail(**over) -> dict:
    body = {"personalizations": [{"to": [{"email": "olena@example.com", "name": "Олена"}],
                                  "custom_args": {"survey_id": "S-1"}}],
            "from": {"email": "nps@example.com", "name": "NPS"}, "subject": "Як ми впоралися?",
            "content": [{"type": "text/plain", "value": "Оцініть нас 0–10"}],
            "custom_args": {"campaign": "nps"}, "categories": ["nps", "uk"], "asm": {"group_id": 1001}}
    body.update(over)
    return body


def send(sg, body, key=KEY, **kw):
    return HTTP.post(f"{sg.base_url}/v3/mail/send", json=body, headers={"Authorization": f"Bearer {key}"}, **kw)


def test_accepts_valid_mail_and_keeps_it(sg):
    r = send(sg, mail())
    assert r.status_code == 202 and r.content == b""
    mid = r.headers["x-message-id"]
    assert len(mid) >= 16
    for h in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
        assert h in r.headers
    kept = HTTP.get(f"{sg.base_url}/_fake/messages").json()
    assert kept[-1]["message_id"] == mid and kept[-1]["body"]["subject"] == "Як ми впоралися?"
    assert sg.messages()[-1]["message_id"] == mid
    # message-level custom_args is an object in practice (the spec types it as a string)
    assert send(sg, mail(custom_args={"a": "b"})).status_code == 202


def test_sandbox_mode_is_200_and_not_kept(sg):
    before = len(sg.messages())
    r = send(sg, mail(mail_settings={"sandbox_mode": {"enable": True}}))
    assert r.status_code == 200 and len(sg.messages()) == before
    bad = send(sg, mail(mail_settings={"sandbox_mode": {"enable": "yes"}}))
    assert bad.status_code == 400  # enable must be a JSON boolean


@pytest.mark.parametrize("body, field", [
    ({"personalizations": [{"to": [{"email": "a@example.com"}]}], "subject": "s",
      "content": [{"type": "text/plain", "value": "x"}]}, "from"),
    (mail(personalizations=[{"to": [{"email": "not-an-address"}]}]), "personalizations.0.to.0.email"),
    (mail(personalizations=[{"to": [{"name": "no email"}]}]), "personalizations.0.to.0.email"),
    (mail(personalizations=[{"cc": [{"email": "a@example.com"}]}]), "personalizations.0.to"),
    (mail(categories=[f"c{i}" for i in range(11)]), "categories"),
    (mail(content=[]), "content"),
    (mail(subject=""), "subject"),
    (mail(personalizations=[{"to": [{"email": f"u{i}@example.com"}]} for i in range(1001)]), "personalizations"),
    (mail(personalizations=[{"to": [{"email": f"u{i}@example.com"} for i in range(600)],
                             "cc": [{"email": f"c{i}@example.com"} for i in range(600)]}]), "personalizations"),
    (mail(send_at=int(time.time()) + 80 * 3600), "send_at"),
    (mail(reply_to={"email": "a@example.com"}, reply_to_list=[{"email": "b@example.com"}]), "reply_to"),
    (mail(ip_pool_name="x"), "ip_pool_name"),
    (mail(asm={"group_id": "1001"}), "asm.group_id"),
])
def test_rejects_what_sendgrid_rejects(sg, body, field):
    r = send(sg, body)
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert all(set(e) == {"message", "field", "help"} for e in errors)
    assert any(e["field"] == field for e in errors), errors


def test_bad_key_and_gzip(sg):
    r = send(sg, mail(), key="SG.wrong")
    assert r.status_code == 401
    assert r.json()["errors"][0] == {"message": "The provided authorization grant is invalid, expired, or revoked",
                                     "field": None, "help": None}
    assert HTTP.post(f"{sg.base_url}/v3/mail/send", json=mail()).status_code == 401
    body = gzip.compress(json.dumps(mail()).encode())
    r = HTTP.post(f"{sg.base_url}/v3/mail/send", content=body, headers={
        "Authorization": f"Bearer {KEY}", "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 202


def test_rate_limit_429():
    fake = SendGridFake(api_keys=(KEY,), rate_limit=3, rate_window=60).start()
    try:
        codes = [send(fake, mail()).status_code for _ in range(5)]
        assert codes == [202, 202, 202, 429, 429]
        r = send(fake, mail())
        assert r.json() == {"errors": [{"field": None, "message": "too many requests"}]}
        assert r.headers["x-ratelimit-remaining"] == "0" and r.headers["x-ratelimit-limit"] == "3"
        assert int(r.headers["x-ratelimit-reset"]) >= int(time.time())
    finally:
        fake.stop()


def test_suppressions(sg):
    h = {"Authorization": f"Bearer {KEY}"}
    base = sg.base_url
    r = HTTP.post(f"{base}/v3/asm/suppressions/global", json={"recipient_emails": ["Gone@Example.com"]}, headers=h)
    assert r.status_code == 201
    unsubs = HTTP.get(f"{base}/v3/suppression/unsubscribes", headers=h).json()
    assert [u["email"] for u in unsubs] == ["gone@example.com"] and isinstance(unsubs[0]["created"], int)
    assert HTTP.get(f"{base}/v3/asm/suppressions/global/gone@example.com", headers=h).json() == {
        "recipient_email": "gone@example.com"}
    r = HTTP.post(f"{base}/v3/asm/groups/1001/suppressions", json={"recipient_emails": ["g@example.com"]}, headers=h)
    assert r.status_code == 201
    assert HTTP.get(f"{base}/v3/asm/groups/1001/suppressions", headers=h).json() == ["g@example.com"]
    groups = HTTP.get(f"{base}/v3/asm/groups", headers=h).json()
    assert groups[0]["id"] == 1001 and groups[0]["unsubscribes"] == 1
    allsup = HTTP.get(f"{base}/v3/asm/suppressions", headers=h).json()
    assert allsup[0]["group_id"] == 1001 and allsup[0]["email"] == "g@example.com"
    assert HTTP.delete(f"{base}/v3/asm/groups/1001/suppressions/g@example.com", headers=h).status_code == 204
    sg.bounce("b@example.com")
    bounces = HTTP.get(f"{base}/v3/suppression/bounces", headers=h).json()
    assert bounces[0]["email"] == "b@example.com" and bounces[0]["status"] == "5.1.1"
    assert sg.suppressed("b@example.com") == "Bounced Address"
    assert HTTP.get(f"{base}/v3/suppression/bounces", headers={"Authorization": "Bearer x"}).status_code == 401


class _Receiver(BaseHTTPRequestHandler):
    got: list = []
    fail_first = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(500)
            self.end_headers()
            return
        _Receiver.got.append((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_signed_event_webhook_verifies_with_official_helper(sg):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Receiver.got, _Receiver.fail_first = [], 1
        mid = send(sg, mail()).headers["x-message-id"]
        msg = next(m for m in sg.messages() if m["message_id"] == mid)
        events = sg.make_events(msg, "processed") + sg.make_events(msg, "delivered") + sg.make_events(msg, "open")
        assert events[0]["survey_id"] == "S-1" and events[0]["campaign"] == "nps"  # custom args flattened
        assert events[0]["sg_message_id"].startswith(mid) and events[1]["response"] == "250 OK"
        status = sg.emit_events(f"http://127.0.0.1:{server.server_address[1]}/webhooks/sendgrid", events)
        assert status == 200 and len(_Receiver.got) == 1  # the first attempt got a 500 and was retried
        headers, body = _Receiver.got[0]
        public = HTTP.get(f"{sg.base_url}/v3/user/webhooks/event/settings/signed",
                           headers={"Authorization": f"Bearer {KEY}"}).json()["public_key"]
        assert public == sg.public_key
        hook = EventWebhook(public)
        sig = headers["X-Twilio-Email-Event-Webhook-Signature"]
        ts = headers["X-Twilio-Email-Event-Webhook-Timestamp"]
        assert hook.verify_signature(body.decode(), sig, ts) is True
        assert hook.verify_signature(body.decode().replace("open", "click"), sig, ts) is False
        assert [e["event"] for e in json.loads(body)] == ["processed", "delivered", "open"]
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_test_endpoint_posts_a_signed_sample_batch(sg):
    """The official `POST /v3/user/webhooks/event/test` (tsg_webhooks_v3.json): 204, one signed batch to `url`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    test = f"{sg.base_url}/v3/user/webhooks/event/test"
    auth = {"Authorization": f"Bearer {KEY}"}
    try:
        _Receiver.got, _Receiver.fail_first = [], 0
        r = HTTP.post(test, json={"url": url}, headers=auth)
        assert r.status_code == 204 and r.content == b"" and "x-ratelimit-remaining" in r.headers
        assert len(_Receiver.got) == 1
        headers, body = _Receiver.got[0]
        hook = EventWebhook(sg.public_key)
        assert hook.verify_signature(body.decode(), headers["X-Twilio-Email-Event-Webhook-Signature"],
                                     headers["X-Twilio-Email-Event-Webhook-Timestamp"]) is True
        events = json.loads(body)
        assert [e["event"] for e in events] == ["processed", "dropped", "delivered", "deferred", "bounce", "open",
                                                "click", "spamreport", "unsubscribe", "group_unsubscribe",
                                                "group_resubscribe"]
        assert {e["email"] for e in events} == {"example@test.com"}
        # a test is posted once: a failing receiver is not retried, and the answer is still 204
        _Receiver.got, _Receiver.fail_first = [], 1
        assert HTTP.post(test, json={"url": url}, headers=auth).status_code == 204 and _Receiver.got == []
        _Receiver.fail_first = 0
        assert HTTP.post(test, json={"url": url}, headers={"Authorization": "Bearer nope"}).status_code == 401
        for bad in ({}, {"url": 5}, {"url": "ftp://x"}, ["x"]):
            r = HTTP.post(test, json=bad, headers=auth)
            assert r.status_code == 400 and r.json()["errors"][0]["field"] == "url"
        assert HTTP.post(test, content=b"{", headers=auth).status_code == 400
        assert HTTP.get(test, headers=auth).status_code == 405
        assert _Receiver.got == []
    finally:
        server.shutdown()
        server.server_close()


def test_signing_key_from_the_data_dir_is_stable(fake_data_dir, fake_stack):
    summary = json.loads((fake_data_dir / "meta" / "summary.json").read_text())
    assert fake_stack.sendgrid.public_key == summary["sendgrid_public_key"]
    again = SendGridFake(fake_data_dir / "sendgrid")
    assert again.public_key == summary["sendgrid_public_key"]
    body, ts = b'[{"event":"open"}]', "1700000000"
    assert EventWebhook(again.public_key).verify_signature(body.decode(), fake_stack.sendgrid.sign(body, ts), ts)


def test_delivery_events_drop_suppressed_addresses(sg):
    sg.unsubscribe("gone@example.com", group_id=1001)
    body = mail(personalizations=[{"to": [{"email": "olena@example.com"}], "custom_args": {"survey_id": "S-1"}},
                                  {"to": [{"email": "gone@example.com"}], "custom_args": {"survey_id": "S-2"}}])
    mid = send(sg, body).headers["x-message-id"]
    msg = next(m for m in sg.messages() if m["message_id"] == mid)
    events = sg.delivery_events(msg, timestamp=1_700_000_000)
    assert [e["event"] for e in events] == ["processed", "processed", "delivered", "dropped"]
    dropped = events[-1]
    assert dropped["email"] == "gone@example.com" and dropped["reason"] == "Unsubscribed Address"
    assert dropped["survey_id"] == "S-2" and dropped["timestamp"] == 1_700_000_000
    assert len({e["sg_event_id"] for e in events}) == 4


# ---- the compiled schema check, the size limits, what each recipient receives --------------------------------------

def rich_mail() -> dict:
    """A valid body that touches every part of tsg_mail_v3.json's mail/send schema."""
    return {
        "personalizations": [
            {"to": [{"email": "a@example.com", "name": "A"}], "cc": [{"email": "c@example.com"}],
             "bcc": [{"email": "b@example.com"}], "from": {"email": "p@example.com", "name": "P"}, "subject": "S",
             "headers": {"X-A": "1"}, "substitutions": {"-n-": "N"}, "dynamic_template_data": {"k": [1]},
             "custom_args": {"survey_id": "S-1"}, "send_at": 1_700_000_000},
            {"to": [{"email": "d@example.com"}]}],
        "from": {"email": "nps@example.com", "name": "NPS"}, "reply_to": {"email": "r@example.com"},
        "subject": "Subject", "content": [{"type": "text/plain", "value": "x"}, {"type": "text/html", "value": "y"}],
        "attachments": [{"content": "eA==", "filename": "x.txt", "type": "text/plain", "disposition": "inline",
                         "content_id": "x"}],
        "template_id": "t", "headers": {"X-B": "2"}, "categories": ["nps", "x"], "custom_args": {"a": "b"},
        "send_at": 1_700_000_000, "batch_id": "b", "asm": {"group_id": 1001, "groups_to_display": [1001]},
        "ip_pool_name": "pool", "mail_settings": {
            "bypass_list_management": {"enable": False}, "footer": {"enable": True, "text": "t", "html": "h"},
            "sandbox_mode": {"enable": False}},
        "tracking_settings": {"click_tracking": {"enable": False, "enable_text": False},
                              "open_tracking": {"enable": True, "substitution_tag": "%o%"},
                              "subscription_tracking": {"enable": False, "text": "t", "html": "h",
                                                        "substitution_tag": "%s%"},
                              "ganalytics": {"enable": False, "utm_source": "s"}},
        "reply_to_list": [{"email": "r1@example.com"}, {"email": "r2@example.com"}],
    }


REPLACEMENTS = (None, True, 0, 1.0, 1.5, -1, "", "x", "x@y", "a" * 300, [], [1, 1], ["a", "a"], [{}], {},
                {"email": "e@x.com"}, {"a": 1})


def _mutants(value, path=()):
    """(path, mutated copy) for every node of `value`: each replaced by every REPLACEMENT, dropped, grown."""
    def at(path, new, drop=False, root=None):
        root = json.loads(json.dumps(root))
        node = root
        for key in path[:-1]:
            node = node[key]
        if drop:
            del node[path[-1]]
        else:
            node[path[-1]] = new
        return root

    body = value

    def walk(node, path):
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in list(children):
            here = (*path, key)
            for new in REPLACEMENTS:
                yield at(here, new, root=body)
            if isinstance(node, dict):
                yield at(here, None, drop=True, root=body)
            if isinstance(child, list) and child:
                yield at(here, child * 1001 if len(child) == 1 else child + child, root=body)
            yield from walk(child, here)
        if isinstance(node, dict):
            yield at((*path, "unknown_key"), "x", root=body)

    yield from walk(value, path)


def test_compiled_schema_check_agrees_with_jsonschema_on_every_mutation():
    fake = SendGridFake()
    base = rich_mail()
    assert fake.validator.is_valid(base) and fake.schema_ok(base)
    verdicts = Counter()
    for body in _mutants(base):
        expected = fake.validator.is_valid(body)
        assert fake.schema_ok(body) is expected, json.dumps(body)[:500]
        verdicts[expected] += 1
    assert verdicts[True] > 100 and verdicts[False] > 500  # both answers were exercised, many times


def test_compiled_check_refuses_keywords_it_does_not_implement():
    for schema in ({"pattern": "^a"}, {"type": "object", "patternProperties": {"a": {}}}, {"format": "uri"},
                   {"$ref": "https://example.com/x"}, {"type": "decimal"}, {"enum": [1, 2]}):
        with pytest.raises(UnsupportedSchema):
            compile_check(schema)


def test_substitutions_and_custom_args_limits(sg):
    ok = {"-a-": "x" * (10_000 - 3)}  # keys + values: exactly 10,000 bytes
    assert send(sg, mail(personalizations=[{"to": [{"email": "a@example.com"}], "substitutions": ok}])
                ).status_code == 202
    big = {"-a-": "ї" * 5_000}  # 3 + 10,000 bytes in UTF-8 (5,000 characters)
    r = send(sg, mail(personalizations=[{"to": [{"email": "a@example.com"}]},
                                        {"to": [{"email": "b@example.com"}], "substitutions": big}]))
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == ["personalizations.1.substitutions"]
    r = send(sg, mail(personalizations=[{"to": [{"email": "a@example.com"}], "custom_args": {"k": "v" * 10_000}}]))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "personalizations.0.custom_args"
    assert send(sg, mail(custom_args={"k": "v" * 10_000})).json()["errors"][0]["field"] == "custom_args"


def test_request_over_30_mb_is_413(sg):
    body = mail(content=[{"type": "text/plain", "value": "x" * (30 * 1024 * 1024)}])
    r = send(sg, body)
    assert r.status_code == 413 and r.json()["errors"][0]["message"] == "content too large"


def test_rendered_applies_each_personalizations_from_subject_and_substitutions(sg):
    body = mail(personalizations=[
        {"to": [{"email": "uk@example.com"}], "subject": "Привіт, -n-", "from": {"email": "nps@example.com",
                                                                                  "name": "Служба"},
         "substitutions": {"-n-": "Олена", "-body-": "Текст -n-", "-n-x-": "long"}},
        {"to": [{"email": "en@example.com"}], "substitutions": {"-n-": "Helen", "-body-": "Text"}}],
        content=[{"type": "text/plain", "value": "-body- / -n- / -n-x-"},
                 {"type": "text/html", "value": "<p>-n-</p>"}])
    mid = send(sg, body).headers["x-message-id"]
    uk, en = sg_rendered(next(m for m in sg.messages() if m["message_id"] == mid))
    assert uk["subject"] == "Привіт, Олена" and uk["from"] == {"email": "nps@example.com", "name": "Служба"}
    # one pass: a value is never scanned again ("-n-" inside "Текст -n-" stays), the longest tag wins
    assert uk["text"] == "Текст -n- / Олена / long" and uk["html"] == "<p>Олена</p>"
    assert en["subject"] == body["subject"] and en["from"] == body["from"] and en["text"] == "Text / Helen / Helenx-"
    assert en["custom_args"] == {"campaign": "nps"} and uk["custom_args"] == {"campaign": "nps"}
    assert [d["to"][0]["email"] for d in sg.deliveries()][-2:] == ["uk@example.com", "en@example.com"]
