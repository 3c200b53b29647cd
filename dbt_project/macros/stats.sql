{#-
  The product's statistics, in one file: NPS from counts and its margin, the response rate, the NPS category, and
  the intervals and tests of proportions and NPS differences (the nps_by_* marts, the repurchase marts, nps_drivers).
  NPS is always computed from summed counts, never by averaging NPS values of sub-groups. 95 % two-sided, z = 1.96.
  Each interval / test macro returns an unrounded numeric expression (null when a group is empty); the models round
  what they publish. Pinned by the unit tests in models/marts/_marts.yml (hand-computed values in their descriptions).
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
    var = (p' + d' - (p' - d')^2) / n'      (nps_variance below)
    moe = 1.96 * 100 * sqrt(var)
  Adding 3 pseudo-responses (0.75 promoter, 0.75 detractor, 1.5 passive) keeps the interval sensible at the
  extremes: with 0 responses it is the widest possible (~ 81 points), with all promoters it is not 0.
-#}
{% macro nps_moe_95(promoters, detractors, responses) -%}
    round((1.96 * 100 * sqrt({{ nps_variance(promoters, detractors, responses) }}))::numeric, 2)::numeric(6, 2)
{%- endmacro %}

{#- Too few answers to read the NPS of a group (var low_n_threshold, default 30). -#}
{% macro is_low_n(responses) -%}
    (coalesce({{ responses }}, 0) < {{ var('low_n_threshold') }})
{%- endmacro %}

{#-
  Response rate of a send cohort: of the surveys delivered in the period (send day), the share answered so far,
  whenever the answer came; null when nothing was delivered. A rate by construction (answered <= delivered), so it
  needs no cap; a young cohort's rate still rises as its answers arrive.
-#}
{% macro response_rate(answered, delivered) -%}
    case
        when coalesce({{ delivered }}, 0) = 0 then null
        else round(1.0 * {{ answered }} / {{ delivered }}, 4)
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

{#-
  Wilson score interval of successes / trials (Wilson 1927), side 'lower' or 'upper':
    (p + z^2 / 2n -+ z * sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)
  Unlike p -+ 1.96 * se it stays inside 0..1 and is not of zero width at 0 / n or n / n.
-#}
{#- The three columns of a rate: `<name>`, `<name>_lower`, `<name>_upper` (Wilson 95 %), rounded to 4 places. -#}
{% macro rate_with_wilson(successes, trials, name) -%}
    round(1.0 * ({{ successes }}) / nullif({{ trials }}, 0), 4)::numeric(6, 4) as {{ name }},
    round({{ wilson_bound(successes, trials, 'lower') }}, 4)::numeric(6, 4) as {{ name }}_lower,
    round({{ wilson_bound(successes, trials, 'upper') }}, 4)::numeric(6, 4) as {{ name }}_upper
{%- endmacro %}

{% macro wilson_bound(successes, trials, side) -%}
    {%- set n = '(' ~ trials ~ ')' -%}
    {%- set p = '(1.0 * (' ~ successes ~ ') / ' ~ n ~ ')' -%}
    case
        when coalesce({{ n }}, 0) = 0 then null
        else (
            {{ p }} + power(1.96, 2.0) / (2.0 * {{ n }})
            {{ '-' if side == 'lower' else '+' }} 1.96
            * sqrt({{ p }} * (1 - {{ p }}) / {{ n }} + power(1.96, 2.0) / (4.0 * power({{ n }}, 2.0)))
        ) / (1 + power(1.96, 2.0) / {{ n }})
    end
{%- endmacro %}

{#-
  Interval of p1 - p2 (two independent proportions): Newcombe's hybrid score interval (Newcombe 1998, method 10),
  built from the two Wilson intervals (l1, u1), (l2, u2):
    lower = (p1 - p2) - sqrt((p1 - l1)^2 + (u2 - p2)^2)
    upper = (p1 - p2) + sqrt((u1 - p1)^2 + (p2 - l2)^2)
  It keeps the Wilson interval's good coverage at small n and rates near 0 or 1, where p1 - p2 -+ 1.96 * se fails.
-#}
{% macro newcombe_bound(successes_1, trials_1, successes_2, trials_2, side) -%}
    {%- set p1 = '(1.0 * (' ~ successes_1 ~ ') / nullif(' ~ trials_1 ~ ', 0))' -%}
    {%- set p2 = '(1.0 * (' ~ successes_2 ~ ') / nullif(' ~ trials_2 ~ ', 0))' -%}
    {%- if side == 'lower' -%}
    ({{ p1 }} - {{ p2 }} - sqrt(
        power({{ p1 }} - {{ wilson_bound(successes_1, trials_1, 'lower') }}, 2.0)
        + power({{ wilson_bound(successes_2, trials_2, 'upper') }} - {{ p2 }}, 2.0)
    ))
    {%- else -%}
    ({{ p1 }} - {{ p2 }} + sqrt(
        power({{ wilson_bound(successes_1, trials_1, 'upper') }} - {{ p1 }}, 2.0)
        + power({{ p2 }} - {{ wilson_bound(successes_2, trials_2, 'lower') }}, 2.0)
    ))
    {%- endif -%}
{%- endmacro %}

{#-
  Two-proportion z statistic with the pooled proportion (the test of H0: p1 = p2):
    p = (x1 + x2) / (n1 + n2),  z = (x1 / n1 - x2 / n2) / sqrt(p (1 - p) (1 / n1 + 1 / n2))
  Null when a group is empty or both groups are all successes / all failures (no variance to test against).
-#}
{% macro two_proportion_z(successes_1, trials_1, successes_2, trials_2) -%}
    {%- set n1 = 'nullif(' ~ trials_1 ~ ', 0)' -%}
    {%- set n2 = 'nullif(' ~ trials_2 ~ ', 0)' -%}
    {%- set pooled = '(1.0 * ((' ~ successes_1 ~ ') + (' ~ successes_2 ~ ')) / (' ~ n1 ~ ' + ' ~ n2 ~ '))' -%}
    (1.0 * ({{ successes_1 }}) / {{ n1 }} - 1.0 * ({{ successes_2 }}) / {{ n2 }})
    / nullif(sqrt({{ pooled }} * (1 - {{ pooled }}) * (1.0 / {{ n1 }} + 1.0 / {{ n2 }})), 0)
{%- endmacro %}

{#-
  Standard normal CDF. Postgres has no erf: Zelen & Severo's polynomial (Abramowitz & Stegun 26.2.17), absolute
  error < 7.5e-8 for every x:
    t = 1 / (1 + 0.2316419 |x|),  Q = phi(|x|) * t (b1 + t (b2 + t (b3 + t (b4 + t b5))))
    phi(x) = exp(-x^2 / 2) / sqrt(2 pi),  cdf(x) = 1 - Q for x >= 0, Q for x < 0
  sqrt(2 pi) is written as a numeric literal so that every step stays numeric (round() takes no double).
-#}
{% macro normal_cdf(x) -%}
    {%- set v = '(' ~ x ~ ')' -%}
    {%- set t = '(1.0 / (1.0 + 0.2316419 * abs(' ~ v ~ ')))' -%}
    case
        when {{ v }} is null then null
        else 0.5 + sign({{ v }}) * (
            0.5 - exp(-power({{ v }}, 2.0) / 2.0) / 2.5066282746310002 * {{ t }} * (
                0.319381530 + {{ t }} * (
                    -0.356563782 + {{ t }} * (1.781477937 + {{ t }} * (-1.821255978 + {{ t }} * 1.330274429))
                )
            )
        )
    end
{%- endmacro %}

{#- Two-sided p-value of a z statistic: 2 (1 - cdf(|z|)). -#}
{% macro two_sided_p_value(z) -%}
    (2.0 * (1.0 - {{ normal_cdf('abs(' ~ z ~ ')') }}))
{%- endmacro %}

{#-
  Adjusted-Wald variance of NPS (as a fraction, -1..1), the one nps_moe_95 takes the root of:
    n' = n + 3,  p' = (promoters + 0.75) / n',  d' = (detractors + 0.75) / n'
    var = (p' + d' - (p' - d')^2) / n'       (multinomial variance of a promoter (+1) / detractor (-1) score)
-#}
{% macro nps_variance(promoters, detractors, responses) -%}
    (
        ((coalesce({{ promoters }}, 0) + 0.75) / (coalesce({{ responses }}, 0) + 3.0))
        + ((coalesce({{ detractors }}, 0) + 0.75) / (coalesce({{ responses }}, 0) + 3.0))
        - power(
            ((coalesce({{ promoters }}, 0) + 0.75) / (coalesce({{ responses }}, 0) + 3.0))
            - ((coalesce({{ detractors }}, 0) + 0.75) / (coalesce({{ responses }}, 0) + 3.0)),
            2.0
        )
    ) / (coalesce({{ responses }}, 0) + 3.0)
{%- endmacro %}

{#-
  95 % interval, in NPS points, of the difference of two independent groups' NPS (adjusted Wald, side 'lower' or
  'upper'): each side's NPS with its 3 pseudo-answers, NPS' = 100 (p' - d') = 100 (promoters - detractors) / n', and
  the variances add:  (NPS'_1 - NPS'_2) -+ 1.96 * 100 * sqrt(var_1 + var_2)      (var from nps_variance)
  Centred on the adjusted difference, as adjusted Wald is: centred on the raw difference it misses far more than
  5 % of the time when one side has few answers.
  Null when either group has no answer (its NPS, and so the difference, is undefined).
-#}
{% macro nps_difference_bound(promoters_1, detractors_1, responses_1, promoters_2, detractors_2, responses_2, side) -%}
    case
        when coalesce({{ responses_1 }}, 0) = 0 or coalesce({{ responses_2 }}, 0) = 0 then null
        else 100.0 * (
            ({{ promoters_1 }} - {{ detractors_1 }}) / ({{ responses_1 }} + 3.0)
            - ({{ promoters_2 }} - {{ detractors_2 }}) / ({{ responses_2 }} + 3.0)
        ) {{ '-' if side == 'lower' else '+' }} 1.96 * 100 * sqrt(
            {{ nps_variance(promoters_1, detractors_1, responses_1) }}
            + {{ nps_variance(promoters_2, detractors_2, responses_2) }}
        )
    end
{%- endmacro %}

{#-
  Two-sided p-value of the difference of two groups' NPS (adjusted Wald, the same centre and variance as
  nps_difference_bound):  z = (NPS'_1 - NPS'_2) / (100 * sqrt(var_1 + var_2)).  Null when either group has no answer.
  p < 0.05 exactly when nps_difference_bound's interval excludes 0.
-#}
{% macro nps_difference_p_value(promoters_1, detractors_1, responses_1, promoters_2, detractors_2, responses_2) -%}
    case
        when coalesce({{ responses_1 }}, 0) = 0 or coalesce({{ responses_2 }}, 0) = 0 then null
        else {{ two_sided_p_value(
            '(1.0 * (' ~ promoters_1 ~ ' - ' ~ detractors_1 ~ ') / (' ~ responses_1 ~ ' + 3.0) - 1.0 * ('
            ~ promoters_2 ~ ' - ' ~ detractors_2 ~ ') / (' ~ responses_2 ~ ' + 3.0)) / sqrt('
            ~ nps_variance(promoters_1, detractors_1, responses_1) ~ ' + '
            ~ nps_variance(promoters_2, detractors_2, responses_2) ~ ')'
        ) }}
    end
{%- endmacro %}

{#-
  Benjamini-Hochberg step-up procedure over the rows of one model (one build): with the m rows that have a p-value
  ranked 1..m by p, a row is a discovery when its adjusted p-value  min over ranks j >= i of (p_(j) * m / j)  is at
  most the false discovery rate (var significance_fdr, NPS_SIGNIFICANCE_FDR, 0.10). So 25 oblasts x 12 months raise
  about one false alarm in ten discoveries, not one in twenty tests. Two steps, because windows do not nest:
  bh_rank() in one CTE (rank and m), bh_is_discovery() in the next. Rows without a p-value are never discoveries.
-#}
{% macro bh_rank(p_value, tie_breaker) -%}
    row_number() over (order by {{ p_value }} nulls last, {{ tie_breaker }}) as bh_rank,
    count({{ p_value }}) over () as bh_tests
{%- endmacro %}

{% macro bh_is_discovery(p_value) -%}
    coalesce(
        min({{ p_value }} * bh_tests / bh_rank) over (order by bh_rank desc) <= {{ var('significance_fdr') }},
        false
    )
{%- endmacro %}
