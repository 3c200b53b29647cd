"""JSON encode/decode for the fakes and the generator: msgspec when installed (an Airflow dependency in the lock,
several times faster on the 1M-line data sets), else the standard library, with the same output shape (UTF-8,
compact, key order kept)."""

from __future__ import annotations

import json

try:
    import msgspec

    _encoder = msgspec.json.Encoder()
    _decoder = msgspec.json.Decoder()

    def dumps(obj) -> bytes:
        return _encoder.encode(obj)

    def loads(data: bytes | str):
        return _decoder.decode(data)

except ImportError:  # pragma: no cover - msgspec is in the lock

    def dumps(obj) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def loads(data: bytes | str):
        return json.loads(data)
