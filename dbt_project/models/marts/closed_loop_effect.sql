-- Detractors whose case was closed within its SLA against every other detractor (case closed late, still open, or
-- none): repurchase per window with Wilson intervals, the difference with Newcombe's interval and a two-proportion
-- z-test (macros/stats.sql). Observational: who gets called back is not random, so this is no proof of cause.

with outcomes as (
    select * from {{ ref('int_answer_outcomes') }}
    where nps_category = 'detractor' and is_window_closed
),

cases as (
    select * from {{ source('close_loop', 'case_state') }}
    where kind = 'detractor'
),

followed_up as (
    select
        outcomes.window_days,
        outcomes.has_repurchased,
        coalesce(
            cases.status = 'closed' and {{ local_date('cases.closed_at') }} <= cases.sla_due_date, false
        ) as is_closed_within_sla
    from outcomes
    left join cases on outcomes.survey_id = cases.survey_id
),

counts as (
    select
        window_days,
        count(*) filter (where is_closed_within_sla)::integer as in_sla_matured,
        count(*) filter (where is_closed_within_sla and has_repurchased)::integer as in_sla_repurchased,
        count(*) filter (where not is_closed_within_sla)::integer as other_matured,
        count(*) filter (where not is_closed_within_sla and has_repurchased)::integer as other_repurchased
    from followed_up
    group by window_days
),

tests as (
    select
        *,
        {{ newcombe_bound('in_sla_repurchased', 'in_sla_matured', 'other_repurchased', 'other_matured', 'lower') }}
            as difference_lower,
        {{ newcombe_bound('in_sla_repurchased', 'in_sla_matured', 'other_repurchased', 'other_matured', 'upper') }}
            as difference_upper,
        {{ two_proportion_z('in_sla_repurchased', 'in_sla_matured', 'other_repurchased', 'other_matured') }} as z
    from counts
),

final as (
    select
        window_days,
        in_sla_matured,
        in_sla_repurchased,
        {{ rate_with_wilson('in_sla_repurchased', 'in_sla_matured', 'in_sla_repurchase_rate') }},
        other_matured,
        other_repurchased,
        {{ rate_with_wilson('other_repurchased', 'other_matured', 'other_repurchase_rate') }},
        round(
            1.0 * in_sla_repurchased / nullif(in_sla_matured, 0) - 1.0 * other_repurchased / nullif(other_matured, 0),
            4
        )::numeric(6, 4) as rate_difference,
        round(difference_lower, 4)::numeric(6, 4) as difference_lower,
        round(difference_upper, 4)::numeric(6, 4) as difference_upper,
        round(z, 4)::numeric(10, 4) as z,
        round({{ two_sided_p_value('z') }}, 6)::numeric(7, 6) as p_value,
        coalesce({{ two_sided_p_value('z') }} < 0.05, false) as is_significant
    from tests
)

select * from final
