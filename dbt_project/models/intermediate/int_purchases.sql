{{ config(indexes=[{'columns': ['purchase_id'], 'unique': True}, {'columns': ['survey_id']}]) }}
-- One row per purchase (1C sale) with its order, delivery and delivery performance, and the customer's region and
-- segment as they were when the purchase was made (snapshot; purchases older than the first snapshot take the
-- earliest known version).

with sales as (
    select * from {{ ref('stg_onec__sales') }}
),

orders as (
    select * from {{ ref('stg_onec__orders') }}
),

deliveries as (
    select * from {{ ref('stg_onec__deliveries') }}
),

order_lines as (
    select * from {{ ref('stg_onec__order_lines') }}
),

sale_lines as (
    select * from {{ ref('int_sale_lines') }}
),

attributes as (
    select * from {{ ref('snap_customer_attributes') }}
),

attribute_periods as (
    -- each version holds from its dbt_valid_from until the next one; the first also covers everything before it
    select
        customer_ref,
        region,
        segment,
        dbt_valid_from,
        lead(dbt_valid_from) over by_time as valid_until,
        row_number() over by_time = 1 as is_first
    from attributes
    window by_time as (partition by customer_ref order by dbt_valid_from, dbt_scd_id)
),

ordered as (
    select
        order_ref,
        product_ref,
        sum(ordered_quantity) as ordered_quantity
    from order_lines
    where order_ref is not null
    group by order_ref, product_ref
),

shipped as (
    -- over every sale of the order that was not cancelled
    select
        sales.order_ref,
        sale_lines.product_ref,
        sum(sale_lines.shipped_quantity) as shipped_quantity
    from sales
    inner join sale_lines on sales.sale_ref = sale_lines.sale_ref
    where not sales.is_cancelled and sales.order_ref is not null
    group by sales.order_ref, sale_lines.product_ref
),

fulfilment as (
    -- in full: every order line's product shipped (over all the order's sales) at least as ordered
    select
        ordered.order_ref,
        bool_and(coalesce(shipped.shipped_quantity, 0) >= ordered.ordered_quantity) as is_in_full
    from ordered
    left join shipped
        on ordered.order_ref = shipped.order_ref and ordered.product_ref is not distinct from shipped.product_ref
    group by ordered.order_ref
),

performance as (
    select
        sales.sale_ref as purchase_id,
        sales.survey_id,
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
    left join orders on sales.order_ref = orders.order_ref
    left join deliveries on sales.order_ref = deliveries.order_ref
    left join fulfilment on sales.order_ref = fulfilment.order_ref
    where sales.sale_ref is not null
),

final as (
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
        performance.loaded_at
    from performance
    left join attribute_periods as attr
        on
            performance.customer_ref = attr.customer_ref
            and (performance.purchased_at >= attr.dbt_valid_from or attr.is_first)
            and coalesce(performance.purchased_at < attr.valid_until, true)
)

select * from final
