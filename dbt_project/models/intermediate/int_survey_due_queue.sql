{{ config(materialized='view') }}
-- The surveys to send on the sending day (`nps.as_of_date`, see macros/as_of_date.sql): the one eligibility rule.
-- Invites: due within the catch-up window, not cancelled, a valid and unsuppressed address, no invite yet, no answer
-- yet (the QR code on the invoice is answered before the e-mail is due), the customer not surveyed in the last
-- throttle_days, at most one per customer and day (latest purchase wins).
-- Reminders: one, reminder_after_days after a sent invite, when there is no answer (in raw or landing) and no
-- unsubscribe. An answer is one from any channel: one purchase, one answer.

with params as (
    select {{ as_of_date() }} as as_of_date
),

candidates as (
    select * from {{ ref('int_survey_candidates') }}
),

sends as (
    select * from {{ ref('stg_survey__sends') }}
),

responses as (
    select * from {{ ref('stg_survey__responses') }}
),

landed_responses as (
    select * from {{ ref('stg_landing__responses') }}
),

answered as (
    -- loaded, or only landed since the last hourly load (views: read live at send time)
    select survey_id from responses
    union
    select survey_id from landed_responses
),

suppressions as (
    select * from {{ ref('int_survey_suppressions') }}
),

throttled as (
    select distinct sends.customer_ref
    from sends
    cross join params
    where
        sends.status not in ('failed', 'sandbox')
        and sends.send_day > params.as_of_date - {{ var('throttle_days') }}
        and sends.send_day <= params.as_of_date
),

due_invites as (
    select candidates.*
    from candidates
    cross join params
    where
        candidates.due_date between params.as_of_date - {{ var('catch_up_days') }} and params.as_of_date
        and not candidates.is_cancelled
        and not candidates.has_no_email
        and not candidates.is_suppressed
        and not candidates.has_invite
        and candidates.survey_id not in (select answered.survey_id from answered)
        and candidates.customer_ref not in (select throttled.customer_ref from throttled)
),

invites as (
    select distinct on (customer_ref)
        survey_id,
        'invite'::text as kind,
        purchase_id,
        customer_ref,
        email,
        language,
        customer_name,
        due_date
    from due_invites
    order by customer_ref asc, purchased_at desc nulls last, purchase_id desc
),

opted_out as (
    select
        suppressions.email,
        suppressions.survey_id
    from suppressions
    cross join params
    where suppressions.suppressed_on is null or suppressions.suppressed_on <= params.as_of_date
),

reminders as (
    select
        sent.survey_id,
        'reminder'::text as kind,
        sent.purchase_id,
        sent.customer_ref,
        sent.email,
        sent.language,
        candidates.customer_name,
        (sent.send_day + {{ var('reminder_after_days') }})::date as due_date
    from sends as sent
    cross join params
    left join candidates on sent.purchase_id = candidates.purchase_id
    where
        sent.kind = 'invite'
        and sent.status = 'sent'
        and sent.send_day + {{ var('reminder_after_days') }}
        between params.as_of_date - {{ var('catch_up_days') }} and params.as_of_date
        and not exists (
            select 1 from answered
            where answered.survey_id = sent.survey_id
        )
        and not exists (
            select 1 from opted_out
            where opted_out.email = sent.email or opted_out.survey_id = sent.survey_id
        )
        and not exists (
            select 1 from sends as reminder
            where reminder.survey_id = sent.survey_id and reminder.kind = 'reminder'
        )
),

queue as (
    select * from invites
    union all
    select * from reminders
),

final as (
    select
        queue.survey_id::text as survey_id,
        queue.kind::text as kind,
        queue.purchase_id::text as purchase_id,
        queue.customer_ref::text as customer_ref,
        queue.email::text as email,
        queue.language::text as language,
        queue.customer_name::text as customer_name,
        queue.due_date::date as due_date,
        (params.as_of_date - queue.due_date)::integer as days_late
    from queue
    cross join params
)

select * from final
