{#-
  The body of every nps_by_* model: the daily counts of int_survey_counts_daily (answers on the day they were given,
  sends on the day they were sent) summed per period x dimension. NPS, its margin and the low-n flag come from the
  macros in nps_metrics.sql, always over summed counts.
  period: 'month' or 'day'; dimension: region, segment, delivery_bucket or none.
-#}
{% macro nps_rollup(period, dimension=none, period_column=none) -%}
{%- set period_column = period_column or period -%}
{%- set dims = [dimension] if dimension else [] -%}
with daily as (
    select * from {{ ref('int_survey_counts_daily') }}
),

counts as (
    select
        date_trunc('{{ period }}', day)::date as {{ period_column }},
        {% for d in dims %}{{ d }},{% endfor %}
        sum(surveys_sent)::integer as surveys_sent,
        sum(surveys_delivered)::integer as surveys_delivered,
        sum(responses)::integer as responses,
        sum(promoters)::integer as promoters,
        sum(passives)::integer as passives,
        sum(detractors)::integer as detractors
    from daily
    group by 1{% for d in dims %}, {{ d }}{% endfor %}
)
{%- endmacro %}

{#- The shared metric columns of contract §5, from the counts CTE above. -#}
{% macro nps_metric_columns() -%}
    surveys_sent,
    surveys_delivered,
    responses,
    promoters,
    passives,
    detractors,
    {{ nps('promoters', 'detractors', 'responses') }} as nps,
    {{ nps_moe_95('promoters', 'detractors', 'responses') }} as nps_moe_95,
    {{ is_low_n('responses') }} as is_low_n,
    {{ response_rate('responses', 'surveys_delivered') }} as response_rate
{%- endmacro %}
