select
    survey_id,
    changed_at
from {{ source('raw', 'survey_changes') }}
