"""The mapping files: 1C entity/field names (`onec_mapping.yml`) and Bitrix24 field names (`crm_mapping.yml`).

Defaults ship with the package; `NPS_ONEC_MAPPING` / `NPS_CRM_MAPPING` may point at a user's file of the same
shape, deep-merged over the defaults (so a user lists only what differs in their configuration).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

HERE = Path(__file__).parent
ONEC_DEFAULT = HERE / "onec_mapping.yml"
CRM_DEFAULT = HERE / "crm_mapping.yml"

ONEC_REQUIRED = {
    "customers": ("ref_key", "version", "deletion_mark", "code", "name"),
    "orders": ("ref_key", "version", "deletion_mark", "posted", "number", "date", "customer_ref"),
    "sales": ("ref_key", "version", "deletion_mark", "posted", "number", "date", "customer_ref"),
    "deliveries": ("order_ref", "delivered_at", "status"),
}


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _load(default: Path, env_var: str) -> dict:
    data = yaml.safe_load(default.read_text(encoding="utf-8"))
    override_path = os.environ.get(env_var)
    if override_path:
        path = Path(override_path)
        if not path.is_file():
            raise FileNotFoundError(f"{env_var} points at {path}, which is not a file")
        override = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(override, dict):
            raise ValueError(f"{path}: a mapping file must hold a YAML mapping at the top level")
        data = _merge(data, override)
    return data


def onec_mapping() -> dict:
    data = _load(ONEC_DEFAULT, "NPS_ONEC_MAPPING")
    for entity, fields in ONEC_REQUIRED.items():
        section = data.get(entity) or {}
        if not section.get("entity_set"):
            raise ValueError(f"1C mapping: `{entity}.entity_set` is missing")
        missing = [f for f in fields if not (section.get("fields") or {}).get(f)]
        if missing:
            raise ValueError(f"1C mapping: `{entity}.fields` lacks {', '.join(missing)}")
    return data


def crm_mapping() -> dict:
    return _load(CRM_DEFAULT, "NPS_CRM_MAPPING")
