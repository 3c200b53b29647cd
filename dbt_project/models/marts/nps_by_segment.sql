-- NPS per month x segment: answers in the month they were given, sends in the month they were sent.

with daily as (
    select * from {{ ref('int_survey_counts_daily') }}
),

counts as (
    select
        date_trunc('month', day)::date as month,
        segment,
        {{ nps_count_sums() }}
    from daily
    group by date_trunc('month', day), segment
),

final as (
    select
        month,
        segment,
        {{ nps_metric_columns() }}
    from counts
)

select * from final
