{{
    config(
        materialized='incremental',
        unique_key='sale_ref',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['sale_ref']}, {'columns': ['loaded_at']}]
    )
}}
-- Shipped quantity per sale and product. Incremental: every sale whose header or lines were (re)loaded since the
-- watermark is rebuilt whole (delete+insert on sale_ref), so changed or removed lines never linger.

with lines as not materialized (
    select * from {{ ref('stg_onec__sale_lines') }}
),

sales as not materialized (
    select * from {{ ref('stg_onec__sales') }}
){% if is_incremental() %},

    {%- set loaded_since = incremental_watermark() %}

    touched as (
        select sale_ref from lines
        where loaded_at > {{ loaded_since }}
        union
        select sale_ref from sales
        where loaded_at > {{ loaded_since }}
    )

    -- lateral: one index probe per touched sale. As a join the planner, unable to tell how few sales were touched,
    -- read every line of the history.
    select
        touched.sale_ref,
        totals.product_ref,
        totals.shipped_quantity,
        totals.amount,
        totals.line_count,
        greatest(totals.loaded_at, header.loaded_at) as loaded_at
    from touched
    left join lateral (
        select max(sales.loaded_at) as loaded_at
        from sales
        where sales.sale_ref = touched.sale_ref
    ) as header on true
    cross join lateral (
        select
            lines.product_ref,
            sum(lines.shipped_quantity) as shipped_quantity,
            sum(lines.amount) as amount,
            count(*) as line_count,
            max(lines.loaded_at) as loaded_at
        from lines
        where lines.sale_ref = touched.sale_ref
        group by lines.product_ref
    ) as totals
    where touched.sale_ref is not null
{% else %}

    select
        lines.sale_ref,
        lines.product_ref,
        sum(lines.shipped_quantity) as shipped_quantity,
        sum(lines.amount) as amount,
        count(*) as line_count,
        greatest(max(lines.loaded_at), max(sales.loaded_at)) as loaded_at
    from lines
    left join sales on lines.sale_ref = sales.sale_ref
    where lines.sale_ref is not null
    group by lines.sale_ref, lines.product_ref
{% endif %}
