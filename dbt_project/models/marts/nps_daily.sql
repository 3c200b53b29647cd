-- NPS per day with trailing 30 / 90 calendar-day NPS (from the window's summed counts, never averaged).

with daily as (
    select * from {{ ref('int_survey_counts_daily') }}
),

counts as (
    select
        day,
        {{ nps_count_sums() }}
    from daily
    group by day
),

rolling as (
    -- trailing windows over calendar days (range, not rows)
    select
        day,
        sum(promoters) over last_30 as promoters_30d,
        sum(detractors) over last_30 as detractors_30d,
        sum(responses) over last_30 as responses_30d,
        sum(promoters) over last_90 as promoters_90d,
        sum(detractors) over last_90 as detractors_90d,
        sum(responses) over last_90 as responses_90d
    from counts
    window
        last_30 as (order by day range between interval '29 days' preceding and current row),
        last_90 as (order by day range between interval '89 days' preceding and current row)
),

final as (
    select
        counts.day,
        {{ nps_metric_columns() }},
        {{ nps('rolling.promoters_30d', 'rolling.detractors_30d', 'rolling.responses_30d') }} as nps_rolling_30d,
        {{ nps_moe_95('rolling.promoters_30d', 'rolling.detractors_30d', 'rolling.responses_30d') }}
            as nps_rolling_30d_moe_95,
        {{ nps('rolling.promoters_90d', 'rolling.detractors_90d', 'rolling.responses_90d') }} as nps_rolling_90d
    from counts
    inner join rolling on counts.day = rolling.day
)

select * from final
