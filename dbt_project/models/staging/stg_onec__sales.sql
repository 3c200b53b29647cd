-- A sale (shipment document) is a purchase. Cancelled = marked for deletion or not posted.
select
    {{ onec_ref('ref_key') }} as sale_ref,
    survey_id,
    {{ blank_to_null('number') }} as sale_number,
    {{ onec_timestamp('sale_date') }} as sold_at,
    {{ onec_ref('order_ref') }} as order_ref,
    {{ onec_ref('customer_ref') }} as customer_ref,
    amount::numeric(18, 2) as amount,
    coalesce({{ blank_to_null('currency') }}, 'UAH') as currency,
    posted as is_posted,
    deletion_mark as is_deleted,
    (deletion_mark or not posted) as is_cancelled,
    _loaded_at as loaded_at
from {{ source('raw', 'onec_sales') }}
