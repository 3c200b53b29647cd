select
    sg_event_id,
    lower(event) as event_type,
    {{ clean_email('email') }} as email,
    {{ blank_to_null('survey_id') }} as survey_id,
    {{ blank_to_null('kind') }} as kind,
    {{ blank_to_null('sg_message_id') }} as sg_message_id,
    occurred_at,
    reason,
    _loaded_at as loaded_at
from {{ source('raw', 'sendgrid_events') }}
