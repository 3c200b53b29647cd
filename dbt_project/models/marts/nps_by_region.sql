-- NPS per month x region: answers in the month they were given, sends in the month they were sent.
-- Beside each row: the change vs the group's previous month with its interval and BH flag (macros/stats.sql).

with daily as (
    select * from {{ ref('int_survey_counts_daily') }}
),

counts as (
    select
        date_trunc('month', day)::date as month,
        region,
        {{ nps_count_sums() }}
    from daily
    group by date_trunc('month', day), region
),

compared as (
    {{ with_previous_month('region') }}
),

tested as (
    select
        *,
        {{ nps_change_columns() }}
    from compared
),

ranked as (
    select
        *,
        {{ bh_rank('p_value_vs_prev', 'month, region') }}
    from tested
),

final as (
    select
        month,
        region,
        {{ nps_metric_columns() }},
        nps_prev,
        nps_change,
        nps_change_lower,
        nps_change_upper,
        p_value_vs_prev,
        {{ bh_is_discovery('p_value_vs_prev') }} as is_significant_vs_prev
    from ranked
)

select * from final
