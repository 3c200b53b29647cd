-- One case per detractor answer with the customer's contact (PII: schema ops, not granted to BI). nps_close_loop
-- keeps each case's owner, notification and status in ops.case_state (outside dbt, so rebuilds lose nothing);
-- this model joins it back: manager_email is the case owner, else the region's manager (seed), else the fallback.
-- A view over tables, so owner, notified_at and status are always the live case state, not the last transform's.

{{ config(materialized='view') }}

with detractors as (
    select * from {{ ref('int_surveys') }}
    where is_responded and nps_category = 'detractor'
),

customers as (
    select * from {{ ref('int_customers') }}
),

purchases as (
    select * from {{ ref('int_purchases') }}
),

managers as (
    select * from {{ ref('region_managers') }}
),

case_state as (
    select * from {{ source('close_loop', 'case_state') }}
),

final as (
    select
        detractors.survey_id::text as survey_id,
        detractors.purchase_id::text as purchase_id,
        detractors.customer_ref::text as customer_ref,
        detractors.region::text as region,
        detractors.segment::text as segment,
        customers.customer_name::text as customer_name,
        customers.company_name::text as company_name,
        customers.phone::text as phone,
        customers.email::text as email,
        detractors.language::text as language,
        customers.crm_assigned_by_id::text as crm_assigned_by_id,
        detractors.score::integer as score,
        -- reason codes never contain commas: the array the collector stored
        coalesce(string_to_array(detractors.reason, ','), '{}')::text[] as reasons,
        detractors.comment::text as comment,
        detractors.responded_at::timestamptz as responded_at,
        purchases.order_number::text as order_number,
        detractors.delivered_at::timestamp as delivered_at,
        purchases.promised_date::date as promised_date,
        detractors.delay_days::integer as delay_days,
        detractors.is_in_full::boolean as is_in_full,
        detractors.nps_category::text as nps_category,
        coalesce(
            case_state.owner_email, managers.manager_email, '{{ var("fallback_manager_email") }}'
        )::text as manager_email,
        coalesce(case_state.owner_name, managers.manager_name)::text as manager_name,
        coalesce(case_state.opened_at, detractors.responded_at)::timestamptz as opened_at,
        case_state.notified_at::timestamptz as notified_at,
        coalesce(case_state.status, 'open')::text as status,
        case_state.closed_at::timestamptz as closed_at
    from detractors
    left join customers on detractors.customer_ref = customers.customer_ref
    left join purchases on detractors.purchase_id = purchases.purchase_id
    left join managers on detractors.region = managers.region
    left join case_state on detractors.survey_id = case_state.survey_id
)

select * from final
