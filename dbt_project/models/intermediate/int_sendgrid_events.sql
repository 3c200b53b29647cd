{{
    config(
        materialized='incremental',
        unique_key='sg_event_id',
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['sg_event_id'], 'unique': True}, {'columns': ['survey_id']}, {'columns': ['loaded_at']}]
    )
}}
-- SendGrid events, one row per sg_event_id. Append-only and stamped with their load, so a run reads what was loaded
-- since the newest load it holds, less var incremental_lookback_hours: a load still committing when the last run
-- read raw is merged again on the key (SendGrid's retried events carry the same sg_event_id).

with events as (
    select * from {{ ref('stg_sendgrid__events') }}
),

final as (
    select
        sg_event_id,
        event_type,
        email,
        survey_id,
        kind,
        sg_message_id,
        occurred_at,
        reason,
        loaded_at
    from events
    {% if is_incremental() %}
        where loaded_at > (
            select coalesce(max(loaded_at), '-infinity') - interval '{{ var("incremental_lookback_hours") }} hours'
            from {{ this }}
        )
    {% endif %}
)

select * from final
