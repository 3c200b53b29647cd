select
    {{ onec_ref('ref_key') }} as customer_ref,
    {{ blank_to_null('code') }} as customer_code,
    {{ blank_to_null('name') }} as customer_name,
    coalesce({{ blank_to_null('legal_kind') }}, 'unknown') as legal_kind,
    {{ clean_email('email') }} as email,
    {{ blank_to_null('email') }} as email_raw,
    {{ blank_to_null('phone') }} as phone,
    {{ phone_key('phone') }} as phone_key,
    {{ blank_to_null('region_raw') }} as region_raw,
    {{ normalize_spelling('region_raw') }} as region_spelling,
    deletion_mark as is_deleted,
    _loaded_at as loaded_at
from {{ source('raw', 'onec_customers') }}
