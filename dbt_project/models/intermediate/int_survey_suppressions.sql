{{ config(materialized='view') }}
-- Who must not be surveyed any more, and since which day: unsubscribes, bounces and spam reports from the Event
-- Webhook (per address and survey) and SendGrid's suppression lists (per address). The one suppression rule, read
-- by the candidates (invites) and the due queue (reminders); a view, so sends read it live.

with events as (
    select * from {{ ref('stg_sendgrid__events') }}
),

suppression_lists as (
    select * from {{ ref('stg_sendgrid__suppressions') }}
),

final as (
    select
        email,
        survey_id,
        {{ local_date('occurred_at') }} as suppressed_on
    from events
    where event_type in ('unsubscribe', 'group_unsubscribe', 'bounce', 'spamreport')
    union all
    select
        email,
        null as survey_id,
        {{ local_date('created_at') }} as suppressed_on
    from suppression_lists
)

select * from final
