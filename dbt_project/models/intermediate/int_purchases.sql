{{
    config(
        materialized='incremental',
        unique_key='purchase_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['purchase_id'], 'unique': True},
            {'columns': ['survey_id']},
            {'columns': ['order_ref']},
            {'columns': ['transformed_at']},
            {'columns': ['customer_attributes_version']},
            {'columns': ['loaded_at']},
        ]
    )
}}
-- One row per purchase (1C sale) with its order, delivery and delivery performance, and the customer's region and
-- segment as they were when the purchase was made (snapshot; purchases older than the first snapshot take the
-- earliest known version).
-- Incremental: a purchase is rebuilt when anything it is computed from changed since the last run: its sale, its
-- order, the order's lines or delivery (also a delivery that vanished from 1C: stg_onec__deleted_deliveries), any
-- other sale of the same order (a later shipment or a cancellation changes in-full), or the customer's snapshot
-- history (customer_attributes_version).
-- transformed_at (the dbt run) tells int_surveys which purchases were rebuilt.
-- depends_on: {{ ref('stg_onec__sale_lines') }}, {{ ref('stg_onec__deleted_deliveries') }}
-- The imports are views over raw read several times: not materialized, so each read filters raw through its
-- indexes (warehouse/sql/050_raw_indexes.sql) instead of scanning a copy of the whole table.

with all_sales as not materialized (
    select * from {{ ref('stg_onec__sales') }}
),

all_orders as not materialized (
    select * from {{ ref('stg_onec__orders') }}
),

all_deliveries as not materialized (
    select * from {{ ref('stg_onec__deliveries') }}
),

order_lines as not materialized (
    select * from {{ ref('stg_onec__order_lines') }}
),

sale_lines as (
    select * from {{ ref('int_sale_lines') }}
),

attributes as not materialized (
    select * from {{ ref('snap_customer_attributes') }}
),

{% if is_incremental() %}
    {%- set loaded_since = incremental_watermark() %}
    -- the sets below are only used as `= any(array(...))` filters: index lookups of the keys, whatever the planner
    -- guesses of the sets' sizes (as joins or `in` it guessed a million keys and read all of raw's history)
    changed_sales as (
        select all_sales.sale_ref
        from all_sales
        where all_sales.loaded_at > {{ loaded_since }}
        union
        select lines.sale_ref
        from {{ ref('stg_onec__sale_lines') }} as lines
        where lines.loaded_at > {{ loaded_since }}
    ),

    changed_orders as (
        -- a changed sale changes its order's in-full, and that of the order it belonged to before
        select all_sales.order_ref
        from all_sales
        where all_sales.sale_ref = any(array(select changed_sales.sale_ref from changed_sales))
        union
        select previous.order_ref
        from {{ this }} as previous
        where previous.purchase_id = any(array(select changed_sales.sale_ref from changed_sales))
        union
        select all_orders.order_ref
        from all_orders
        where all_orders.loaded_at > {{ loaded_since }}
        union
        select order_lines.order_ref
        from order_lines
        where order_lines.loaded_at > {{ loaded_since }}
        union
        select all_deliveries.order_ref
        from all_deliveries
        where all_deliveries.loaded_at > {{ loaded_since }}
        union
        -- register records are deleted in raw when they vanish from 1C: the purchases still showing one
        select previous.order_ref
        from {{ ref('stg_onec__deleted_deliveries') }} as deleted
        inner join {{ this }} as previous on deleted.order_ref = previous.order_ref
        where
            (previous.delivery_status is not null or previous.delivered_at is not null)
            and not exists (
                select 1 from all_deliveries
                where all_deliveries.order_ref = deleted.order_ref
            )
    ),

    changed_customers as (
        -- the customer's snapshot history changed since their purchases were attributed: the snapshot only adds
        -- versions, stamped with its run's time, so every version newer than the newest one attributed here
        {%- set attributed_until %}
            select coalesce(max(customer_attributes_version), '-infinity'::timestamp)::text from {{ this }}
        {%- endset %}
        select attributes.customer_ref
        from attributes
        where attributes.dbt_valid_from > '{{ run_query(attributed_until).columns[0].values()[0] }}'::timestamp
    ),

    touched as (
        select changed_sales.sale_ref from changed_sales
        union
        select all_sales.sale_ref
        from all_sales
        where all_sales.order_ref = any(array(select changed_orders.order_ref from changed_orders))
        union
        select all_sales.sale_ref
        from all_sales
        where all_sales.customer_ref = any(array(select changed_customers.customer_ref from changed_customers))
    ),

    sales as (
        select all_sales.*
        from all_sales
        where all_sales.sale_ref = any(array(select touched.sale_ref from touched))
    ),

    touched_orders as (
        select distinct sales.order_ref
        from sales
        where sales.order_ref is not null
    ),
    {%- set of_touched_orders = '= any(array(select touched_orders.order_ref from touched_orders))' %}
{% else %}
    sales as (
        select * from all_sales
    ),
    {%- set of_touched_orders = 'is not null' %}
{% endif %}

