"""The BI dashboard: Apache Superset (its own venv, .venv-bi) over the marts, as role `nps_bi`.

`bi/dashboard.yaml` is the dashboard's definition; this module turns it into Superset's import bundle (a ZIP of
database, dataset, chart and dashboard YAML files, Superset's v1 export format), sets up Superset's metadata database
(migrations, roles, the admin login) once per Superset version, imports the bundle (bi/import_assets.py, overwriting
what an earlier import made: the UUIDs are derived from the names), gives every regional manager of the region seed
a login that sees only their oblasts (row-level security), and serves Superset with gunicorn.

    nps bi setup              migrate Superset's metadata, create the admin, import the dashboard, the managers' logins
    nps bi serve [--port N]   setup, then serve on 127.0.0.1 (NPS_BI_PORT, default 8088; --host 0.0.0.0 in compose)
    nps bi bundle OUT.zip     write the import bundle (e.g. for docker-compose's Superset: Dashboards > Import)
    nps bi managers           the regional managers' logins, passwords and oblasts

Environment (written by `nps env`): NPS_BI_DB_URL (the warehouse as nps_bi), SUPERSET_SECRET_KEY, NPS_BI_HOME
(Superset's SQLite metadata and logs), SUPERSET_CONFIG_PATH (bi/superset_config.py), NPS_BI_VENV (default .venv-bi),
SUPERSET_ADMIN_PASSWORD (default `admin`, for the local tool; set it in production). A manager's password is derived
from SUPERSET_SECRET_KEY and the login (`nps bi managers` prints them), so none is stored or committed.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import hmac
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from nps.config import REPO_ROOT

log = logging.getLogger(__name__)

SPEC_PATH = REPO_ROOT / "bi" / "dashboard.yaml"
MARTS_YAML = REPO_ROOT / "dbt_project" / "models" / "marts" / "_marts.yml"
MANAGERS_CSV = REPO_ROOT / "dbt_project" / "seeds" / "region_managers.csv"
MARTS_SCHEMA = "marts"
ADMIN_USER = "admin"
VIEWER_ROLE = "NPS viewer"  # Gamma + read on the dashboard's datasets: what a regional manager holds besides RLS
MANAGER_ROLE_PREFIX = "NPS oblasts: "  # one role per manager, carrying their row-level-security filter
_NAMESPACE = uuid.UUID("3f0c2a51-5b1e-4c55-9a51-6e70732d6269")  # fixed: the same names give the same UUIDs
_TEMPORAL_TYPES = ("date", "timestamp")


class BiError(RuntimeError):
    """Superset is missing, misconfigured or failed; the message says what to do."""


def _uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


def load_spec(path: Path = SPEC_PATH) -> dict:
    return check_spec(yaml.safe_load(path.read_text(encoding="utf-8")), path)


def check_spec(spec: dict, path: Path = SPEC_PATH) -> dict:
    """Every chart in the tabs exists, is placed once and reads a defined dataset; rows fit Superset's 12-column grid."""
    placed = []
    for row in (row for rows in spec["tabs"].values() for row in rows):
        for key, *_size in row:
            if key not in spec["charts"]:
                raise BiError(f"{path}: tabs name chart {key!r}, which is not under charts:")
            if key in placed:
                raise BiError(f"{path}: chart {key!r} is placed twice")
            placed.append(key)
        if sum(width for _key, width, *_size in row) > 12:
            raise BiError(f"{path}: a layout row is wider than 12 columns: {row}")
    for key, chart in spec["charts"].items():
        if chart["dataset"] not in spec["datasets"]:
            raise BiError(f"{path}: chart {key!r} reads dataset {chart['dataset']!r}, which is not under datasets:")
    return spec


def mart_columns(path: Path = MARTS_YAML) -> dict[str, list[dict]]:
    """Column name, type and description of every mart, from its dbt contract (one home for what a column means)."""
    models = yaml.safe_load(path.read_text(encoding="utf-8"))["models"]
    return {m["name"]: [{"name": c["name"], "type": c.get("data_type", "text"), "description": c.get("description")}
                        for c in m.get("columns", [])] for m in models}


