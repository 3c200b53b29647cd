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
),

touched as (
    select sale_ref from lines
    {% if is_incremental() %}
        where {{ loaded_since_watermark() }}
    {% endif %}
    union
    select sale_ref from sales
    {% if is_incremental() %}
        where {{ loaded_since_watermark() }}
    {% endif %}
)

select
    lines.sale_ref,
    lines.product_ref,
    sum(lines.shipped_quantity) as shipped_quantity,
    sum(lines.amount) as amount,
    count(*) as line_count,
    greatest(max(lines.loaded_at), max(sales.loaded_at)) as loaded_at
from lines
inner join touched on lines.sale_ref = touched.sale_ref
left join sales on lines.sale_ref = sales.sale_ref
where lines.sale_ref is not null
group by lines.sale_ref, lines.product_ref
