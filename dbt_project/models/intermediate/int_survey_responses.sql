{{ config(indexes=[{'columns': ['survey_id'], 'unique': True}]) }}
-- One answered survey: raw.survey_responses holds only the latest answer (nps.responses.latest decides it).

with responses as (
    select * from {{ ref('stg_survey__responses') }}
),

final as (
    select
        survey_id,
        score,
        {{ nps_category('score') }} as nps_category,
        comment,
        reason,
        language,
        channel,
        location_id,
        answer_id,
        responded_at,
        {{ local_date('responded_at') }} as responded_on,
        loaded_at
    from responses
)

select * from final
