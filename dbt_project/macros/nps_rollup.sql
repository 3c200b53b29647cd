{#-
  The body of every nps_by_* model: answers counted in the period they were given (responded_on, Europe/Kyiv),
  sends counted in the period they were sent (send_day), joined on period x dimension. NPS, its margin and the
  low-n flag come from the macros in nps_metrics.sql, always over summed counts.
  period: 'month' or 'day'; dimension: a column of int_surveys or none.
-#}
{% macro nps_rollup(period, dimension=none, period_column=none) -%}
{%- set period_column = period_column or period -%}
{%- set dims = [dimension] if dimension else [] -%}
with surveys as (
    select * from {{ ref('int_surveys') }}
),

answers as (
    select
        date_trunc('{{ period }}', responded_on)::date as {{ period_column }},
        {% for d in dims %}{{ d }},{% endfor %}
        count(*)::integer as responses,
        (count(*) filter (where nps_category = 'promoter'))::integer as promoters,
        (count(*) filter (where nps_category = 'passive'))::integer as passives,
        (count(*) filter (where nps_category = 'detractor'))::integer as detractors
    from surveys
    where is_responded
    group by 1{% for d in dims %}, {{ d }}{% endfor %}
),

sent as (
    select
        date_trunc('{{ period }}', send_day)::date as {{ period_column }},
        {% for d in dims %}{{ d }},{% endfor %}
        count(*)::integer as surveys_sent,
        (count(*) filter (where is_delivered))::integer as surveys_delivered
    from surveys
    where is_sent
    group by 1{% for d in dims %}, {{ d }}{% endfor %}
),

counts as (
    select
        coalesce(answers.{{ period_column }}, sent.{{ period_column }}) as {{ period_column }},
        {% for d in dims %}coalesce(answers.{{ d }}, sent.{{ d }}) as {{ d }},{% endfor %}
        coalesce(sent.surveys_sent, 0) as surveys_sent,
        coalesce(sent.surveys_delivered, 0) as surveys_delivered,
        coalesce(answers.responses, 0) as responses,
        coalesce(answers.promoters, 0) as promoters,
        coalesce(answers.passives, 0) as passives,
        coalesce(answers.detractors, 0) as detractors
    from answers
    full outer join sent
        on answers.{{ period_column }} = sent.{{ period_column }}
        {% for d in dims %}and answers.{{ d }} = sent.{{ d }}{% endfor %}
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
