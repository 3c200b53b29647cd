-- Shipped quantity and amount per sale and product (a sale may list a product on several lines).

with lines as (
    select * from {{ ref('stg_onec__sale_lines') }}
),

final as (
    select
        sale_ref,
        product_ref,
        sum(shipped_quantity) as shipped_quantity,
        sum(amount) as amount,
        count(*) as line_count
    from lines
    where sale_ref is not null
    group by sale_ref, product_ref
)

select * from final
