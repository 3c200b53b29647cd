"""The collector workload's anchor: a bare ASGI "hello" endpoint under uvicorn (no framework, no database).

Answers every request with 200 `{"ok":true}`, the body bench/collector_load.py's client checks for.
"""

BODY = b'{"ok":true}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
