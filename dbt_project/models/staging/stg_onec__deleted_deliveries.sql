select
    {{ onec_ref('order_ref') }} as order_ref,
    deleted_at
from {{ source('raw', 'onec_deliveries_deleted') }}
