-- Month: the customers whose comment praised the delivery (delivery_time or delivery_service with tone +).

with answers as (
    select * from {{ ref('int_surveys') }}
    where is_responded and comment is not null
),

praise as (
    select distinct survey_id from {{ ref('fct_comment_themes') }}
    where theme in ('delivery_time', 'delivery_service') and tone = '+'
),

final as (
    select
        date_trunc('month', answers.responded_on)::date as month,
        count(*)::integer as commented_answers,
        count(praise.survey_id)::integer as praising_answers,
        count(distinct answers.customer_ref) filter (where praise.survey_id is not null)::integer
            as praising_customers,
        round(1.0 * count(praise.survey_id) / count(*), 4)::numeric(6, 4) as share_of_commented
    from answers
    left join praise on answers.survey_id = praise.survey_id
    group by 1
)

select * from final