{%- set periods -%}
    -- each version holds from its dbt_valid_from until the next one; the first also covers everything before it
    attributes.customer_ref,
    attributes.region,
    attributes.segment,
    attributes.dbt_valid_from,
    lead(attributes.dbt_valid_from) over by_time as valid_until,
    row_number() over by_time = 1 as is_first,
    max(attributes.dbt_valid_from) over (partition by attributes.customer_ref) as customer_attributes_version
{%- endset %}
{%- set by_time = 'by_time as (partition by attributes.customer_ref order by attributes.dbt_valid_from, attributes.dbt_scd_id)' %}

{%- if not is_incremental() %}

    attribute_periods as (
        select {{ periods }}
        from attributes
        window {{ by_time }}
    ),
{% endif %}

ordered as (
    select
        order_lines.order_ref,
        order_lines.product_ref,
        sum(order_lines.ordered_quantity) as ordered_quantity
    from order_lines
    where order_lines.order_ref {{ of_touched_orders }}
    group by order_lines.order_ref, order_lines.product_ref
),

shipped as (
    -- over every sale of the order, not only the touched ones
    select
        all_sales.order_ref,
        sale_lines.product_ref,
        sum(sale_lines.shipped_quantity) as shipped_quantity
    from all_sales
    inner join sale_lines on all_sales.sale_ref = sale_lines.sale_ref
    where not all_sales.is_cancelled and all_sales.order_ref {{ of_touched_orders }}
    group by all_sales.order_ref, sale_lines.product_ref
),

fulfilment as (
    -- in full: every order line's product shipped (over all the order's sales) at least as ordered
    select
        ordered.order_ref,
        bool_and(coalesce(shipped.shipped_quantity, 0) >= ordered.ordered_quantity) as is_in_full
    from ordered
    left join shipped
        -- a product key is never '' (onec_ref): coalesce matches null to null and keeps the join hashable
        on ordered.order_ref = shipped.order_ref and coalesce(ordered.product_ref, '') = coalesce(shipped.product_ref, '')
    group by ordered.order_ref
),

performance as (
    select
        sales.sale_ref as purchase_id,
        {{ survey_id('sales.sale_ref') }} as survey_id,
        sales.customer_ref,
        sales.order_ref,
        sales.sale_number,
        orders.order_number,
        sales.sold_at as purchased_at,
        sales.amount,
        sales.currency,
        sales.is_cancelled,
        orders.promised_date,
        deliveries.delivered_at,
        deliveries.delivered_date,
        deliveries.delivery_status,
        deliveries.delivered_date - orders.promised_date as delay_days,
        coalesce(
            deliveries.delivered_date <= orders.promised_date
            or (deliveries.delivered_date is not null and orders.promised_date is null),
            false
        ) as is_on_time,
        -- no order or no order lines: nothing was outstanding
        coalesce(fulfilment.is_in_full, true) as is_in_full,
        greatest(sales.loaded_at, orders.loaded_at, deliveries.loaded_at) as loaded_at
    from sales
    left join all_orders as orders on sales.order_ref = orders.order_ref
    left join all_deliveries as deliveries on sales.order_ref = deliveries.order_ref
    left join fulfilment on sales.order_ref = fulfilment.order_ref
    where sales.sale_ref is not null
)

select
    performance.purchase_id,
    performance.survey_id,
    performance.customer_ref,
    performance.order_ref,
    performance.sale_number,
    performance.order_number,
    performance.purchased_at,
    performance.amount,
    performance.currency,
    performance.is_cancelled,
    performance.promised_date,
    performance.delivered_at,
    performance.delivered_date,
    performance.delivery_status,
    performance.delay_days,
    performance.is_on_time,
    performance.is_in_full,
    (performance.is_on_time and performance.is_in_full) as is_otif,
    {{ delivery_bucket('performance.delivered_date', 'performance.delay_days') }} as delivery_bucket,
    coalesce(attr.region, 'невідомо') as region,
    coalesce(attr.segment, 'unknown') as segment,
    attr.customer_attributes_version,
    performance.loaded_at,
    {{ transformed_at() }} as transformed_at
from performance
{% if is_incremental() %}
    -- per purchase through the snapshot's lookup index: a join to the touched customers' periods was planned as a
    -- nested loop reading all of them for every purchase (the sets' sizes are unknown to the planner)
    left join lateral (
        select periods.*
        from (
            select {{ periods }}
            from attributes
            where attributes.customer_ref = performance.customer_ref
            window {{ by_time }}
        ) as periods
        where
            (performance.purchased_at >= periods.dbt_valid_from or periods.is_first)
            and coalesce(performance.purchased_at < periods.valid_until, true)
    ) as attr on true
{% else %}
    left join attribute_periods as attr
        on
            performance.customer_ref = attr.customer_ref
            and (performance.purchased_at >= attr.dbt_valid_from or attr.is_first)
            and coalesce(performance.purchased_at < attr.valid_until, true)
{% endif %}
