-- Month x theme x NPS category: how many commented answers name the theme, their share, and in which tone.

with answers as (
    select * from {{ ref('int_surveys') }}
    where is_responded and comment is not null
),

themes as (
    select * from {{ ref('fct_comment_themes') }}
),

commented as (
    select
        date_trunc('month', responded_on)::date as month,
        nps_category,
        count(*) as commented_answers
    from answers
    group by 1, 2
),

mentions as (
    select
        month,
        theme,
        nps_category,
        count(*) as mentions,
        count(*) filter (where tone = '+') as positive,
        count(*) filter (where tone = '-') as negative,
        count(*) filter (where tone = '0') as neutral
    from themes
    group by 1, 2, 3
),

final as (
    select
        mentions.month,
        mentions.theme,
        mentions.nps_category,
        mentions.mentions::integer as mentions,
        commented.commented_answers::integer as commented_answers,
        round(1.0 * mentions.mentions / commented.commented_answers, 4)::numeric(6, 4) as share_of_commented,
        mentions.positive::integer as positive,
        mentions.negative::integer as negative,
        mentions.neutral::integer as neutral
    from mentions
    inner join commented
        on mentions.month = commented.month and mentions.nps_category = commented.nps_category
)

select * from final
