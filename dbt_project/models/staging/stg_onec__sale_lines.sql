select
    {{ onec_ref('sale_ref') }} as sale_ref,
    line_number,
    {{ onec_ref('product_ref') }} as product_ref,
    coalesce(quantity, 0)::numeric as shipped_quantity,
    price::numeric as price,
    amount::numeric as amount,
    _loaded_at as loaded_at
from {{ source('raw', 'onec_sale_lines') }}
