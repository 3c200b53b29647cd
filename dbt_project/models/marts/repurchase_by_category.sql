-- Repurchase and revenue after an answer, per answer month x NPS category x window, for all answers and by region
-- and by segment (dimension / dimension_value): only windows that have closed count (int_answer_outcomes).

with outcomes as (
    select * from {{ ref('int_answer_outcomes') }}
),

counts as (
    select
        date_trunc('month', responded_on)::date as month,
        nps_category,
        case
            when grouping(region) = 0 then 'region'
            when grouping(segment) = 0 then 'segment'
            else 'all'
        end as dimension,
        case
            when grouping(region) = 0 then region
            when grouping(segment) = 0 then segment
            else 'all'
        end as dimension_value,
        window_days,
        count(*)::integer as customers,
        count(*) filter (where is_window_closed)::integer as matured,
        count(*) filter (where is_window_closed and has_repurchased)::integer as repurchased,
        sum(revenue_before) filter (where is_window_closed) as revenue_before,
        sum(revenue_after) filter (where is_window_closed) as revenue_after
    from outcomes
    group by grouping sets (
        (date_trunc('month', responded_on), nps_category, window_days),
        (date_trunc('month', responded_on), nps_category, window_days, region),
        (date_trunc('month', responded_on), nps_category, window_days, segment)
    )
),

final as (
    select
        month,
        nps_category,
        dimension,
        dimension_value,
        window_days,
        customers,
        matured,
        repurchased,
        {{ rate_with_wilson('repurchased', 'matured', 'repurchase_rate') }},
        matured - repurchased as churned,
        {{ rate_with_wilson('matured - repurchased', 'matured', 'churn_rate') }},
        round(revenue_before / nullif(matured, 0), 2)::numeric(18, 2) as revenue_before_per_customer,
        round(revenue_after / nullif(matured, 0), 2)::numeric(18, 2) as revenue_after_per_customer
    from counts
)

select * from final
