{{ config(indexes=[{'columns': ['survey_id', 'window_days'], 'unique': True}]) }}
-- One row per answered survey (latest answer) and window (vars repurchase_short_days / repurchase_long_days): the
-- customer's 1C orders in that many days before and after the answer, and whether the window after has closed. An
-- order counts in the window of its first shipment, so the surveyed order (shipped before the answer) and a later
-- shipment of it are never a repurchase. Not net of returns: raw holds no 1C return documents.

with surveys as (
    select * from {{ ref('int_surveys') }}
),

purchases as (
    select * from {{ ref('int_purchases') }}
),

params as (
    -- a window closes against the run's day: pinned by the var as_of_date (unit tests), else the run's instant that
    -- nps.transform passes as nps.snapshot_at (a replay's simulated day), else as_of_date() (today)
    select
        {%- if var('as_of_date', none) %}
            {{ as_of_date() }} as as_of_date
        {%- else %}
            coalesce(nullif(current_setting('nps.snapshot_at', true), '')::date, {{ as_of_date() }}) as as_of_date
        {%- endif %}
),

windows as (
    select {{ var('repurchase_short_days') }}::integer as window_days
    union
    select {{ var('repurchase_long_days') }}::integer as window_days
),

orders as (
    -- a 1C order (a sale without one is its own order) dates from its first shipment and is worth all its shipments;
    -- cancelled sales count nowhere, and revenue is in hryvnia only (1C's code 980, or UAH)
    select
        customer_ref,
        min(purchased_at) as ordered_at,
        coalesce(sum(amount) filter (where currency in ('UAH', '980')), 0) as revenue_uah
    from purchases
    where not is_cancelled
    group by customer_ref, coalesce(order_ref, purchase_id)
),

answers as (
    select
        survey_id,
        purchase_id,
        customer_ref,
        region,
        segment,
        score,
        nps_category,
        responded_at,
        responded_on,
        -- 1C stamps sales in local wall time: the answer on the same clock
        (responded_at at time zone '{{ var("timezone") }}') as answered_local_at
    from surveys
    where is_responded
),

window_orders as (
    -- the customer's orders from the window's start on: before the answer, within the window after it, or later
    select
        answers.survey_id,
        windows.window_days,
        orders.ordered_at,
        orders.revenue_uah,
        orders.ordered_at < answers.answered_local_at as is_before,
        orders.ordered_at < answers.answered_local_at + make_interval(days => windows.window_days) as is_in_window
    from answers
    cross join windows
    inner join orders
        on
            answers.customer_ref = orders.customer_ref
            and orders.ordered_at >= answers.answered_local_at - make_interval(days => windows.window_days)
),

window_totals as (
    select
        survey_id,
        window_days,
        count(*) filter (where is_before) as orders_before,
        coalesce(sum(revenue_uah) filter (where is_before), 0) as revenue_before,
        count(*) filter (where not is_before and is_in_window) as orders_after,
        coalesce(sum(revenue_uah) filter (where not is_before and is_in_window), 0) as revenue_after,
        min(ordered_at) filter (where not is_before) as first_order_after_at
    from window_orders
    group by survey_id, window_days
),

outcomes as (
    select
        answers.*,
        windows.window_days,
        params.as_of_date,
        -- the window's last day is over by the run's day (the nightly load has read it)
        answers.responded_on + windows.window_days < params.as_of_date as is_window_closed,
        coalesce(totals.orders_before, 0) as orders_before,
        coalesce(totals.revenue_before, 0) as revenue_before,
        coalesce(totals.orders_after, 0) as orders_after,
        coalesce(totals.revenue_after, 0) as revenue_after,
        totals.first_order_after_at
    from answers
    cross join windows
    cross join params
    left join window_totals as totals
        on answers.survey_id = totals.survey_id and windows.window_days = totals.window_days
),

final as (
    select
        survey_id,
        purchase_id,
        customer_ref,
        region,
        segment,
        score,
        nps_category,
        responded_at,
        responded_on,
        window_days,
        as_of_date,
        is_window_closed,
        orders_before::integer as orders_before,
        revenue_before::numeric(18, 2) as revenue_before,
        -- an open window's totals are not known yet: null, never a partial count
        case when is_window_closed then orders_after end::integer as orders_after,
        case when is_window_closed then revenue_after end::numeric(18, 2) as revenue_after,
        -- bought: known as soon as it happens; did not buy: only once the window has closed
        case
            when orders_after > 0 then true
            when is_window_closed then false
        end as has_repurchased,
        first_order_after_at::date as first_purchase_after_on
    from outcomes
)

select * from final
