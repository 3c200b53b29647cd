-- One row per answer and theme (theme null: the comment named none), as nps_load_responses classified it.
select
    survey_id,
    theme,
    tone,
    source,
    dictionary_version,
    classified_at
from {{ source('raw', 'comment_themes') }}
