select
    landing_id as click_id,
    survey_id,
    score::integer as score,
    clicked_at,
    _loaded_at as loaded_at
from {{ source('raw', 'survey_clicks') }}
