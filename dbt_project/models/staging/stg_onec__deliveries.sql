-- 1C local time (no zone): delivered_date is already the Europe/Kyiv calendar day.
select
    {{ onec_ref('order_ref') }} as order_ref,
    {{ onec_timestamp('delivered_at') }} as delivered_at,
    {{ onec_timestamp('delivered_at') }}::date as delivered_date,
    {{ blank_to_null('status') }} as delivery_status,
    {{ blank_to_null('carrier') }} as carrier,
    _loaded_at as loaded_at
from {{ source('raw', 'onec_deliveries') }}
