"""Close the loop: every detractor reaches the responsible manager the next morning; the case is tracked to closure.

Modules: `settings` (knobs), `business_days` (SLA), `owners` (who owns a case), `cases` (open cases from the
dbt model into ops.case_state), `crm_tasks` (one Bitrix24 task per case through `nps.bitrix_client`, status read
back), `digest` (per-manager content + rendering), `send` (SendGrid, claim -> send -> record, at most once), `run`
(the DAG's steps).
"""
