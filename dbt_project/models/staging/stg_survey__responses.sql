select
    survey_id,
    score::integer as score,
    {{ blank_to_null('comment') }} as comment,
    nullif(array_to_string(reasons, ','), '') as reason,
    lower(language) as language,
    channel,
    location_id,
    answer_id,
    responded_at,
    _loaded_at as loaded_at
from {{ source('raw', 'survey_responses') }}
