"""Resolve the contract's Airflow connections (`nps_warehouse`, `nps_onec`, `nps_crm`, `nps_sendgrid`).

Inside Airflow the connection comes from Airflow (env var, secrets backend or the metadata DB). Outside Airflow
(CLI, demo driver, benchmarks) the `AIRFLOW_CONN_<ID>` env var is parsed directly, so those paths do not import
Airflow. Both JSON and URI forms are accepted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit


@dataclass(frozen=True)
class Conn:
    conn_id: str
    conn_type: str
    host: str
    port: int | None
    login: str
    password: str
    schema: str
    extra: dict

    @property
    def base_url(self) -> str:
        """http(s) base URL: `host` may carry the scheme and path (e.g. a 1C service root), else http://host:port/."""
        host = self.host or ""
        if "://" not in host:
            scheme = self.extra.get("scheme", "https" if self.port in (None, 443) else "http")
            host = f"{scheme}://{host}"
            if self.port:
                host = f"{host}:{self.port}"
            if self.schema:
                host = f"{host}/{self.schema.lstrip('/')}"
        return host if host.endswith("/") else host + "/"

    @property
    def postgres_url(self) -> str:
        auth = quote(self.login, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port or 5432}/{self.schema}"


def _from_env(conn_id: str, raw: str) -> Conn:
    raw = raw.strip()
    if raw.startswith("{"):
        data = json.loads(raw)
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        port = data.get("port")
        return Conn(conn_id, data.get("conn_type", ""), data.get("host") or "", int(port) if port else None,
                    data.get("login") or "", data.get("password") or "", data.get("schema") or "", extra)
    parts = urlsplit(raw)
    conn_type = parts.scheme.replace("postgresql", "postgres")
    return Conn(conn_id, conn_type, parts.hostname or "", parts.port, unquote(parts.username or ""),
                unquote(parts.password or ""), unquote(parts.path.lstrip("/")), {})


def get(conn_id: str) -> Conn:
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if raw:
        return _from_env(conn_id, raw)
    try:
        from airflow.sdk import BaseHook
    except ImportError as exc:  # pragma: no cover - only outside Airflow without env vars
        raise RuntimeError(f"connection {conn_id!r} is not set: export AIRFLOW_CONN_{conn_id.upper()}") from exc
    c = BaseHook.get_connection(conn_id)
    return Conn(conn_id, c.conn_type or "", c.host or "", c.port, c.login or "", c.password or "", c.schema or "",
                c.extra_dejson or {})


def warehouse_dsn() -> str:
    """The warehouse for tasks: the `nps_warehouse` connection (falls back to NPS_WAREHOUSE_URL)."""
    if os.environ.get("AIRFLOW_CONN_NPS_WAREHOUSE") or not os.environ.get("NPS_WAREHOUSE_URL"):
        return get("nps_warehouse").postgres_url
    return os.environ["NPS_WAREHOUSE_URL"]


def postgres_connection(url: str) -> dict:
    """An Airflow Postgres connection (the JSON of AIRFLOW_CONN_*) for a postgresql:// URL."""
    parts = urlsplit(url)
    return {"conn_type": "postgres", "host": parts.hostname or "127.0.0.1", "port": parts.port or 5432,
            "login": unquote(parts.username or ""), "password": unquote(parts.password or ""),
            "schema": parts.path.lstrip("/")}
