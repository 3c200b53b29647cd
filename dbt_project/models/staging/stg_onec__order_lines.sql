select
    {{ onec_ref('order_ref') }} as order_ref,
    line_number,
    {{ onec_ref('product_ref') }} as product_ref,
    coalesce(quantity, 0)::numeric as ordered_quantity,
    _loaded_at as loaded_at
from {{ source('raw', 'onec_order_lines') }}
