{{
    config(
        materialized='incremental',
        unique_key='survey_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['survey_id'], 'unique': True},
            {'columns': ['transformed_at']},
            {'columns': ['responded_on']},
            {'columns': ['send_day']},
        ],
        post_hook=[
            "delete from {{ this }} as t where t.invite_status = 'claimed'
             and not exists (select 1 from {{ ref('stg_survey__sends') }} as s
                             where s.survey_id = t.survey_id and s.kind = 'invite')
             and not exists (select 1 from {{ ref('int_survey_responses') }} as r where r.survey_id = t.survey_id)"
        ]
    )
}}
-- One row per survey that was sent (invite) or answered: sends + SendGrid events + collector clicks + the latest
-- answer, with the purchase's delivery performance and the customer's region/segment at purchase time.
-- Incremental: a survey is rebuilt when its purchase, answer or events were rebuilt upstream since this model's
-- last run (transformed_at), or when its sends or clicks changed since (stg_survey__changes, stamped by triggers:
-- the sender updates statuses without a timestamp). A claimed invite the sender dropped again goes (post-hook).
-- depends_on: {{ ref('stg_survey__changes') }}

-- read a few times, each time for a few keys: not materialized, so each read goes through the indexes
with all_responses as not materialized (
    select * from {{ ref('int_survey_responses') }}
),

all_purchases as not materialized (
    select * from {{ ref('int_purchases') }}
),

{% if is_incremental() %}
    {%- set last_run = rebuilt_since() %}
    changed as (
        -- stamped on the database clock, compared with dbt's: the look-back covers a skew between the two
        select changes.survey_id
        from {{ ref('stg_survey__changes') }} as changes
        where changes.changed_at > {{ last_run }} - interval '{{ var("incremental_lookback_hours") }} hours'
        union
        select all_responses.survey_id
        from all_responses
        where all_responses.transformed_at > {{ last_run }}
        union
        select events.survey_id
        from {{ ref('int_sendgrid_events') }} as events
        where events.transformed_at > {{ last_run }} and events.survey_id is not null
        union
        select all_purchases.survey_id
        from all_purchases
        where all_purchases.transformed_at > {{ last_run }}
    ),
{% endif %}

sends as (
    select * from {{ ref('stg_survey__sends') }}
    {%- if is_incremental() %}
        -- the changed surveys' sends and clicks only, through raw's survey_id indexes
        where survey_id = any(array(select changed.survey_id from changed))
    {%- endif %}
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

clicks as (
    select
        survey_id,
        min(clicked_at) as first_clicked_at
    from {{ ref('stg_survey__clicks') }}
    {%- if is_incremental() %}
        where survey_id = any(array(select changed.survey_id from changed))
    {%- endif %}
    group by survey_id
),

responses as (
    select all_responses.*
    from all_responses
    {% if is_incremental() %}
        -- index lookups of the changed keys, whatever the planner guesses of their number
        where all_responses.survey_id = any(array(select changed.survey_id from changed))
    {% endif %}
),

surveys as (
    select invites.survey_id
    from invites
    union
    select survey_id from responses
),

{%- set event_flags -%}
    bool_or(events.event_type = 'delivered') as has_delivered_event,
    bool_or(events.event_type in ('bounce', 'dropped')) as is_bounced,
    bool_or(events.event_type = 'open') as is_opened,
    bool_or(events.event_type = 'click') as is_clicked,
    bool_or(events.event_type in ('unsubscribe', 'group_unsubscribe')) as is_unsubscribed,
    bool_or(events.event_type = 'spamreport') as is_spam_reported,
    min(events.occurred_at) filter (where events.event_type = 'delivered') as delivered_at
{%- endset %}

{% if not is_incremental() %}
    events as (
        select
            events.survey_id,
            {{ event_flags }}
        from {{ ref('int_sendgrid_events') }} as events
        inner join surveys on events.survey_id = surveys.survey_id
        group by events.survey_id
    ),
{% endif %}

purchases as (
    select all_purchases.*
    from all_purchases
    {% if is_incremental() %}
        where all_purchases.survey_id = any(array(select surveys.survey_id from surveys))
    {% else %}
        inner join surveys on all_purchases.survey_id = surveys.survey_id
    {% endif %}
)

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
        coalesce(events.has_delivered_event or events.is_opened or events.is_clicked, false)
        or clicks.survey_id is not null
        or responses.survey_id is not null
    ) as is_delivered,
    coalesce(events.is_bounced, false) as is_bounced,
    coalesce(events.is_opened, false) as is_opened,
    coalesce(events.is_clicked, false) or clicks.survey_id is not null as is_clicked,
    coalesce(events.is_unsubscribed, false) as is_unsubscribed,
    coalesce(events.is_spam_reported, false) as is_spam_reported,
    (responses.survey_id is not null) as is_responded,
    responses.score,
    responses.nps_category,
    responses.reason,
    responses.comment,
    responses.responded_at,
    responses.responded_on,
    -- every day the survey was counted on (int_survey_counts_daily): today's send and answer days and, kept from
    -- its previous row, the days a changed answer moved away from (text: dbt cannot add an array column)
    {%- set sent_day = "case when invites.status = 'sent' then invites.send_day end" %}
    {%- if incremental_with('counted_days') %}
        array_to_string(
            array(
                select distinct counted.day
                from
                    unnest(
                        string_to_array(previous.counted_days, ',')::date[]
                        || array[{{ sent_day }}, responses.responded_on]
                    ) as counted (day)
                where counted.day is not null
                order by counted.day
            ),
            ','
        ) as counted_days,
    {%- else %}
        -- the same list of at most two days, without an array per row (least / greatest skip nulls)
        concat_ws(
            ',',
            least({{ sent_day }}, responses.responded_on),
            nullif(greatest({{ sent_day }}, responses.responded_on), least({{ sent_day }}, responses.responded_on))
        ) as counted_days,
    {%- endif %}
    {{ transformed_at() }} as transformed_at
from surveys
inner join purchases on surveys.survey_id = purchases.survey_id
left join invites on surveys.survey_id = invites.survey_id
left join reminders on surveys.survey_id = reminders.survey_id
{% if is_incremental() %}
    -- per survey through the events' index: a join to an aggregate of the few changed surveys' events risks being
    -- planned as a nested loop re-reading the whole aggregate for every survey
    left join lateral (
        select {{ event_flags }}
        from {{ ref('int_sendgrid_events') }} as events
        where events.survey_id = surveys.survey_id
    ) as events on true
{% else %}
    left join events on surveys.survey_id = events.survey_id
{% endif %}
left join clicks on surveys.survey_id = clicks.survey_id
-- all_responses, not responses: a probe of its index per survey (responses is a set of unknown size)
left join all_responses as responses on surveys.survey_id = responses.survey_id
{% if is_incremental() %}
    left join {{ this }} as previous on surveys.survey_id = previous.survey_id
{% endif %}
