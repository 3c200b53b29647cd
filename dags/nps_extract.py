"""nps_extract: 1C + Bitrix24 -> raw, daily at 01:00 Europe/Kyiv (logic: plugins/nps/extract)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronTriggerTimetable, dag, get_current_context, task

from nps.assets import RAW_CRM, RAW_ONEC
from nps.dag_defaults import DAG_KWARGS, TIMEZONE

DOC = """
### nps_extract
Every night at 01:00 (Europe/Kyiv) loads, for the run's data interval (the 24 hours before the run), what
changed in **1C** (customers, customer orders, sales with lines, deliveries) and in **Bitrix24** (contacts,
companies, users/managers) into the `raw` schema, then emits the Assets `nps://raw/onec` and `nps://raw/crm`
that `nps_transform` is scheduled on.

- 1C: documents dated in [interval start - 45 days look-back, interval end) are read again each night, so late
  edits, postings and deletion marks are caught; `DataVersion` decides what is rewritten; a deleted or
  un-posted document stays in raw with `deletion_mark` / `posted` telling that it is cancelled.
- Bitrix24: incremental by `DATE_MODIFY` from the watermark in `raw.load_state`; a backfill of an old date
  reads nothing (raw already holds a newer state); delete the `crm.*` rows of `raw.load_state` to reload fully.
- Bad rows go to `raw.quarantine`; above 5 % of an entity's rows the task fails naming source and reason.
  1C documents with an empty or invalid date (no window reads them) are recorded there too, every night, and
  counted as `undated` in the summary (not in the 5 %).
- Names of 1C objects/fields: `plugins/nps/extract/onec_mapping.yml` (override with `NPS_ONEC_MAPPING`).

Re-running a day changes nothing. Param `force`: rewrite rows even when their version is unchanged (after a
mapping change).
"""


@dag(
    dag_id="nps_extract",
    schedule=CronTriggerTimetable("0 1 * * *", timezone=TIMEZONE, interval=timedelta(days=1)),
    **DAG_KWARGS,
    tags=["nps", "extract", "1c", "bitrix24"],
    doc_md=DOC,
    params={"force": False},
)
def nps_extract():
    @task(outlets=[RAW_ONEC], execution_timeout=timedelta(hours=2))
    def extract_onec() -> dict:
        from nps.extract import run_onec

        ctx = get_current_context()
        return run_onec(ctx["data_interval_start"], ctx["data_interval_end"], ctx["run_id"],
                        force=bool(ctx["params"].get("force")))

    @task(outlets=[RAW_CRM], execution_timeout=timedelta(hours=2))
    def extract_crm() -> dict:
        from nps.extract import run_crm

        ctx = get_current_context()
        return run_crm(ctx["data_interval_start"], ctx["data_interval_end"], ctx["run_id"],
                       force=bool(ctx["params"].get("force")))

    extract_onec()
    extract_crm()


nps_extract()
