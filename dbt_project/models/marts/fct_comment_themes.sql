-- One theme of one answer's comment (latest answer wins), with the answer's month, region, segment and category.
-- No PII, no comment text: the themes are nps.comments' (plugins/nps/comments/themes.yml), never decided here.

with answers as (
    select * from {{ ref('int_surveys') }}
    where is_responded and comment is not null
),

themes as (
    select * from {{ ref('stg_survey__comment_themes') }}
    where theme is not null
),

final as (
    select
        themes.survey_id,
        date_trunc('month', answers.responded_on)::date as month,
        answers.region,
        answers.segment,
        answers.nps_category,
        themes.theme,
        themes.tone,
        themes.source,
        themes.dictionary_version
    from themes
    inner join answers on themes.survey_id = answers.survey_id
)

select * from final
