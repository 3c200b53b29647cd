{{ config(indexes=[{'columns': ['survey_id'], 'unique': True}]) }}
-- One answer per survey: the latest answer wins (by responded_at, then load time).

with responses as (
    select * from {{ ref('stg_survey__responses') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by survey_id order by responded_at desc, loaded_at desc
        ) as answer_rank
    from responses
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
        responded_at,
        {{ local_date('responded_at') }} as responded_on,
        loaded_at
    from ranked
    where answer_rank = 1
)

select * from final
