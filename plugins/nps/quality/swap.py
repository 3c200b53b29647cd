"""Build in a staging schema, validate it, then swap it in: a failed gate leaves yesterday's marts untouched.

`prepare_build(dsn)` empties the build schema before dbt builds into it; `swap_in(dsn)` renames, in one transaction,
`marts` -> `marts_previous` (the one generation kept for rollback) and `marts_build` -> `marts`, then re-grants
`nps_bi` (grants and default privileges belong to the schema object, so the new `marts` has none of its own).
BI readers see either the old or the new marts, never a mix, and never lose one: a build without a relation the live
schema has is refused. `rollback(dsn)` swaps the previous generation back.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

BI_ROLE = "nps_bi"


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone() is not None


def _relations(conn: psycopg.Connection, schema: str) -> set[str]:
    return {r[0] for r in conn.execute("select relname from pg_class where relnamespace = to_regnamespace(%s) "
                                       "and relkind in ('r', 'p', 'v', 'm')", (schema,))}


def prepare_build(dsn: str, build_schema: str = "marts_build") -> None:
    """A fresh, empty build schema (leftovers of a failed run must never be swapped in)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("set client_min_messages = warning")
        build = sql.Identifier(build_schema)
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(build))
        conn.execute(sql.SQL("create schema {}").format(build))
        conn.commit()


def grant_bi(conn: psycopg.Connection, schema: str, role: str = BI_ROLE) -> None:
    if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is None:
        log.warning("role %s does not exist: no grants on %s", role, schema)
        return
    s, r = sql.Identifier(schema), sql.Identifier(role)
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(s, r))
    conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(s, r))
    conn.execute(sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(s, r))


def revoke_bi(conn: psycopg.Connection, schema: str, role: str = BI_ROLE) -> None:
    if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is None:
        return
    s, r = sql.Identifier(schema), sql.Identifier(role)
    conn.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(s, r))
    conn.execute(sql.SQL("revoke usage on schema {} from {}").format(s, r))
    conn.execute(sql.SQL("alter default privileges in schema {} revoke select on tables from {}").format(s, r))


def _rotate(conn: psycopg.Connection, incoming: str, live: str, previous: str) -> None:
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(previous)))
    if _schema_exists(conn, live):
        conn.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(live), sql.Identifier(previous)))
        revoke_bi(conn, previous)   # BI reads marts only (contract §5), not the kept generation
    conn.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(incoming), sql.Identifier(live)))
    grant_bi(conn, live)


def swap_in(dsn: str, build_schema: str = "marts_build", live_schema: str = "marts",
            previous_schema: str | None = None) -> str:
    """Publish the validated build schema as the live one, atomically. Returns the schema kept for rollback."""
    previous = previous_schema or f"{live_schema}_previous"
    with psycopg.connect(dsn) as conn:
        conn.execute("set client_min_messages = warning")
        if not _schema_exists(conn, build_schema):
            raise RuntimeError(f"build schema {build_schema!r} does not exist: nothing to swap in")
        lost = _relations(conn, live_schema) - _relations(conn, build_schema)
        if lost:
            raise RuntimeError(f"{build_schema} lacks {', '.join(sorted(lost))} that {live_schema} has: BI would lose "
                               f"it (build it, or drop a retired mart from {live_schema} by hand)")
        # renames take ACCESS EXCLUSIVE locks; wait briefly for BI queries, then give up rather than hang the DAG
        conn.execute("set local lock_timeout = '30s'")
        _rotate(conn, build_schema, live_schema, previous)
        conn.commit()
    log.info("swapped %s in as %s (previous generation kept as %s)", build_schema, live_schema, previous)
    return previous


def rollback(dsn: str, live_schema: str = "marts", previous_schema: str | None = None) -> None:
    """Put the previous generation back (the current live one becomes the previous)."""
    previous = previous_schema or f"{live_schema}_previous"
    tmp = f"{live_schema}_rollback_tmp"
    with psycopg.connect(dsn) as conn:
        conn.execute("set client_min_messages = warning")
        if not _schema_exists(conn, previous):
            raise RuntimeError(f"no previous generation {previous!r} to roll back to")
        conn.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(previous), sql.Identifier(tmp)))
        _rotate(conn, tmp, live_schema, previous)
        conn.commit()
