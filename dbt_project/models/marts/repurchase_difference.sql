-- Promoters' minus detractors' repurchase rate per answer month and over all months, per window, with Newcombe's
-- 95 % interval (macros/stats.sql): only windows that have closed count (int_answer_outcomes).

with outcomes as (
    select * from {{ ref('int_answer_outcomes') }}
    where is_window_closed
),

counts as (
    select
        date_trunc('month', responded_on)::date as month,
        window_days,
        count(*) filter (where nps_category = 'promoter')::integer as promoters_matured,
        count(*) filter (where nps_category = 'promoter' and has_repurchased)::integer as promoters_repurchased,
        count(*) filter (where nps_category = 'detractor')::integer as detractors_matured,
        count(*) filter (where nps_category = 'detractor' and has_repurchased)::integer as detractors_repurchased
    from outcomes
    group by grouping sets ((date_trunc('month', responded_on), window_days), (window_days))
),

intervals as (
    select
        *,
        {{ newcombe_bound('promoters_repurchased', 'promoters_matured', 'detractors_repurchased',
                          'detractors_matured', 'lower') }} as difference_lower,
        {{ newcombe_bound('promoters_repurchased', 'promoters_matured', 'detractors_repurchased',
                          'detractors_matured', 'upper') }} as difference_upper
    from counts
),

final as (
    select
        coalesce(to_char(month, 'YYYY-MM'), 'all') as period,
        month,
        window_days,
        promoters_matured,
        promoters_repurchased,
        {{ rate_with_wilson('promoters_repurchased', 'promoters_matured', 'promoter_repurchase_rate') }},
        detractors_matured,
        detractors_repurchased,
        {{ rate_with_wilson('detractors_repurchased', 'detractors_matured', 'detractor_repurchase_rate') }},
        round(
            1.0 * promoters_repurchased / nullif(promoters_matured, 0)
            - 1.0 * detractors_repurchased / nullif(detractors_matured, 0),
            4
        )::numeric(6, 4) as rate_difference,
        round(difference_lower, 4)::numeric(6, 4) as difference_lower,
        round(difference_upper, 4)::numeric(6, 4) as difference_upper,
        coalesce(difference_lower > 0 or difference_upper < 0, false) as is_significant
    from intervals
)

select * from final
