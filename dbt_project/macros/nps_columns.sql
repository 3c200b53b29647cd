{#- The counts of contract §5 summed over a group of int_survey_counts_daily's rows (it and every nps_by_* model). -#}
{% macro nps_count_sums() -%}
    sum(surveys_sent)::integer as surveys_sent,
    sum(surveys_delivered)::integer as surveys_delivered,
    sum(surveys_answered)::integer as surveys_answered,
    sum(responses)::integer as responses,
    sum(promoters)::integer as promoters,
    sum(passives)::integer as passives,
    sum(detractors)::integer as detractors
{%- endmacro %}

{#- The shared metric columns of contract §5, from those counts (the maths: macros/stats.sql). -#}
{% macro nps_metric_columns() -%}
    surveys_sent,
    surveys_delivered,
    surveys_answered,
    responses,
    promoters,
    passives,
    detractors,
    {{ nps('promoters', 'detractors', 'responses') }} as nps,
    {{ nps_moe_95('promoters', 'detractors', 'responses') }} as nps_moe_95,
    {{ is_low_n('responses') }} as is_low_n,
    {{ response_rate('surveys_answered', 'surveys_delivered') }} as response_rate
{%- endmacro %}

{#-
  A month's counts beside the same group's counts of the month before (previous_*; null when the group had no row
  then), from a model's `counts` CTE grouped by month and `key`: each nps_by_* model's `compared` CTE.
-#}
{% macro with_previous_month(key) -%}
    select
        counts.*,
        previous.promoters as previous_promoters,
        previous.detractors as previous_detractors,
        previous.responses as previous_responses
    from counts
    left join counts as previous
        on
            counts.{{ key }} = previous.{{ key }}
            and previous.month = (counts.month - interval '1 month')::date
{%- endmacro %}

{#-
  The change of NPS against the previous month with its 95 % adjusted-Wald interval and p-value (macros/stats.sql),
  from a `compared` row (each nps_by_* model's `tested` CTE; its `ranked` and `final` CTEs add the Benjamini-Hochberg
  flag, macros/stats.sql).
-#}
{% macro nps_change_columns() -%}
    {{ nps('previous_promoters', 'previous_detractors', 'previous_responses') }} as nps_prev,
    (
        {{ nps('promoters', 'detractors', 'responses') }}
        - {{ nps('previous_promoters', 'previous_detractors', 'previous_responses') }}
    )::numeric(6, 2) as nps_change,
    round({{ nps_difference_bound('promoters', 'detractors', 'responses', 'previous_promoters',
                                  'previous_detractors', 'previous_responses', 'lower') }}, 2)::numeric(6, 2)
        as nps_change_lower,
    round({{ nps_difference_bound('promoters', 'detractors', 'responses', 'previous_promoters',
                                  'previous_detractors', 'previous_responses', 'upper') }}, 2)::numeric(6, 2)
        as nps_change_upper,
    round({{ nps_difference_p_value('promoters', 'detractors', 'responses', 'previous_promoters',
                                    'previous_detractors', 'previous_responses') }}, 6)::numeric(7, 6)
        as p_value_vs_prev
{%- endmacro %}
