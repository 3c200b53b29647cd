"""The Assets the DAGs hand over with (contract §4): loads emit raw.*, the transform emits the marts."""

from __future__ import annotations

from airflow.sdk import Asset

RAW_ONEC = Asset("nps://raw/onec")
RAW_CRM = Asset("nps://raw/crm")
RAW_RESPONSES = Asset("nps://raw/responses")
MARTS = Asset("nps://marts/nps")
