"""The collector's FastAPI app (contract §6). Build it with `create_app(settings)`.

Per request the work is small on purpose: verify the HMAC token, parse a tiny form, one INSERT through an async
pool (autocommit: one round trip). A GET never records an answer (mail scanners prefetch links); it logs a click.
An answer keeps its audit trail (signal, webdriver flag, user agent, keyed client hash): the loader decides what counts.
The same pages answer two links: the e-mail's (`/s/`, channel `email`) and the 1C invoice's QR code (`/q/`, channel
`qr`, `nps.collector.qr`), whose picture 1C's print form fetches from `GET /qr/{sale_ref}.png` with a key.
Two anonymous channels post JSON: a shop's kiosk (`/k/{token}`, channel `kiosk`, `nps.collector.kiosk`) and the
widget a site embeds (`/widget.js` -> `/w/answers`, channel `web`, CORS for `NPS_WIDGET_ORIGINS` only); a widget
answer binds to a purchase only with the order number's signature (`tokens.verify_order`), else it is refused (403).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from nps import clock, tokens
from nps.collector import kiosk, pages, qr
from nps.collector.i18n import REASONS, TEXTS, choose
from nps.collector.settings import CollectorSettings, from_env
from nps.collector.spool import Spool
from nps.collector.store import Store, event_row
from nps.collector.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRejected, WebhookVerifier
from nps.i18n import LANGUAGES

log = logging.getLogger("nps.collector")


# A score (form field or page path) is exactly the text the pages send: int()/isdigit() take "²", "٥", " 7", "07".
SCORES = {str(n): n for n in range(11)}
WEBDRIVER = {"1": True, "0": False}  # what the page's script reports; absent (no script ran) stays unknown
ORDER_NUMBER = re.compile(r"^[^\x00-\x1f\x7f]{1,40}$")  # a 1C order number as the site shows it (e.g. ЦБ-000123)


class BodyTooLarge(Exception):
    pass


class Link(NamedTuple):
    """A kind of survey link: its route, the channel its answers carry, its token check, its 404 page's text."""
    route: str
    channel: str
    verify: Callable[[str], str]  # token -> survey id; raises tokens.InvalidToken / ExpiredToken
    missing: str


