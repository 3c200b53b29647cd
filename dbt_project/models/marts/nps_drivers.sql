-- NPS of the answers with a delivery fact against the answers without it, over every answer: which operational
-- failure costs the most points. Each value of a fact is compared with the rest of the answers (macros/stats.sql).

with surveys as (
    select * from {{ ref('int_surveys') }}
    where is_responded
),

purchases as (
    select * from {{ ref('int_purchases') }}
),

answers as (
    select
        surveys.survey_id,
        surveys.nps_category,
        surveys.is_on_time,
        surveys.is_in_full,
        surveys.is_otif,
        surveys.delivery_bucket,
        surveys.segment,
        purchases.amount
    from surveys
    inner join purchases on surveys.purchase_id = purchases.purchase_id
),

size_bands as (
    -- terciles of the answered purchases' amounts: bands that fit any price level
    select
        percentile_cont(1.0 / 3) within group (order by amount) as small_up_to,
        percentile_cont(2.0 / 3) within group (order by amount) as medium_up_to
    from answers
),

facts as (
    -- one row per answer and fact, with the answer's value of it
    select
        nps_category,
        'on_time' as fact,
        is_on_time::text as fact_value
    from answers
    union all
    select
        nps_category,
        'in_full' as fact,
        is_in_full::text as fact_value
    from answers
    union all
    select
        nps_category,
        'otif' as fact,
        is_otif::text as fact_value
    from answers
    union all
    select
        nps_category,
        'delivery_bucket' as fact,
        delivery_bucket as fact_value
    from answers
    union all
    select
        answers.nps_category,
        'order_size_band' as fact,
        case
            when answers.amount is null then 'unknown'
            when answers.amount <= size_bands.small_up_to then 'small'
            when answers.amount <= size_bands.medium_up_to then 'medium'
            else 'large'
        end as fact_value
    from answers
    cross join size_bands
    union all
    select
        nps_category,
        'segment' as fact,
        segment as fact_value
    from answers
),

with_fact as (
    select
        fact,
        fact_value,
        count(*)::integer as responses,
        count(*) filter (where nps_category = 'promoter')::integer as promoters,
        count(*) filter (where nps_category = 'detractor')::integer as detractors
    from facts
    group by fact, fact_value
),

all_answers as (
    select
        count(*)::integer as responses,
        count(*) filter (where nps_category = 'promoter')::integer as promoters,
        count(*) filter (where nps_category = 'detractor')::integer as detractors
    from answers
),

compared as (
    select
        with_fact.fact,
        with_fact.fact_value,
        with_fact.responses as responses_with,
        with_fact.promoters as promoters_with,
        with_fact.detractors as detractors_with,
        all_answers.responses - with_fact.responses as responses_without,
        all_answers.promoters - with_fact.promoters as promoters_without,
        all_answers.detractors - with_fact.detractors as detractors_without
    from with_fact
    cross join all_answers
),

differences as (
    select
        *,
        {{ nps('promoters_with', 'detractors_with', 'responses_with') }} as nps_with,
        {{ nps('promoters_without', 'detractors_without', 'responses_without') }} as nps_without,
        {{ nps_difference_bound('promoters_with', 'detractors_with', 'responses_with',
                                'promoters_without', 'detractors_without', 'responses_without', 'lower') }}
            as difference_lower,
        {{ nps_difference_bound('promoters_with', 'detractors_with', 'responses_with',
                                'promoters_without', 'detractors_without', 'responses_without', 'upper') }}
            as difference_upper
    from compared
),

final as (
    select
        fact,
        fact_value,
        responses_with,
        promoters_with,
        detractors_with,
        nps_with,
        responses_without,
        promoters_without,
        detractors_without,
        nps_without,
        (nps_with - nps_without)::numeric(6, 2) as nps_difference,
        round(difference_lower, 2)::numeric(6, 2) as difference_lower,
        round(difference_upper, 2)::numeric(6, 2) as difference_upper,
        coalesce(difference_lower > 0 or difference_upper < 0, false) as is_significant,
        {{ is_low_n('responses_with') }} or {{ is_low_n('responses_without') }} as is_low_n
    from differences
)

select * from final
