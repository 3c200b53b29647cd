"""Writes `.nps/env`: the shell file every make target sources (contract §3).

Every value is a default: anything already exported in the caller's shell wins, which is how a user points the
project at real 1C / Bitrix24 / SendGrid (export `AIRFLOW_CONN_NPS_ONEC` etc. before `make ...`).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
from pathlib import Path

from nps.config import REPO_ROOT, dbt_env, state_dir
from nps.connections import postgres_connection
from nps_dev.pgserver import external_warehouse_url, local_postgres

PORTS = {
    "NPS_COLLECTOR_PORT": 18080,
    "NPS_FAKE_ONEC_PORT": 18081,
    "NPS_FAKE_CRM_PORT": 18082,
    "NPS_FAKE_SENDGRID_PORT": 18083,
    "NPS_AIRFLOW_PORT": 8080,
    "NPS_BI_PORT": 8088,
    "NPS_DBT_DOCS_PORT": 8089,
}


def _secrets(path: Path) -> dict:
    """Locally generated secrets, made once and kept (git-ignored, mode 600)."""
    values = json.loads(path.read_text()) if path.exists() else {}
    wanted = {
        "jwt_secret": lambda: secrets.token_urlsafe(64),
        "api_secret_key": lambda: secrets.token_urlsafe(32),
        "fernet_key": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "token_secret": lambda: secrets.token_urlsafe(32),
        "qr_api_key": lambda: secrets.token_urlsafe(32),
        "widget_order_secret": lambda: secrets.token_urlsafe(32),
        "warehouse_key": lambda: secrets.token_urlsafe(24),
        "superset_secret_key": lambda: secrets.token_urlsafe(42),
    }
    missing = {name: make() for name, make in wanted.items() if name not in values}
    if not missing:
        return values
    values.update(missing)  # a secret added in a later version is generated once; existing ones are kept
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def airflow_passwords_file(airflow_home: Path) -> Path:
    """Local development only: the simple auth manager's passwords file with the README's login admin / admin
    (without it Airflow generates a random password into AIRFLOW_HOME)."""
    path = airflow_home / "simple_auth_manager_passwords.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"admin": "admin"}) + "\n")
    path.chmod(0o600)
    return path


def _airflow_db_url(warehouse: str) -> str:
    """Airflow's metadata DB: database `airflow` on the warehouse's server, psycopg 3 driver."""
    base, _, _ = warehouse.rpartition("/")
    return base.replace("postgresql://", "postgresql+psycopg://", 1) + "/airflow"


def render(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ if env is None else env)
    state = state_dir()
    secret = _secrets(state / "secrets.json")
    external = external_warehouse_url()
    warehouse = external or local_postgres().url()
    port = {name: int(env.get(name, default)) for name, default in PORTS.items()}
    airflow_port = port["NPS_AIRFLOW_PORT"]

    fixed: dict[str, str] = {
        "NPS_REPO": str(REPO_ROOT),
        "NPS_STATE_DIR": str(state),
        "NPS_EXTERNAL_WAREHOUSE": "1" if external else "0",
        "AIRFLOW_HOME": str(state / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Europe/Kyiv",
        "AIRFLOW__CORE__FERNET_KEY": secret["fernet_key"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_passwords_file(state / "airflow")),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(airflow_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{airflow_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{airflow_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": secret["api_secret_key"],
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # telemetry off: Airflow/Scarf, Cosmos, dbt
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "true",
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(REPO_ROOT / "dbt_project"),
        "DBT_PROJECT_DIR": str(REPO_ROOT / "dbt_project"),
        "GX_ANALYTICS_ENABLED": "false",
        "SUPERSET_CONFIG_PATH": str(REPO_ROOT / "bi" / "superset_config.py"),
        "NPS_BI_HOME": str(state / "superset"),
        **{name: str(value) for name, value in port.items()},
    }
    defaults: dict[str, str] = {
        "NPS_WAREHOUSE_URL": warehouse,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _airflow_db_url(warehouse),
        "NPS_TOKEN_SECRET": secret["token_secret"],
        "NPS_QR_API_KEY": secret["qr_api_key"],  # the password 1C's print form sends to GET /qr/ (README)
        "NPS_WIDGET_ORDER_SECRET": secret["widget_order_secret"],  # the shop signs the widget's data-order (README)
        "NPS_CUSTOMER_KEY_SECRET": secret["warehouse_key"],
        "SUPERSET_SECRET_KEY": secret["superset_secret_key"],
        "NPS_COLLECTOR_BASE_URL": f"http://127.0.0.1:{port['NPS_COLLECTOR_PORT']}",
        "AIRFLOW_CONN_NPS_WAREHOUSE": json.dumps(postgres_connection(warehouse)),
        # dbt_project/profiles.yml reads these (env_var only, no password in the file)
        **_dbt_profile_env(warehouse),
        # and dbt_project.yml's vars these (defaults: nps.config.settings)
        **dbt_env(),
        "AIRFLOW_CONN_NPS_ONEC": json.dumps({
            "conn_type": "http",
            "host": f"http://127.0.0.1:{port['NPS_FAKE_ONEC_PORT']}/demo/odata/standard.odata/",
            "login": "odata", "password": "odata"}),
        "AIRFLOW_CONN_NPS_CRM": json.dumps({
            "conn_type": "http", "host": f"http://127.0.0.1:{port['NPS_FAKE_CRM_PORT']}/rest/1/demo/"}),
        "AIRFLOW_CONN_NPS_SENDGRID": json.dumps({
            "conn_type": "http", "host": f"http://127.0.0.1:{port['NPS_FAKE_SENDGRID_PORT']}",
            "password": "SG.fake-demo-key"}),
    }
    fake_sendgrid = defaults["AIRFLOW_CONN_NPS_SENDGRID"]
    if (env.get("AIRFLOW_CONN_NPS_SENDGRID") or fake_sendgrid) == fake_sendgrid:
        # SendGrid is the fake of `make fakes`: the collector verifies the webhooks it signs
        key = fake_sendgrid_public_key(env)
        if key:
            defaults["NPS_SENDGRID_WEBHOOK_PUBLIC_KEY"] = key
    if not external:
        # the collector's own login: INSERT on landing only (contract §5); with an external warehouse, export it
        pg = local_postgres()
        defaults["NPS_COLLECTOR_DB_URL"] = pg.url(user="nps_collector", password=pg.meta()["collector_password"])
        # Superset's login: SELECT on marts only
        defaults["NPS_BI_DB_URL"] = pg.url(user="nps_bi", password=pg.meta()["bi_password"])
    lines = ["# Generated by `nps env` (every make target). Do not edit: export overrides in your shell instead.",
             "# Values under 'defaults' keep whatever your shell already exported."]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in fixed.items()]
    # the project's tools first (dbt for Cosmos' fallback rendering, airflow, nps)
    lines.append(f'case ":$PATH:" in *":{REPO_ROOT}/.venv/bin:"*) ;; *) export PATH={shlex.quote(str(REPO_ROOT / ".venv" / "bin"))}:"$PATH";; esac')
    lines.append("# defaults")
    for name, value in defaults.items():
        lines.append(f'if [ -z "${{{name}:-}}" ]; then {name}={shlex.quote(value)}; fi; export {name}')
    return "\n".join(lines) + "\n"


def fake_sendgrid_public_key(env: dict[str, str]) -> str | None:
    """The public key of the fake SendGrid of `make fakes`: its data's signing key (default data made now if
    `make fakes` has not made it yet, as it would, so a collector started first knows the key too)."""
    if env.get("NPS_FAKE_DATA"):
        data = Path(env["NPS_FAKE_DATA"])
    else:
        from nps_dev.fakes.cli import _default_data

        data = _default_data()
    key_file = data / "sendgrid" / "webhook_key.pem"
    if not key_file.is_file():  # the fake makes a new key at each start: nothing to configure ahead
        return None
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from nps.collector.webhook import public_key_b64

    return public_key_b64(load_pem_private_key(key_file.read_bytes(), password=None))


def _dbt_profile_env(url: str) -> dict[str, str]:
    conn = postgres_connection(url)
    return {"NPS_WAREHOUSE_HOST": conn["host"], "NPS_WAREHOUSE_PORT": str(conn["port"]),
            "NPS_WAREHOUSE_USER": conn["login"], "NPS_WAREHOUSE_PASSWORD": conn["password"],
            "NPS_WAREHOUSE_DB": conn["schema"]}


def write() -> Path:
    path = state_dir() / "env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    path.chmod(0o600)
    return path
