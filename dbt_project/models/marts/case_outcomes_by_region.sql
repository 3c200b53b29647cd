-- Close-the-loop outcomes for BI, without PII: month x region x owner (owner pseudonymised).
-- opened: cases opened in the month; closed: cases closed in the month (with the median hours from the answer to
-- closure); overdue: SLA breaches, counted in the month of their first overdue day (closed late, or still not
-- closed after the due date as of the build day, var close_loop_as_of to pin it).
{% set as_of = var('close_loop_as_of', none) %}

with cases as (
    select
        survey_id,
        opened_at,
        closed_at,
        sla_due_date,
        status,
        coalesce(nullif(trim(region), ''), 'unknown') as region,
        case
            when owner_email is null then 'none'
            else left({{ pseudonym('lower(trim(owner_email))') }}, 16)
        end as owner_key,
        {{ local_date('closed_at') }} as closed_day
    from {{ source('close_loop', 'case_state') }}
    where kind = 'detractor'
),

as_of as (
    select
        {% if as_of %}'{{ as_of }}'::date{% else %}{{ local_date('now()') }}{% endif %} as day
),

events as (
    select
        region,
        owner_key,
        date_trunc('month', {{ local_date('opened_at') }})::date as month,
        1 as opened,
        0 as closed,
        0 as overdue,
        0 as closed_within_sla,
        null::numeric as hours_to_close
    from cases

    union all

    select
        region,
        owner_key,
        date_trunc('month', closed_day::timestamp)::date as month,
        0 as opened,
        1 as closed,
        0 as overdue,
        case when closed_day <= sla_due_date then 1 else 0 end as closed_within_sla,
        round((extract(epoch from closed_at - opened_at) / 3600.0)::numeric, 2) as hours_to_close
    from cases
    where status = 'closed' and closed_at is not null

    union all

    select
        cases.region,
        cases.owner_key,
        date_trunc('month', (cases.sla_due_date + 1)::timestamp)::date as month,
        0 as opened,
        0 as closed,
        1 as overdue,
        0 as closed_within_sla,
        null::numeric as hours_to_close
    from cases
    cross join as_of
    where
        (cases.status = 'closed' and cases.closed_day > cases.sla_due_date)
        or (cases.status <> 'closed' and cases.sla_due_date < as_of.day)
)

select
    month,
    region,
    owner_key,
    sum(opened)::integer as cases_opened,
    sum(closed)::integer as cases_closed,
    sum(overdue)::integer as cases_overdue,
    sum(closed_within_sla)::integer as cases_closed_within_sla,
    percentile_cont(0.5) within group (order by hours_to_close)::numeric as median_hours_to_close
from events
group by month, region, owner_key
