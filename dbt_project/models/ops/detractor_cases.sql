{{
    config(
        materialized='incremental',
        unique_key='survey_id',
        incremental_strategy='merge',
        merge_update_columns=[
            'purchase_id', 'region', 'manager_email', 'manager_name', 'manager_language', 'customer_name',
            'customer_email', 'customer_phone', 'language', 'score', 'reason', 'comment', 'responded_at'
        ],
        full_refresh=false,
        on_schema_change='append_new_columns',
        contract={'enforced': true}
    )
}}
-- One case per detractor answer, with the customer's contact (PII: schema ops, not readable by BI). dbt inserts new
-- cases (status 'open') and refreshes the answer; nps_close_loop owns notified_at / status / closed_at, which dbt
-- never overwrites (merge_update_columns) and a full refresh never resets (full_refresh=false).

with detractors as (
    select * from {{ ref('int_surveys') }}
    where is_responded and nps_category = 'detractor'
),

customers as (
    select * from {{ ref('int_customers') }}
),

managers as (
    select * from {{ ref('region_managers') }}
)

select
    detractors.survey_id::text as survey_id,
    detractors.purchase_id::text as purchase_id,
    detractors.region::text as region,
    coalesce(managers.manager_email, '{{ var("fallback_manager_email", "cx-team@example.com") }}')::text
        as manager_email,
    managers.manager_name::text as manager_name,
    coalesce(managers.language, 'uk')::text as manager_language,
    customers.customer_name::text as customer_name,
    customers.email::text as customer_email,
    customers.phone::text as customer_phone,
    detractors.language::text as language,
    detractors.score::integer as score,
    detractors.reason::text as reason,
    detractors.comment::text as comment,
    detractors.responded_at::timestamptz as responded_at,
    detractors.responded_at::timestamptz as opened_at,
    null::timestamptz as notified_at,
    'open'::text as status,
    null::timestamptz as closed_at
from detractors
left join customers on detractors.customer_ref = customers.customer_ref
left join managers on detractors.region = managers.region
