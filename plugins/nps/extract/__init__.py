"""Nightly extraction from 1C OData and Bitrix24 into `raw` (the `nps_extract` DAG's logic).

`run_onec(start, end, run_id)` and `run_crm(start, end, run_id)` each load one data interval; see `run.py` for
how each source is read, `onec_mapping.yml` / `crm_mapping.yml` for the names, `load.py` for COPY + upsert.
"""

from nps.extract.run import run_crm, run_onec

__all__ = ["run_crm", "run_onec"]
