{#- The counts of contract §5 summed over a group of int_survey_counts_daily's rows (it and every nps_by_* model). -#}
{% macro nps_count_sums() -%}
    sum(surveys_sent)::integer as surveys_sent,
    sum(surveys_delivered)::integer as surveys_delivered,
    sum(responses)::integer as responses,
    sum(promoters)::integer as promoters,
    sum(passives)::integer as passives,
    sum(detractors)::integer as detractors
{%- endmacro %}

{#- The shared metric columns of contract §5, from those counts (NPS math: macros/nps_metrics.sql). -#}
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