class RateLimiter:
    """Token bucket per client IP and worker process: bursts up to `per_minute`, refilled at `per_minute`/60 per
    second (a brake on floods, not accounting). No window edges, so a burst is never let through twice."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # ip -> (tokens, last refill)

    def allow(self, ip: str) -> bool:
        if self.per_minute <= 0:
            return True
        now = time.monotonic()
        tokens, last = self._buckets.get(ip, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[ip] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > 50_000:  # forget idle clients (their buckets are full again anyway)
            cutoff = now - 60.0
            self._buckets = {k: v for k, v in self._buckets.items() if v[1] > cutoff}
        return allowed


class SeenEvents:
    """Recently accepted sg_event_ids: drops SendGrid's retries early. The loader's primary key is the real dedupe."""

    def __init__(self, size: int = 100_000):
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._ids

    def add(self, key: str) -> None:
        self._ids[key] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: CollectorSettings | None = None) -> FastAPI:
    cfg = settings or from_env()
    spool = Spool(cfg.spool_dir)
    store = Store(cfg.db_url, spool, pool_min=cfg.pool_min, pool_max=cfg.pool_max, timeout_s=cfg.db_timeout_s)
    verifier = WebhookVerifier(cfg.webhook_public_key, cfg.webhook_max_age_s) if cfg.webhook_public_key else None
    limiter = RateLimiter(cfg.rate_limit_per_minute)
    seen = SeenEvents()
    headers = pages.SECURITY_HEADERS
    # a key of its own (derived from the token secret): the stored hash cannot be matched against tokens or raw IPs
    client_key = hmac.new(cfg.token_secret.encode(), b"nps client address", hashlib.sha256).digest()
    email = Link("s", "email", lambda t: tokens.verify(t, secret=cfg.token_secret).survey_id, "missing")
    scan = Link("q", "qr", lambda t: tokens.verify_qr(t, secret=cfg.token_secret), "missing_qr")

    async def replay_loop() -> None:
        while True:
            await asyncio.sleep(cfg.replay_interval_s)
            if spool.pending() or store.db_down:
                try:
                    await store.replay()
                except Exception:  # keep the loop alive; the next round retries
                    log.exception("spool replay failed")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        await store.open()
        task = asyncio.create_task(replay_loop(), name="spool-replay")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.close()

    app = FastAPI(title="NPS collector", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings, app.state.store, app.state.spool = cfg, store, spool

    def lang_of(request: Request, form_lang: str | None = None) -> str:
        return choose(form_lang or request.query_params.get("lang"), request.headers.get("accept-language"),
                      cfg.default_language)

    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    def html(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status, headers=headers)

    def problem(request: Request, lang: str, key: str, status: int, back: str | None = None) -> Response:
        if wants_json(request):
            return JSONResponse({"error": key}, status_code=status, headers=headers)
        return html(pages.message_page(lang, key, back), status)

    def admit(request: Request, token: str, link: Link) -> tuple[str, str | None, Response | None]:
        """Every /s/ and /q/ route's gate: (language, survey id, None), or the refusal to return (429 busy, 404
        forged, 410 expired). Nothing is written before this passes."""
        lang = lang_of(request)
        if not limiter.allow(client_ip(request)):
            return lang, None, problem(request, lang, "busy", 429)
        try:
            return lang, link.verify(token), None
        except tokens.ExpiredToken:
            return lang, None, problem(request, lang, "expired", 410)
        except tokens.InvalidToken:
            return lang, None, problem(request, lang, link.missing, 404)

    def client_ip(request: Request) -> str:
        return request.client.host if request.client else "?"

    def client_hash(request: Request) -> str:
        return hmac.new(client_key, client_ip(request).encode(), hashlib.sha256).hexdigest()[:32]

    def user_agent(request: Request) -> str | None:
        return (request.headers.get("user-agent") or "")[:512] or None

    async def log_click(survey_id: str, score: int | None, request: Request) -> None:
        row = {"survey_id": survey_id, "score": score, "clicked_at": clock.now(), "user_agent": user_agent(request)}
        try:
            await store.write("clicks", [row])
        except Exception:  # a click is diagnostics: never fail the page for it
            log.exception("could not log a click")

    async def log_view(survey_id: str) -> None:
        """A QR page opened: the QR funnel's first step (landing keeps a survey's first view only)."""
        row = {"channel": "qr", "view_id": survey_id, "location_id": None, "viewed_at": clock.now()}
        try:
            await store.write("page_views", [row])
        except Exception:  # diagnostics, like a click
            log.exception("could not log a page view")

    async def healthz(request: Request) -> JSONResponse:
        ok = await store.ping()
        return JSONResponse({"status": "ok", "database": ok, "spool_pending": spool.pending()})

    async def survey(request: Request, link: Link) -> Response:
        token = request.path_params["token"]
        lang, survey_id, refusal = admit(request, token, link)
        if refusal:
            return refusal
        if request.query_params.get("thanks") == "1":
            return html(pages.message_page(lang, "thanks"))
        if link is email:  # clicks are the e-mail funnel's; a scanned invoice is no e-mail click
            await log_click(survey_id, None, request)
        else:
            await log_view(survey_id)
        return html(pages.survey_page(token, lang, link.route))

    async def survey_with_score(request: Request, link: Link) -> Response:
        token, score = request.path_params["token"], SCORES.get(request.path_params["score"])
        lang, survey_id, refusal = admit(request, token, link)
        if refusal:
            return refusal
        if score is None:
            return problem(request, lang, link.missing, 404)
        if link is email:
            await log_click(survey_id, score, request)
        else:
            await log_view(survey_id)
        return html(pages.score_page(token, lang, score, cfg.max_comment_chars, link.route))

    async def answer(request: Request, link: Link) -> Response:
        token = request.path_params["token"]
        lang, survey_id, refusal = admit(request, token, link)
        if refusal:
            return refusal
        back = pages.survey_url(token, lang, route=link.route)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return problem(request, lang, "invalid", 415, back)
        try:
            body = await read_body(request, cfg.max_form_bytes)
            # errors="strict": a %-escape that is not UTF-8 is refused, never stored as U+FFFD
            fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                               max_num_fields=40, errors="strict")
        except BodyTooLarge:
            return problem(request, lang, "invalid", 413, back)
        except ValueError:  # bad UTF-8 or too many fields
            return problem(request, lang, "invalid", 422, back)
        form: dict[str, list[str]] = {}
        for key, value in fields:
            form.setdefault(key, []).append(value)
        form_lang = (form.get("lang") or [None])[0]
        if form_lang and form_lang in LANGUAGES:
            lang = form_lang
        score = SCORES.get((form.get("score") or [""])[0])
        comment = (form.get("comment") or [""])[0]
        reasons = list(dict.fromkeys(form.get("reasons", [])))
        signal = (form.get("signal") or ["submit"])[0]  # no signal: the form itself was submitted
        if score is None or len(comment) > cfg.max_comment_chars or signal not in pages.HUMAN_SIGNALS \
                or any(r not in REASONS for r in reasons) or "\x00" in comment:
            return problem(request, lang, "invalid", 422, back)
        row = {"survey_id": survey_id, "score": score, "comment": comment if comment.strip() else None,
               "reasons": reasons, "language": lang, "responded_at": clock.now(), "source": "web",
               "channel": link.channel,
               "signal": signal, "webdriver": WEBDRIVER.get((form.get("webdriver") or [""])[0]),
               "user_agent": user_agent(request), "client_hash": client_hash(request)}
        stored = await store.write("responses", [row])
        if wants_json(request):
            return JSONResponse({"ok": True, "stored": stored}, headers=headers)
        return RedirectResponse(f"{pages.survey_url(token, lang, route=link.route)}&thanks=1", status_code=303,
                                headers=headers)

    def qr_caller(request: Request) -> bool:
        """HTTP Basic with NPS_QR_API_KEY as the password (any user name): what 1C's HTTPСоединение sends."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            password = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
        except ValueError:
            return False
        return hmac.compare_digest(password, cfg.qr_api_key.encode())

    async def qr_code(request: Request) -> Response:
        """GET /qr/{sale_ref}: the sale's scan link as JSON; /qr/{sale_ref}.svg or .png: its QR code. `?lang=`
        fixes the page's language. A key, because anyone could otherwise mint links for any sale."""
        if not cfg.qr_api_key:
            log.error("GET /qr/ refused: NPS_QR_API_KEY is not set")
            return JSONResponse({"error": "QR links are not configured"}, status_code=403)
        if not qr_caller(request):
            if not limiter.allow(client_ip(request)):  # someone guessing the key is slowed down like a flood
                return JSONResponse({"error": "busy"}, status_code=429)
            return JSONResponse({"error": "unauthorized"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="nps qr", charset="UTF-8"'})
        ref, _, kind = request.path_params["sale"].partition(".")
        lang = request.query_params.get("lang") or None
        if lang is not None and lang not in LANGUAGES:
            return JSONResponse({"error": f"lang must be one of {', '.join(LANGUAGES)}"}, status_code=422)
        if kind and kind not in qr.MEDIA_TYPES:
            return JSONResponse({"error": "use /qr/{sale_ref}, .svg or .png"}, status_code=404)
        try:
            ref = qr.sale_ref(ref)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        url = qr.link(ref, lang, cfg.public_base_url or None, cfg.token_secret)
        no_store = {"Cache-Control": "no-store"}
        if not kind:
            return JSONResponse({"sale_ref": ref, "survey_id": tokens.sale_survey_id(ref), "url": url},
                                headers=no_store)
        image = await asyncio.to_thread(qr.image, url, kind)  # ~15 ms of CPU: off the event loop
        return Response(image, media_type=qr.MEDIA_TYPES[kind], headers=no_store)

    async def sendgrid_events(request: Request) -> Response:
        if verifier is None:
            log.error("SendGrid webhook refused: NPS_SENDGRID_WEBHOOK_PUBLIC_KEY is not set")
            return JSONResponse({"error": "signature verification is not configured"}, status_code=403)
        try:
            body = await read_body(request, cfg.max_webhook_bytes)
        except BodyTooLarge:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            verifier.verify(body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER),
                            clock.now())
        except WebhookRejected as exc:
            log.warning("SendGrid webhook rejected from %s: %s", client_ip(request), exc)
            return JSONResponse({"error": "forbidden"}, status_code=403)
        try:
            events = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            return JSONResponse({"error": "expected a JSON array of event objects"}, status_code=400)
        fresh, batch_ids = [], set()
        for event in events:
            key = event.get("sg_event_id")
            if isinstance(key, str) and (key in seen or key in batch_ids):
                continue
            if isinstance(key, str):
                batch_ids.add(key)
            fresh.append(event_row(event))
        if fresh:
            await store.write("sendgrid_events", fresh)
        for key in batch_ids:
            seen.add(key)
        return JSONResponse({"received": len(events), "accepted": len(fresh)})

    locations = kiosk.Locations(store.pool)
    kiosk_limiter = RateLimiter(cfg.kiosk_rate_limit_per_minute)
    js_headers = {"Content-Type": "application/javascript; charset=utf-8", "X-Content-Type-Options": "nosniff",
                  "Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"}
    widget_js = pages.widget_script(bool(cfg.widget_origins), cfg.widget_throttle_days)

    async def read_json(request: Request) -> dict | None:
        """A kiosk's or the widget's small JSON body; None when it is not one."""
        try:
            body = json.loads(await read_body(request, cfg.max_form_bytes))
        except (BodyTooLarge, ValueError):
            return None
        return body if isinstance(body, dict) else None

    def anonymous_row(request: Request, body: dict, channel: str, prefix: str) -> dict | None:
        """The landing row of a kiosk or widget answer, or None when the body is no valid answer."""
        survey_id = kiosk.answer_survey_id(prefix, str(body.get("id", "")))
        score, comment = body.get("score"), body.get("comment") or ""
        reasons = body.get("reasons") or []
        if survey_id is None or type(score) is not int or not 0 <= score <= 10 or not isinstance(comment, str) \
                or len(comment) > cfg.max_comment_chars or "\x00" in comment or not isinstance(reasons, list) \
                or any(r not in REASONS for r in reasons):
            return None
        lang = body.get("lang") if body.get("lang") in LANGUAGES else lang_of(request)
        signal = body.get("signal") if body.get("signal") in pages.HUMAN_SIGNALS else "submit"
        return {"survey_id": survey_id, "answer_id": survey_id, "score": score,
                "comment": comment if comment.strip() else None, "reasons": list(dict.fromkeys(reasons)),
                "language": lang, "responded_at": clock.now(), "source": "web", "channel": channel, "signal": signal,
                "webdriver": None, "user_agent": user_agent(request), "client_hash": client_hash(request),
                "location_id": None, "order_number": None}

    async def kiosk_gate(request: Request) -> tuple[str | None, Response | None]:
        """(location id, None) for a live kiosk token, else the refusal: 404 unknown, 410 revoked, 429 busy."""
        lang = lang_of(request)
        found = await locations.find(request.path_params["token"])
        if found is None:
            return None, problem(request, lang, "kiosk_missing", 404)
        location_id, revoked = found
        if revoked:
            return None, problem(request, lang, "kiosk_off", 410)
        if request.method == "POST" and not kiosk_limiter.allow(location_id):
            return None, problem(request, lang, "busy", 429)
        return location_id, None

    async def kiosk_page(request: Request) -> Response:
        _, refusal = await kiosk_gate(request)
        if refusal:
            return refusal
        return HTMLResponse(pages.kiosk_page(lang_of(request), cfg.kiosk_idle_seconds), headers=pages.KIOSK_HEADERS)

    async def kiosk_post(request: Request) -> Response:
        if request.path_params["kind"] not in ("answers", "sessions"):
            return JSONResponse({"error": "not found"}, status_code=404)
        location_id, refusal = await kiosk_gate(request)
        if refusal:
            return refusal
        body = await read_json(request)
        if request.path_params["kind"] == "sessions":
            view_id = kiosk.answer_survey_id("kq", str((body or {}).get("id", "")))
            if view_id is None:
                return JSONResponse({"error": "invalid"}, status_code=422)
            row = {"channel": "kiosk", "view_id": view_id, "location_id": location_id, "viewed_at": clock.now()}
            return JSONResponse({"ok": True, "stored": await store.write("page_views", [row])})
        row = anonymous_row(request, body or {}, "kiosk", "kq")
        if row is None:
            return JSONResponse({"error": "invalid"}, status_code=422)
        row["location_id"] = location_id
        contact = kiosk.consented_contact(body, row, TEXTS[row["language"]]["kiosk_consent"])
        if contact is not None:  # first: a resend after a failure between the two writes lands each once
            await store.write("contacts", [contact])
        reply = {"ok": True, "stored": await store.write("responses", [row])}
        if body.get("contact"):
            reply["contact"] = "stored" if contact is not None else "refused"
        return JSONResponse(reply)

    def cors(request: Request) -> dict[str, str] | None:
        """The CORS headers for an allowed site's origin; None for any other origin (the browser then refuses)."""
        origin = request.headers.get("origin", "")
        if origin not in cfg.widget_origins:
            return None
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "600"}

    async def widget_script(request: Request) -> Response:
        return Response(widget_js, headers=js_headers)

    async def kiosk_script(request: Request) -> Response:
        return Response(pages.KIOSK_SCRIPT, headers=js_headers)

    async def widget_preflight(request: Request) -> Response:
        allowed = cors(request)
        return Response(status_code=204 if allowed else 403, headers=allowed or {"Vary": "Origin"})

    async def widget_post(request: Request) -> Response:
        allowed = cors(request)
        if request.path_params["kind"] not in ("answers", "shown"):
            return JSONResponse({"error": "not found"}, status_code=404)
        if allowed is None:
            return JSONResponse({"error": "origin not allowed"}, status_code=403, headers={"Vary": "Origin"})
        if not limiter.allow(client_ip(request)):
            return JSONResponse({"error": "busy"}, status_code=429, headers=allowed)
        body = await read_json(request) or {}
        if request.path_params["kind"] == "shown":
            view_id = kiosk.answer_survey_id("wq", str(body.get("id", "")))
            if view_id is None:
                return JSONResponse({"error": "invalid"}, status_code=422, headers=allowed)
            row = {"channel": "web", "view_id": view_id, "location_id": None, "viewed_at": clock.now()}
            return JSONResponse({"ok": True, "stored": await store.write("page_views", [row])}, headers=allowed)
        row = anonymous_row(request, body, "web", "wq")
        order = body.get("order")
        if row is None or (order is not None and not (isinstance(order, str) and ORDER_NUMBER.match(order.strip()))):
            return JSONResponse({"error": "invalid"}, status_code=422, headers=allowed)
        if order is not None:  # the loader binds it to that order's sale: only when the shop signed the number
            order = order.strip()
            if not cfg.widget_order_secret:
                log.error("an order-bound widget answer refused: NPS_WIDGET_ORDER_SECRET is not set")
                return JSONResponse({"error": "order signatures are not configured"}, status_code=403,
                                    headers=allowed)
            if not tokens.verify_order(order, body.get("order_sig"), cfg.widget_order_secret):
                return JSONResponse({"error": "bad order signature"}, status_code=403, headers=allowed)
            row["order_number"] = order
        return JSONResponse({"ok": True, "stored": await store.write("responses", [row])}, headers=allowed)

    def via(link: Link, handler):
        async def endpoint(request: Request) -> Response:
            return await handler(request, link)
        return endpoint

    # Plain Starlette routes (contract §6, exactly these): the handlers read the request themselves, so FastAPI's
    # per-request dependency solving would only cost time on the hot path.
    app.add_route("/healthz", healthz, methods=["GET"])
    app.add_route("/s/{token}", via(email, survey), methods=["GET"])
    app.add_route("/s/{token}/{score}", via(email, survey_with_score), methods=["GET"])
    app.add_route("/s/{token}", via(email, answer), methods=["POST"])
    app.add_route("/q/{token}", via(scan, survey), methods=["GET"])
    app.add_route("/q/{token}/{score}", via(scan, survey_with_score), methods=["GET"])
    app.add_route("/q/{token}", via(scan, answer), methods=["POST"])
    app.add_route("/qr/{sale}", qr_code, methods=["GET"])
    app.add_route("/webhooks/sendgrid", sendgrid_events, methods=["POST"])
    app.add_route("/k/{token}", kiosk_page, methods=["GET"])
    app.add_route("/k/{token}/{kind}", kiosk_post, methods=["POST"])
    app.add_route("/static/kiosk.js", kiosk_script, methods=["GET"])
    app.add_route("/widget.js", widget_script, methods=["GET"])
    app.add_route("/w/{kind}", widget_preflight, methods=["OPTIONS"])
    app.add_route("/w/{kind}", widget_post, methods=["POST"])
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: `uvicorn --factory nps.collector.app:app_from_env`."""
    return create_app()
