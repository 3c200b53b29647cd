-- One case per detractor answer, and per passive answer with a comment when NPS_CLOSELOOP_INCLUDE_PASSIVES (var
-- closeloop_include_passives), with the customer's contact (PII: schema ops, not granted to BI); a shop kiosk's
-- anonymous answer makes one only when its customer left a phone or e-mail with consent (ops.kiosk_contacts).
-- nps_close_loop opens a case for each row and keeps its owner, notification and status in ops.case_state (outside
-- dbt, so rebuilds lose nothing); this model joins it back. A view over tables, so they are always the live case state.

{{ config(materialized='view') }}

with sale_answers as (
    select * from {{ ref('int_surveys') }}
    where is_responded
),

anonymous_answers as (
    select * from {{ ref('int_anonymous_responses') }}
),

kiosk_contacts as (
    -- a phone or e-mail a kiosk customer left with consent: read here only, ops to ops (nps.collector.kiosk)
    select * from {{ source('kiosks', 'kiosk_contacts') }}
),

kiosk_locations as (
    select * from {{ ref('stg_ops__kiosk_locations') }}
),

kiosk_answers as (
    -- an anonymous answer makes a case only with a consented contact to call back on; no purchase behind it
    select
        anonymous_answers.survey_id,
        null::text as purchase_id,
        null::text as customer_ref,
        anonymous_answers.region,
        anonymous_answers.segment,
        anonymous_answers.language,
        anonymous_answers.score,
        anonymous_answers.nps_category,
        anonymous_answers.reason,
        anonymous_answers.comment,
        anonymous_answers.responded_at,
        null::timestamp as delivered_at,
        null::integer as delay_days,
        null::boolean as is_in_full,
        kiosk_contacts.phone as contact_phone,
        kiosk_contacts.email as contact_email,
        kiosk_locations.location_name
    from anonymous_answers
    inner join kiosk_contacts on anonymous_answers.survey_id = kiosk_contacts.answer_id
    left join kiosk_locations on anonymous_answers.location_id = kiosk_locations.location_id
),

all_answers as (
    -- the purchases' answers and the kiosk's, in kiosk_answers' column order
    select
        survey_id,
        purchase_id,
        customer_ref,
        region,
        segment,
        language,
        score,
        nps_category,
        reason,
        comment,
        responded_at,
        delivered_at,
        delay_days,
        is_in_full,
        null as contact_phone,
        null as contact_email,
        null as location_name
    from sale_answers
    union all
    select * from kiosk_answers
),

answers as (
    select * from all_answers
    where
        nps_category = 'detractor'
        or (
            {{ var('closeloop_include_passives') }}
            and nps_category = 'passive'
            and nullif(trim(comment), '') is not null
        )
),

customers as (
    select * from {{ ref('int_customers') }}
),

purchases as (
    select * from {{ ref('int_purchases') }}
),

case_state as (
    select * from {{ source('close_loop', 'case_state') }}
),

comment_themes as (
    -- the latest answer's comment themes (nps.comments), 'theme:tone', for the manager's digest and task
    select
        survey_id,
        array_agg(theme || ':' || tone order by theme) as themes
    from {{ ref('stg_survey__comment_themes') }}
    where theme is not null
    group by survey_id
),

history as (
    -- what the customer bought before the answer, for the manager's call: the long repurchase window's "before" side
    select * from {{ ref('int_answer_outcomes') }}
    where window_days = {{ var('repurchase_long_days') }}
),

final as (
    select
        answers.survey_id::text as survey_id,
        answers.purchase_id::text as purchase_id,
        answers.customer_ref::text as customer_ref,
        answers.region::text as region,
        answers.segment::text as segment,
        customers.customer_name::text as customer_name,
        customers.company_name::text as company_name,
        coalesce(answers.contact_phone, customers.phone)::text as phone,
        coalesce(answers.contact_email, customers.email)::text as email,
        answers.location_name::text as location_name,
        answers.language::text as language,
        customers.crm_assigned_by_id::text as crm_assigned_by_id,
        answers.score::integer as score,
        -- reason codes never contain commas: the array the collector stored
        coalesce(string_to_array(answers.reason, ','), '{}')::text[] as reasons,
        answers.comment::text as comment,
        coalesce(comment_themes.themes, '{}')::text[] as themes,
        answers.responded_at::timestamptz as responded_at,
        purchases.order_number::text as order_number,
        answers.delivered_at::timestamp as delivered_at,
        purchases.promised_date::date as promised_date,
        answers.delay_days::integer as delay_days,
        answers.is_in_full::boolean as is_in_full,
        answers.nps_category::text as nps_category,
        history.window_days::integer as history_days,
        history.orders_before::integer as orders_before,
        history.revenue_before::numeric(18, 2) as revenue_before,
        -- the owner is nps_close_loop's choice (nps.closeloop.owners): none until it opens the case
        case_state.owner_email::text as manager_email,
        case_state.owner_name::text as manager_name,
        coalesce(case_state.opened_at, answers.responded_at)::timestamptz as opened_at,
        case_state.notified_at::timestamptz as notified_at,
        coalesce(case_state.status, 'open')::text as status,
        case_state.closed_at::timestamptz as closed_at
    from answers
    left join customers on answers.customer_ref = customers.customer_ref
    left join purchases on answers.purchase_id = purchases.purchase_id
    left join case_state on answers.survey_id = case_state.survey_id
    left join history on answers.survey_id = history.survey_id
    left join comment_themes on answers.survey_id = comment_themes.survey_id
)

select * from final
