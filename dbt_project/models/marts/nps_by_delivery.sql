-- NPS per month x delivery bucket: answers in the month they were given, sends in the month they were sent.
-- Anonymous answers (kiosk, widget without an order) have no purchase, so no delivery: they are not here.
-- Beside each row: the change vs the group's previous month with its interval and BH flag (macros/stats.sql).

with daily as (
    select * from {{ ref('int_survey_counts_daily') }}
),

counts as (
    select
        date_trunc('month', day)::date as month,
        delivery_bucket,
        {{ nps_count_sums() }}
    from daily
    where delivery_bucket is not null
    group by date_trunc('month', day), delivery_bucket
),

compared as (
    {{ with_previous_month('delivery_bucket') }}
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
        {{ bh_rank('p_value_vs_prev', 'month, delivery_bucket') }}
    from tested
),

final as (
    select
        month,
        delivery_bucket,
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
