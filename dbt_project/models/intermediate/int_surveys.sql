{{ config(indexes=[{'columns': ['survey_id'], 'unique': True}]) }}
-- One row per survey that was sent (invite) or answered: sends + SendGrid events + collector clicks + the latest
-- answer, with the purchase's delivery performance and the customer's region/segment at purchase time.

with sends as (
    select * from {{ ref('stg_survey__sends') }}
),

events as (
    select * from {{ ref('int_sendgrid_events') }}
),

clicks as (
    select * from {{ ref('stg_survey__clicks') }}
),

responses as (
    select * from {{ ref('int_survey_responses') }}
),

purchases as (
    select * from {{ ref('int_purchases') }}
),

invites as (
    select * from sends
    where kind = 'invite'
),

reminders as (
    select
        survey_id,
        min(send_day) as reminder_day,
        bool_or(status = 'sent') as is_reminder_sent
    from sends
    where kind = 'reminder'
    group by survey_id
),

clicked as (
    -- a click on a score button in the e-mail, recorded by the collector
    select distinct survey_id from clicks
),

surveys as (
    select survey_id from invites
    union
    select survey_id from responses
),

event_flags as (
    select
        survey_id,
        bool_or(event_type = 'delivered') as has_delivered_event,
        bool_or(event_type in ('bounce', 'dropped')) as is_bounced,
        bool_or(event_type = 'open') as is_opened,
        bool_or(event_type = 'click') as is_clicked,
        bool_or(event_type in ('unsubscribe', 'group_unsubscribe')) as is_unsubscribed,
        bool_or(event_type = 'spamreport') as is_spam_reported
    from events
    where survey_id is not null
    group by survey_id
),

final as (
    select
        surveys.survey_id,
        purchases.purchase_id,
        purchases.customer_ref,
        purchases.region,
        purchases.segment,
        purchases.purchased_at,
        purchases.delivered_at,
        purchases.delivery_bucket,
        purchases.delay_days,
        purchases.is_on_time,
        purchases.is_in_full,
        purchases.is_otif,
        invites.status as invite_status,
        coalesce(invites.status = 'sent', false) as is_sent,
        invites.send_day,
        invites.sent_at as survey_sent_at,
        invites.due_date,
        coalesce(invites.language, responses.language) as language,
        reminders.reminder_day,
        coalesce(reminders.is_reminder_sent, false) as is_reminder_sent,
        -- an opened, clicked or answered e-mail was delivered even when its 'delivered' event is missing
        coalesce(invites.status = 'sent', false) and (
            coalesce(event_flags.has_delivered_event or event_flags.is_opened or event_flags.is_clicked, false)
            or clicked.survey_id is not null
            or responses.survey_id is not null
        ) as is_delivered,
        coalesce(event_flags.is_bounced, false) as is_bounced,
        coalesce(event_flags.is_opened, false) as is_opened,
        coalesce(event_flags.is_clicked, false) or clicked.survey_id is not null as is_clicked,
        coalesce(event_flags.is_unsubscribed, false) as is_unsubscribed,
        coalesce(event_flags.is_spam_reported, false) as is_spam_reported,
        (responses.survey_id is not null) as is_responded,
        responses.score,
        responses.nps_category,
        responses.reason,
        responses.comment,
        responses.responded_at,
        responses.responded_on,
        responses.channel
    from surveys
    inner join purchases on surveys.survey_id = purchases.survey_id
    left join invites on surveys.survey_id = invites.survey_id
    left join reminders on surveys.survey_id = reminders.survey_id
    left join event_flags on surveys.survey_id = event_flags.survey_id
    left join clicked on surveys.survey_id = clicked.survey_id
    left join responses on surveys.survey_id = responses.survey_id
)

select * from final
