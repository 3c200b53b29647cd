select
    {{ blank_to_null('id') }} as contact_id,
    nullif(concat_ws(' ', {{ blank_to_null('name') }}, {{ blank_to_null('last_name') }}), '') as contact_name,
    {{ blank_to_null('company_id') }} as company_id,
    {{ blank_to_null('onec_code') }} as onec_code,
    lower({{ blank_to_null('segment') }}) as segment,
    case
        when lower(trim(language)) in ('{{ languages() | join("', '") }}') then lower(trim(language))
        when lower(trim(language)) = 'ua' then 'uk'
    end as language,
    {{ blank_to_null('assigned_by_id') }} as assigned_by_id,
    {{ clean_email('email') }} as email,
    {{ blank_to_null('phone') }} as phone,
    {{ phone_key('phone') }} as phone_key,
    date_modify as modified_at,
    _loaded_at as loaded_at
from {{ source('raw', 'crm_contacts') }}
