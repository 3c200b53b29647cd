select
    survey_id,
    kind,
    purchase_id,
    customer_ref,
    {{ clean_email('email') }} as email,
    language,
    status,
    message_id,
    error,
    due_date,
    logical_date as send_day,
    claimed_at,
    sent_at
from {{ source('raw', 'survey_sends') }}
