"""docker-compose.yml is checked statically (no Docker engine here) against the Compose specification schema."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "schemas" / "compose-spec.json"  # compose-spec/compose-spec, schema/compose-spec.json


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_file_matches_the_compose_specification():
    jsonschema.validate(_compose(), json.loads(SCHEMA.read_text()))


def test_compose_has_the_production_services_with_health_checks():
    services = _compose()["services"]
    expected = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                "airflow-worker", "airflow-init", "redis", "airflow-db", "warehouse", "collector", "superset"}
    assert expected <= set(services)
    for name, service in services.items():
        if name != "airflow-init":
            assert "healthcheck" in service, f"{name} has no health check"
    assert services["airflow-worker"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for volume in ("./dags:/opt/airflow/dags", "./plugins:/opt/airflow/plugins"):
        assert volume in services["airflow-scheduler"]["volumes"]


def test_compose_secrets_come_from_env_and_are_documented():
    text = (REPO / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = {line.split("=", 1)[0] for line in (REPO / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert required, "no required secrets: suspicious"
    assert required <= example, f"missing from .env.example: {required - example}"
    assert not re.search(r"PASSWORD:\s*['\"]?[a-z]", text), "a literal password in docker-compose.yml"


def test_no_env_file_is_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert ".env" not in tracked