def superset_uri(url: str) -> str:
    """SQLAlchemy 1.4 URL for Superset (psycopg2 driver) from a postgresql:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        raise BiError(f"NPS_BI_DB_URL must be a postgresql:// URL, got scheme {parts.scheme!r}")
    return "postgresql+psycopg2://" + url.split("://", 1)[1]


def _column(name: str, sql_type: str, description: str | None) -> dict:
    return {"column_name": name, "type": sql_type.upper(), "description": description, "verbose_name": None,
            "is_dttm": sql_type.lower().startswith(_TEMPORAL_TYPES), "is_active": True, "groupby": True,
            "filterable": True, "expression": None, "python_date_format": None, "extra": None}


def _dataset(name: str, spec: dict, columns_by_mart: dict[str, list[dict]], database_uuid: str) -> dict:
    if "table" in spec:
        if spec["table"] not in columns_by_mart:
            raise BiError(f"dataset {name!r}: {spec['table']!r} is not a mart in {MARTS_YAML}")
        columns = [_column(c["name"], c["type"], c["description"]) for c in columns_by_mart[spec["table"]]]
        table_name, sql = spec["table"], None
        if "where" in spec:  # a virtual dataset: the mart's rows that this dashboard may show
            table_name, sql = name, f"select * from {MARTS_SCHEMA}.{spec['table']} where {spec['where']}"
    else:
        columns = [_column(col, sql_type, None) for col, sql_type in spec["columns"].items()]
        table_name, sql = name, spec["sql"]
    temporal = [c["column_name"] for c in columns if c["is_dttm"]]
    columns += [{**_column(col, "text", None), "expression": expression}
                for col, expression in spec.get("expressions", {}).items()]
    metrics = [{"metric_name": key, "verbose_name": m.get("label"), "expression": m["sql"], "metric_type": None,
                "description": m.get("description"), "d3format": m.get("format"), "extra": None,
                "warning_text": None} for key, m in spec.get("metrics", {}).items()]
    return {"table_name": table_name, "schema": MARTS_SCHEMA, "sql": sql, "main_dttm_col": temporal[0] if temporal
            else None, "description": spec.get("description"), "columns": columns, "metrics": metrics,
            "uuid": _uuid("dataset", name), "database_uuid": database_uuid, "version": "1.0.0", "offset": 0,
            "cache_timeout": None, "params": None, "template_params": None, "filter_select_enabled": True,
            "extra": None, "normalize_columns": False}


def _chart(key: str, chart: dict) -> dict:
    params = {"viz_type": chart["viz_type"], "adhoc_filters": [], "time_range": "No filter", **chart["params"]}
    return {"slice_name": chart["title"], "description": chart.get("description"), "viz_type": chart["viz_type"],
            "params": params, "query_context": None, "cache_timeout": None, "uuid": _uuid("chart", key),
            "dataset_uuid": _uuid("dataset", chart["dataset"]), "version": "1.0.0", "certified_by": None,
            "certification_details": None}


def _position(spec: dict) -> dict:
    """Superset's layout tree: ROOT -> TABS -> TAB -> ROW -> CHART, a tab per entry of `tabs`, a row per line."""
    position: dict = {"DASHBOARD_VERSION_KEY": "v2",
                      "ROOT_ID": {"id": "ROOT_ID", "type": "ROOT", "children": ["TABS-nps"]},
                      "TABS-nps": {"id": "TABS-nps", "type": "TABS", "children": [], "parents": ["ROOT_ID"]},
                      "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": spec["title"]}}}
    for t, (title, rows) in enumerate(spec["tabs"].items()):
        tab_id = f"TAB-{t}"
        position["TABS-nps"]["children"].append(tab_id)
        position[tab_id] = {"id": tab_id, "type": "TAB", "children": [], "parents": ["ROOT_ID", "TABS-nps"],
                            "meta": {"text": title, "defaultText": title, "placeholder": title}}
        for i, row in enumerate(rows):
            row_id = f"ROW-{t}-{i}"
            position[tab_id]["children"].append(row_id)
            position[row_id] = {"id": row_id, "type": "ROW", "children": [],
                                "parents": ["ROOT_ID", "TABS-nps", tab_id], "meta": {"background": "BACKGROUND_TRANSPARENT"}}
            for key, width, *size in row:
                chart_id = f"CHART-{key}"
                position[row_id]["children"].append(chart_id)
                height = size[0] if size else 25 if spec["charts"][key]["viz_type"].startswith("big_number") else 55
                position[chart_id] = {"id": chart_id, "type": "CHART", "children": [],
                                      "parents": ["ROOT_ID", "TABS-nps", tab_id, row_id],
                                      # chartId: a placeholder, the import maps the uuid to the real id
                                      "meta": {"uuid": _uuid("chart", key), "chartId": len(position),
                                               "sliceName": spec["charts"][key]["title"], "width": width,
                                               "height": height}}
    return position


