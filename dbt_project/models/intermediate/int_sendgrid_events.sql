{{
    config(
        materialized='incremental',
        unique_key='sg_event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['sg_event_id'], 'unique': True},
            {'columns': ['survey_id']},
            {'columns': ['transformed_at']},
            {'columns': ['loaded_at']},
        ]
    )
}}
-- SendGrid events, one row per sg_event_id. Re-delivered or late events (SendGrid retries for 24 h) land within the
-- look-back and are merged on the key.

select
    sg_event_id,
    event_type,
    email,
    survey_id,
    kind,
    sg_message_id,
    occurred_at,
    reason,
    loaded_at,
    {{ transformed_at() }} as transformed_at
from {{ ref('stg_sendgrid__events') }}
{% if is_incremental() %}
    where {{ loaded_since_watermark() }}
{% endif %}
