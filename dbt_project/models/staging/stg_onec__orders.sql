select
    {{ onec_ref('ref_key') }} as order_ref,
    {{ blank_to_null('number') }} as order_number,
    {{ onec_timestamp('order_date') }} as ordered_at,
    {{ onec_ref('customer_ref') }} as customer_ref,
    {{ onec_timestamp('promised_date') }}::date as promised_date,
    posted as is_posted,
    deletion_mark as is_deleted,
    (deletion_mark or not posted) as is_cancelled,
    _loaded_at as loaded_at
from {{ source('raw', 'onec_orders') }}