def bundle(db_url: str, spec: dict | None = None, kind: str = "Dashboard") -> bytes:
    """Superset's import bundle for the dashboard, the warehouse reached as `db_url` (the nps_bi login).

    kind "Dashboard" is what Superset's Dashboards > Import takes; "assets" is what `setup` imports (overwriting).
    """
    spec = spec or load_spec()
    columns_by_mart = mart_columns()
    database_uuid = _uuid("database", spec["database"])
    files: dict[str, dict] = {
        "metadata.yaml": {"version": "1.0.0", "type": kind, "timestamp": datetime.now(UTC).isoformat()},
        "databases/nps_warehouse.yaml": {
            "database_name": spec["database"], "sqlalchemy_uri": superset_uri(db_url), "uuid": database_uuid,
            "version": "1.0.0", "expose_in_sqllab": True, "allow_run_async": False, "allow_ctas": False,
            "allow_cvas": False, "allow_dml": False, "allow_csv_upload": False, "cache_timeout": None,
            "extra": {"allows_virtual_table_explore": True, "schemas_allowed_for_file_upload": []}},
    }
    for name, dataset in spec["datasets"].items():
        files[f"datasets/nps_warehouse/{name}.yaml"] = _dataset(name, dataset, columns_by_mart, database_uuid)
    for key, chart in spec["charts"].items():
        files[f"charts/{key}.yaml"] = _chart(key, chart)
    files[f"dashboards/{spec['slug']}.yaml"] = {
        "dashboard_title": spec["title"], "slug": spec["slug"], "uuid": _uuid("dashboard", spec["slug"]),
        "version": "1.0.0", "published": True, "css": "", "description": None, "certified_by": None,
        "certification_details": None, "position": _position(spec),
        "metadata": {"color_scheme": "supersetColors", "refresh_frequency": 0, "expanded_slices": {},
                     "label_colors": {}, "timed_refresh_immune_slices": [], "cross_filters_enabled": True,
                     "native_filter_configuration": [], "default_filters": "{}"}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"nps_dashboard/{name}", yaml.safe_dump(content, allow_unicode=True, sort_keys=False))
    return buffer.getvalue()


# --- regional managers: a login each, their oblasts only ----------------------------------------------------------

def managers(path: Path = MANAGERS_CSV) -> list[dict]:
    """One login per manager of the region seed (the e-mail's local part), with the oblasts they answer for."""
    by_email: dict[str, dict] = {}
    with path.open(encoding="utf-8", newline="") as seed:
        for row in csv.DictReader(seed):
            first, _, last = row["manager_name"].partition(" ")
            manager = by_email.setdefault(row["manager_email"], {
                "username": row["manager_email"].split("@")[0], "email": row["manager_email"],
                "first_name": first, "last_name": last or first, "regions": []})
            manager["regions"].append(row["region"])
    return sorted(by_email.values(), key=lambda m: m["username"])


