{{ config(materialized='view') }}
-- Surveys that were due but never sent and are now past the catch-up window: not sent any more, only counted.
-- skipped_on is the first sending day that no longer takes them (the sender logs those with skipped_on = its day).

select
    survey_id,
    purchase_id,
    customer_ref,
    due_date,
    (due_date + {{ var('catch_up_days') }} + 1)::date as skipped_on,
    as_of_date
from {{ ref('int_survey_candidates') }}
where
    due_date < as_of_date - {{ var('catch_up_days') }}
    and not is_cancelled
    and not has_no_email
    and not is_suppressed
    and not has_invite
