{{ config(materialized='view') }}
-- Every purchase as a survey candidate on the sending day (as_of_date()): its due date and the reasons it may
-- not be sent. A view, so deliveries, sends, events and suppressions are read live at send time: a delivery
-- extracted last night counts this morning, though no build ran since.

with params as (
    select {{ as_of_date() }} as as_of_date
),

purchases as (
    select * from {{ ref('int_purchases') }}
),

customers as (
    select * from {{ ref('int_customers') }}
),

deliveries as (
    select * from {{ ref('stg_onec__deliveries') }}
),

suppressions as (
    select * from {{ ref('int_survey_suppressions') }}
),

sends as (
    select * from {{ ref('stg_survey__sends') }}
),

suppressed as (
    select distinct suppressions.email
    from suppressions
    cross join params
    where
        suppressions.email is not null
        and (suppressions.suppressed_on is null or suppressions.suppressed_on <= params.as_of_date)
),

invited as (
    select distinct survey_id
    from sends
    where kind = 'invite' and status <> 'sandbox'  -- a dry run (sandbox mode) sent nothing
),

final as (
    select
        purchases.survey_id,
        purchases.purchase_id,
        purchases.customer_ref,
        customers.email,
        customers.language,
        customers.customer_name,
        purchases.purchased_at,
        deliveries.delivered_date,
        purchases.promised_date,
        -- delivered (by the sending day): delivery + delay; else promised date + delay; else shipment date + delay
        case
            when deliveries.delivered_date <= params.as_of_date
                then deliveries.delivered_date + {{ var('survey_delay_days') }}
            when purchases.promised_date is not null
                then purchases.promised_date + {{ var('survey_delay_days') }}
            else purchases.purchased_at::date + {{ var('survey_delay_days') }}
        end as due_date,
        purchases.is_cancelled,
        (customers.email is null) as has_no_email,
        (suppressed.email is not null) as is_suppressed,
        (invited.survey_id is not null) as has_invite,
        params.as_of_date
    from purchases
    cross join params
    left join customers on purchases.customer_ref = customers.customer_ref
    left join deliveries on purchases.order_ref = deliveries.order_ref
    left join suppressed on customers.email = suppressed.email
    left join invited on purchases.survey_id = invited.survey_id
)

select * from final