def manager_password(username: str) -> str:
    """Derived from SUPERSET_SECRET_KEY: the same at every setup, stored nowhere but as Superset's hash."""
    secret = _env()["SUPERSET_SECRET_KEY"].encode()
    digest = hmac.new(secret, f"nps-bi-manager:{username}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:16]


def regional_datasets(spec: dict) -> list[str]:
    """Datasets with a `region` column: the ones a manager sees filtered to their oblasts."""
    columns_by_mart = {mart: {c["name"] for c in columns} for mart, columns in mart_columns().items()}
    return [name for name, dataset in spec["datasets"].items()
            if "region" in (columns_by_mart[dataset["table"]] if "table" in dataset else dataset["columns"])]


def access(spec: dict | None = None) -> dict:
    """What bi/import_assets.py makes of the managers: the viewer role's datasets, the RLS filters and the logins."""
    spec = spec or load_spec()
    people = []
    for manager in managers():
        oblasts = ", ".join("'" + region.replace("'", "''") + "'" for region in manager["regions"])
        people.append({**manager, "password": manager_password(manager["username"]), "clause": f"region in ({oblasts})"})
    return {"viewer_role": VIEWER_ROLE, "manager_role_prefix": MANAGER_ROLE_PREFIX,
            "datasets": [_uuid("dataset", name) for name in spec["datasets"]],
            "regional_datasets": [_uuid("dataset", name) for name in regional_datasets(spec)], "managers": people}


# --- running Superset ---------------------------------------------------------------------------------------------

def venv() -> Path:
    return Path(os.environ.get("NPS_BI_VENV", REPO_ROOT / ".venv-bi"))


def home() -> Path:
    return Path(os.environ.get("NPS_BI_HOME", REPO_ROOT / ".nps" / "superset"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("SUPERSET_SECRET_KEY", "NPS_BI_DB_URL"):
        if not env.get(name):
            raise BiError(f"{name} is not set: run `make env` (it writes .nps/env) or export it")
    env.setdefault("SUPERSET_CONFIG_PATH", str(REPO_ROOT / "bi" / "superset_config.py"))
    env["NPS_BI_HOME"] = str(home())
    env["SUPERSET_LOAD_EXAMPLES"] = "no"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _run(program: str, *args: str, env: dict[str, str], log_file: Path) -> None:
    """A program of .venv-bi (`superset`, `python`), its output appended to `log_file`."""
    exe = venv() / "bin" / program
    if not exe.exists():
        raise BiError(f"{exe} not found: `make bi` (or `make bi-venv`) creates .venv-bi from bi/requirements.txt")
    with log_file.open("a") as out:
        out.write(f"\n$ {program} {' '.join(args)}\n")
        out.flush()
        done = subprocess.run([str(exe), *args], env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log_file.read_text(errors="replace").splitlines()[-25:]
        raise BiError(f"`{program} {args[0]}` failed (exit {done.returncode}); end of {log_file}:\n" + "\n".join(tail))


def superset_version() -> str:
    dist = next((venv() / "lib").glob("python3*/site-packages/apache_superset-*.dist-info"), None)
    if dist is None:
        raise BiError(f"Superset is not installed in {venv()}: run `make bi-venv`")
    return dist.name.removeprefix("apache_superset-").removesuffix(".dist-info")


def admin_password() -> str:
    return os.environ.get("SUPERSET_ADMIN_PASSWORD") or "admin"


def setup() -> Path:
    """Migrate Superset's metadata and create the admin (once per Superset version), then import the dashboard."""
    env = _env()
    root = home()
    root.mkdir(parents=True, exist_ok=True)
    log_file = root / "setup.log"
    stamp = root / ".initialized"
    version = superset_version()
    if not stamp.exists() or stamp.read_text() != version:
        log.info("Superset %s: migrating its metadata database and creating roles (once, ~1 min)", version)
        _run("superset", "db", "upgrade", env=env, log_file=log_file)
        _run("superset", "fab", "create-admin", "--username", ADMIN_USER, "--firstname", "NPS", "--lastname", "Admin",
             "--email", "admin@localhost", "--password", admin_password(), env=env, log_file=log_file)
        _run("superset", "init", env=env, log_file=log_file)
        stamp.write_text(version)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        path = Path(tmp) / "nps_dashboard.zip"  # holds the nps_bi password: private dir, deleted at once
        path.write_bytes(bundle(env["NPS_BI_DB_URL"], kind="assets"))
        logins = Path(tmp) / "access.json"  # the managers' passwords, likewise
        logins.write_text(json.dumps(access(), ensure_ascii=False), encoding="utf-8")
        _run("python", str(REPO_ROOT / "bi" / "import_assets.py"), str(path), ADMIN_USER, str(logins), env=env,
             log_file=log_file)
    log.info("dashboard imported from %s, logins of %d regional managers", SPEC_PATH.relative_to(REPO_ROOT),
             len(managers()))
    return log_file


def serve_command(port: int, host: str = "127.0.0.1", workers: int = 2) -> list[str]:
    return [str(venv() / "bin" / "gunicorn"), "--bind", f"{host}:{port}", "--workers", str(workers),
            "--worker-class", "gthread", "--threads", "4", "--timeout", "120", "--access-logfile", "-",
            "superset.app:create_app()"]


def serve(port: int, host: str = "127.0.0.1") -> int:
    env = _env()
    setup()
    shown = "the password in SUPERSET_ADMIN_PASSWORD" if os.environ.get("SUPERSET_ADMIN_PASSWORD") else "admin"
    print(f">> Superset on {dashboard_url(f'http://127.0.0.1:{port}')}  (login: {ADMIN_USER} / {shown}; "
          "regional managers' logins: nps bi managers)", flush=True)
    command = serve_command(port, host)
    os.execve(command[0], command, env)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nps bi", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("setup", help="migrate Superset's metadata, create the admin, import the dashboard")
    serve_parser = sub.add_parser("serve", help="setup, then serve Superset")
    serve_parser.add_argument("--port", type=int, default=int(os.environ.get("NPS_BI_PORT", "8088")))
    serve_parser.add_argument("--host", default="127.0.0.1")
    out = sub.add_parser("bundle", help="write the dashboard's import bundle (ZIP)")
    out.add_argument("path", type=Path)
    sub.add_parser("managers", help="the regional managers' logins, passwords and oblasts")
    args = parser.parse_args(argv)
    try:
        if args.verb == "setup":
            print(f"Superset set up; log: {setup()}")
        elif args.verb == "serve":
            return serve(args.port, args.host)
        elif args.verb == "managers":
            for manager in managers():
                print(f"{manager['username']} / {manager_password(manager['username'])}: {', '.join(manager['regions'])}")
        else:
            args.path.write_bytes(bundle(_env()["NPS_BI_DB_URL"]))
            args.path.chmod(0o600)
            print(f"wrote {args.path} (contains the nps_bi password)")
    except BiError as exc:
        print(f"nps bi: {exc}", file=sys.stderr)
        return 1
    return 0


def dashboard_url(base: str) -> str:
    return f"{base.rstrip('/')}/superset/dashboard/{load_spec()['slug']}/"

