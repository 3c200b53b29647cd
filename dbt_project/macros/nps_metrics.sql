{#-
  NPS metrics from counts. Every nps_by_* model uses these three macros, so the math lives in one place.
  NPS is always computed from summed counts, never by averaging NPS values of sub-groups.
-#}

{#- NPS in points (-100..100) = 100 * (promoters - detractors) / responses; null when there are no responses. -#}
{% macro nps(promoters, detractors, responses) -%}
    case
        when coalesce({{ responses }}, 0) = 0 then null
        else round(100.0 * ({{ promoters }} - {{ detractors }}) / {{ responses }}, 2)
    end::numeric(6, 2)
{%- endmacro %}

{#-
  Adjusted-Wald 95 % margin of error of NPS, in points (Sauro & Lewis, "Quantifying the User Experience"):
    n' = n + 3
    p' = (promoters + 0.75) / n'        d' = (detractors + 0.75) / n'
    var = p' + d' - (p' - d')^2
    moe = 1.96 * 100 * sqrt(var / n')
  Adding 3 pseudo-responses (0.75 promoter, 0.75 detractor, 1.5 passive) keeps the interval sensible at the
  extremes: with 0 responses it is the widest possible (~ 81 points), with all promoters it is not 0.
-#}
{% macro nps_moe_95(promoters, detractors, responses) -%}
    round(
        (1.96 * 100 * sqrt(
            (
                ((coalesce({{ promoters }}, 0) + 0.75) / (coalesce({{ responses }}, 0) + 3.0))
                + ((coalesce({{ detractors }}, 0) + 0.75) / (coalesce({{ responses }}, 0) + 3.0))
                - power(
                    ((coalesce({{ promoters }}, 0) + 0.75) / (coalesce({{ responses }}, 0) + 3.0))
                    - ((coalesce({{ detractors }}, 0) + 0.75) / (coalesce({{ responses }}, 0) + 3.0)),
                    2
                )
            ) / (coalesce({{ responses }}, 0) + 3.0)
        ))::numeric,
        2
    )::numeric(6, 2)
{%- endmacro %}

{#- Too few answers to read the NPS of a group (var low_n_threshold, default 30). -#}
{% macro is_low_n(responses) -%}
    (coalesce({{ responses }}, 0) < {{ var('low_n_threshold') }})
{%- endmacro %}

{#-
  responses / surveys_delivered of the same period; null when nothing was delivered. Answers are counted when given
  and deliveries when sent, so answers to last period's sends can outnumber this period's deliveries: capped at 1.
-#}
{% macro response_rate(responses, delivered) -%}
    case
        when coalesce({{ delivered }}, 0) = 0 then null
        else least(round(1.0 * {{ responses }} / {{ delivered }}, 4), 1.0)
    end::numeric(6, 4)
{%- endmacro %}

{#- 0-6 detractor, 7-8 passive, 9-10 promoter. -#}
{% macro nps_category(score) -%}
    case
        when {{ score }} >= 9 then 'promoter'
        when {{ score }} >= 7 then 'passive'
        else 'detractor'
    end
{%- endmacro %}
