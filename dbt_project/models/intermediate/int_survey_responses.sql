{{
    config(
        materialized='incremental',
        unique_key='survey_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['survey_id'], 'unique': True},
            {'columns': ['transformed_at']},
            {'columns': ['loaded_at']},
        ]
    )
}}
-- One answer per survey: the latest answer wins (by responded_at, then load time). Incremental on load time and on
-- answer time, and an older answer arriving late never replaces a newer one already here.

with responses as (
    select * from {{ ref('stg_survey__responses') }}
    {% if is_incremental() %}
        where
            {{ loaded_since_watermark() }}
            or responded_at > (
                select
                    coalesce(max(t.responded_at), '-infinity'::timestamptz)
                    - interval '{{ var("incremental_lookback_hours") }} hours'
                from {{ this }} as t
            )
    {% endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by survey_id order by responded_at desc, loaded_at desc
        ) as answer_rank
    from responses
)

select
    ranked.survey_id,
    ranked.score,
    {{ nps_category('ranked.score') }} as nps_category,
    ranked.comment,
    ranked.reason,
    ranked.language,
    ranked.channel,
    ranked.responded_at,
    {{ local_date('ranked.responded_at') }} as responded_on,
    ranked.loaded_at,
    {{ transformed_at() }} as transformed_at
from ranked
where
    ranked.answer_rank = 1
{% if is_incremental() %}
    and not exists (
        select 1 from {{ this }} as t
        where t.survey_id = ranked.survey_id and t.responded_at > ranked.responded_at
    )
{% endif %}
