select
    id as landing_id,
    survey_id,
    score::integer as score,
    signal,
    responded_at,
    received_at
from {{ source('landing', 'responses') }}
