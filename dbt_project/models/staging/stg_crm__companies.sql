select
    {{ blank_to_null('id') }} as company_id,
    {{ blank_to_null('title') }} as company_title,
    {{ blank_to_null('onec_code') }} as onec_code,
    lower({{ blank_to_null('segment') }}) as segment,
    {{ blank_to_null('assigned_by_id') }} as assigned_by_id,
    {{ clean_email('email') }} as email,
    {{ blank_to_null('phone') }} as phone,
    {{ phone_key('phone') }} as phone_key,
    date_modify as modified_at,
    _loaded_at as loaded_at
from {{ source('raw', 'crm_companies') }}
