select
    {{ blank_to_null('id') }} as user_id,
    {{ clean_email('email') }} as email,
    nullif(concat_ws(' ', {{ blank_to_null('name') }}, {{ blank_to_null('last_name') }}), '') as user_name,
    lower({{ blank_to_null('language') }}) as language,
    coalesce(active, true) as is_active,
    _loaded_at as loaded_at
from {{ source('raw', 'crm_users') }}
