"""The project's Airflow Assets, in one place: producers put them in `outlets`, consumers schedule on them.

| asset | emitted by | when |
|---|---|---|
| `nps://raw/onec` | `nps_extract.extract_onec` | 1C customers, orders, sales, deliveries loaded into raw |
| `nps://raw/crm` | `nps_extract.extract_crm` | Bitrix24 contacts, companies, users loaded into raw |
| `nps://raw/responses` | `nps_load_responses` | survey answers, clicks and SendGrid events loaded into raw |
| `nps://marts/nps` | `nps_transform` | the NPS marts published |
"""

from __future__ import annotations

from airflow.sdk import Asset

RAW_ONEC = Asset("nps://raw/onec")
RAW_CRM = Asset("nps://raw/crm")
RAW_RESPONSES = Asset("nps://raw/responses")
MARTS = Asset("nps://marts/nps")

ALL = (RAW_ONEC, RAW_CRM, RAW_RESPONSES, MARTS)
