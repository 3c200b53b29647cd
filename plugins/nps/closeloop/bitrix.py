"""A small Bitrix24 REST client for tasks (tasks.task.add / tasks.task.get) over the `nps_crm` webhook.

POSTs a JSON body to `<webhook base><method>`; backs off on 503 QUERY_LIMIT_EXCEEDED / OVERLOAD_LIMIT and 429
OPERATION_TIME_LIMIT (the leaky bucket drains 2 requests/s). Errors keep Bitrix24's code and description.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import httpx

log = logging.getLogger(__name__)

_NOT_FOUND = re.compile(r"не найден|not found|access denied|доступ запрещен", re.IGNORECASE)
RETRYABLE = {"QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT", "OPERATION_TIME_LIMIT"}


class BitrixError(Exception):
    """Bitrix24 answered with an error: nothing was done (the request was refused)."""

    def __init__(self, method: str, status: int, code: str, description: str):
        super().__init__(f"{method}: HTTP {status} {code} {description}".strip())
        self.status, self.code, self.description = status, code, description


class Bitrix24:
    def __init__(self, base_url: str, *, timeout: float = 30.0, max_attempts: int = 8, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"Bitrix24 webhook base must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.max_attempts, self.backoff, self.sleep = max_attempts, backoff, sleep
        self.http = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Bitrix24:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, method: str, params: dict) -> dict:
        """One REST call; returns the whole envelope. Transport errors (httpx.HTTPError) propagate."""
        delay = self.backoff
        for attempt in range(1, self.max_attempts + 1):
            response = self.http.post(self.base_url + method, json=params)
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            if response.status_code == 200 and "error" not in body:
                return body
            code = str(body.get("error", "")) or f"HTTP_{response.status_code}"
            description = str(body.get("error_description", "")) or response.text[:200]
            if code in RETRYABLE and attempt < self.max_attempts:
                log.info("Bitrix24 %s: %s, retrying in %.1fs", method, code, delay)
                self.sleep(delay)
                delay = min(delay * 2, 16.0)
                continue
            raise BitrixError(method, response.status_code, code, description)
        raise AssertionError("unreachable")

    def add_task(self, fields: dict) -> str:
        result = self.call("tasks.task.add", {"fields": fields}).get("result")
        task = result.get("task") if isinstance(result, dict) else None
        if not task or not task.get("id"):
            raise BitrixError("tasks.task.add", 200, "BAD_RESPONSE", f"no task id in {result!r}"[:200])
        return str(task["id"])

    def get_task(self, task_id: str) -> dict | None:
        """The task (camelCase fields) or None when it does not exist / is not visible: Bitrix24 answers
        `"result": []`, some portals a 400 "Задача не найдена или доступ запрещен"."""
        try:
            result = self.call("tasks.task.get", {"taskId": int(task_id),
                                                  "select": ["ID", "STATUS", "CLOSED_DATE", "RESPONSIBLE_ID"]})
        except BitrixError as exc:
            if exc.status == 400 and _NOT_FOUND.search(exc.description):
                return None
            raise
        result = result.get("result")
        if isinstance(result, dict) and isinstance(result.get("task"), dict):
            return result["task"]
        return None
