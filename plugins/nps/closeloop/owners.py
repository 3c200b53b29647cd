"""Who owns a case: the CRM's responsible user, else the region's manager (dbt seed), else a fallback address.

A case none of these cover is kept with owner_source 'none' and reported on every run until someone owns it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from nps import warehouse
from nps.i18n import pick

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Owner:
    email: str | None
    name: str | None
    language: str
    source: str                  # crm | seed | fallback | none
    crm_user_id: str | None      # Bitrix24 user id (for the task's RESPONSIBLE_ID), when the e-mail is a CRM user


@dataclass(frozen=True)
class Directory:
    """The managers known to the warehouse: active CRM users and the region seed."""
    crm_users: dict[str, dict]         # id -> {email, name, language}
    crm_by_email: dict[str, str]       # lower(email) -> id
    regions: dict[str, dict]           # lower(region) -> {email, name, language}
    fallback_email: str
    default_language: str

    def profile(self, email: str) -> tuple[str | None, str]:
        """(name, language) of a manager for the digest: CRM profile first, then the seed, then the defaults."""
        key = email.strip().lower()
        user = self.crm_users.get(self.crm_by_email.get(key, ""))
        seed = next((r for r in self.regions.values() if r["email"].lower() == key), None)
        name = (user or {}).get("name") or (seed or {}).get("name")
        language = (user or {}).get("language") or (seed or {}).get("language")
        return name, pick(language, default=self.default_language)


def _clean(value) -> str:
    return str(value).strip() if value is not None else ""


def resolve(assigned_by_id: str | None, region: str | None, directory: Directory) -> Owner:
    user = directory.crm_users.get(_clean(assigned_by_id))
    if user and user["email"]:
        return Owner(user["email"], user["name"], pick(user["language"], default=directory.default_language),
                     "crm", _clean(assigned_by_id))
    seed = directory.regions.get(_clean(region).lower())
    if seed and seed["email"]:
        return Owner(seed["email"], seed["name"], pick(seed["language"], default=directory.default_language),
                     "seed", directory.crm_by_email.get(seed["email"].lower()))
    if directory.fallback_email:
        name, language = directory.profile(directory.fallback_email)
        return Owner(directory.fallback_email, name, language, "fallback",
                     directory.crm_by_email.get(directory.fallback_email.lower()))
    return Owner(None, None, directory.default_language, "none", None)


def relation_exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def load_directory(conn: psycopg.Connection, managers_relation: str, fallback_email: str,
                   default_language: str) -> Directory:
    crm_users: dict[str, dict] = {}
    crm_by_email: dict[str, str] = {}
    rows = conn.execute("""
        select id, trim(email), nullif(trim(concat_ws(' ', name, last_name)), ''), language
          from raw.crm_users
         where coalesce(active, true) and nullif(trim(email), '') is not null
    """).fetchall()
    for user_id, email, name, language in rows:
        crm_users[str(user_id)] = {"email": email, "name": name, "language": language}
        crm_by_email.setdefault(email.lower(), str(user_id))
    regions: dict[str, dict] = {}
    if relation_exists(conn, managers_relation):
        query = sql.SQL("select region, trim(manager_email), manager_name, language from {} "
                        "where nullif(trim(manager_email), '') is not null")
        query = query.format(warehouse.relation(managers_relation))
        for region, email, name, language in conn.execute(query):
            regions[_clean(region).lower()] = {"email": email, "name": name, "language": language}
    else:
        log.warning("region manager seed %s does not exist (dbt seed not built yet?): no seed owners",
                    managers_relation)
    return Directory(crm_users, crm_by_email, regions, fallback_email, default_language)
