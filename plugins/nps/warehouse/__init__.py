"""Warehouse bootstrap: schemas, bookkeeping tables and roles (idempotent; applied by `nps db-up` and tests).

Each component keeps its own DDL in `sql/NNN_<component>.sql`; files run in name order, every statement
idempotent, so re-applying is always safe.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from nps.connections import postgres_connection

log = logging.getLogger(__name__)
SQL_DIR = Path(__file__).parent / "sql"


def relation(qualified: str) -> sql.Identifier:
    """'schema.table' (a relation named by a setting) as a quoted identifier for a composed query."""
    return sql.Identifier(*qualified.split("."))


def apply_ddl(conn: psycopg.Connection) -> list[str]:
    applied = []
    for path in sorted(SQL_DIR.glob("*.sql")):
        conn.execute(path.read_text())
        applied.append(path.name)
    return applied


def ensure_role(conn: psycopg.Connection, role: str, password: str | None) -> None:
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
    if not exists:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
    if password:
        conn.execute(sql.SQL("alter role {} with login password {}").format(sql.Identifier(role),
                                                                             sql.Literal(password)))


def grant_roles(conn: psycopg.Connection) -> None:
    """nps_collector: INSERT on landing only; nps_bi: SELECT on marts only (contract §5)."""
    conn.execute("""
        grant usage on schema landing to nps_collector;
        grant insert on all tables in schema landing to nps_collector;
        grant usage on all sequences in schema landing to nps_collector;
        alter default privileges in schema landing grant insert on tables to nps_collector;
        alter default privileges in schema landing grant usage on sequences to nps_collector;
        grant execute on function landing.kiosk_location(text) to nps_collector;
        grant execute on function landing.kiosk_contact(text, text, text, text, text, text, timestamptz)
            to nps_collector;
        grant usage on schema marts to nps_bi;
        grant select on all tables in schema marts to nps_bi;
        alter default privileges in schema marts grant select on tables to nps_bi;
    """)


def airflow_database(warehouse_url: str) -> tuple[str, str] | None:
    """(database, login) of Airflow's metadata (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, which `.nps/env` and Airflow's
    own deployment set) when it is on the warehouse's server; None otherwise."""
    airflow = urlsplit(os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
    server = urlsplit(warehouse_url)
    if (airflow.scheme.startswith("postgresql") and airflow.path.strip("/")
            and (airflow.hostname, airflow.port) == (server.hostname, server.port)):
        return airflow.path.strip("/"), unquote(airflow.username or "")
    return None


def confine_roles(conn: psycopg.Connection, warehouse_url: str) -> None:
    """nps_collector / nps_bi enter only the warehouse and create nothing there, temp tables included (§5): PUBLIC
    loses TEMPORARY on the warehouse and CONNECT on Airflow's database (their owner and Airflow's login keep them).
    Only an owner or superuser may do this: otherwise a warning names what the database's owner should run."""
    def may_grant(database: str) -> bool | None:  # None: no such database
        row = conn.execute("select has_database_privilege(datname, 'connect with grant option') from pg_database "
                           "where datname = %s", (database,)).fetchone()
        return row and row[0]

    here = conn.info.dbname
    if may_grant(here):
        conn.execute(sql.SQL("revoke temporary on database {0} from public, nps_collector, nps_bi; "
                             "grant connect on database {0} to nps_collector, nps_bi").format(sql.Identifier(here)))
    else:
        log.warning("not the owner of database %s: its owner should revoke temporary on it from public", here)
    airflow = airflow_database(warehouse_url)
    if not airflow or airflow[0] == here or may_grant(airflow[0]) is None:
        return
    if not may_grant(airflow[0]):
        log.warning("not the owner of Airflow's database %s: its owner should revoke connect on it from public",
                    airflow[0])
        return
    name = sql.Identifier(airflow[0])
    if conn.execute("select 1 from pg_roles where rolname = %s", (airflow[1],)).fetchone():
        conn.execute(sql.SQL("grant connect, temporary on database {} to {}").format(name, sql.Identifier(airflow[1])))
    conn.execute(sql.SQL("revoke connect, temporary on database {} from public, nps_collector, nps_bi").format(name))


def bootstrap(url: str, collector_password: str | None = None, bi_password: str | None = None) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set client_min_messages = warning")
        applied = apply_ddl(conn)
        ensure_role(conn, "nps_collector", collector_password)
        ensure_role(conn, "nps_bi", bi_password)
        grant_roles(conn)
        confine_roles(conn, url)
    log.info("warehouse bootstrapped: %s", ", ".join(applied))
    return applied


def role_dsn(warehouse_url: str, role: str, env_var: str, fallback_password: str) -> str:
    """The same database as `role` (nps_collector / nps_bi), for tests and benchmarks.

    Reuses the password of `.nps/env`'s `env_var` URL when it works on this server (so a running `make collector`
    or `make bi` keeps working); otherwise sets `fallback_password` on the cluster-wide role.
    """
    parts = urlsplit(warehouse_url)

    def url(password: str) -> str:
        return urlunsplit(parts._replace(netloc=f"{role}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"))

    env = urlsplit(os.environ.get(env_var, ""))
    if env.password and (env.hostname, env.port) == (parts.hostname, parts.port):
        try:
            psycopg.connect(url(unquote(env.password)), connect_timeout=5).close()
            return url(unquote(env.password))
        except psycopg.OperationalError:
            pass
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(sql.SQL("alter role {} with login password {}").format(sql.Identifier(role),
                                                                           sql.Literal(fallback_password)))
    return url(fallback_password)


def collector_dsn(warehouse_url: str, fallback_password: str) -> str:
    """`nps_collector` (INSERT on landing only) on the same database."""
    return role_dsn(warehouse_url, "nps_collector", "NPS_COLLECTOR_DB_URL", fallback_password)


def bi_dsn(warehouse_url: str, fallback_password: str) -> str:
    """`nps_bi` (SELECT on marts only) on the same database."""
    return role_dsn(warehouse_url, "nps_bi", "NPS_BI_DB_URL", fallback_password)


@contextmanager
def throwaway(server_url: str, prefix: str) -> Iterator[str]:
    """A fresh bootstrapped warehouse database `<prefix>_<hex>` on the server of `server_url`, for tests and
    benchmarks: NPS_WAREHOUSE_URL and the nps_warehouse connection point at it while it lives; dropped after."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        bootstrap(url)
        with mock.patch.dict(os.environ, {"NPS_WAREHOUSE_URL": url,
                                          "AIRFLOW_CONN_NPS_WAREHOUSE": json.dumps(postgres_connection(url))}):
            yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
