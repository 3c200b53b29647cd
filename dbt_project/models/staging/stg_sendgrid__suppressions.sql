select
    lower(trim(email)) as email,
    list as suppression_list,
    created_at,
    _loaded_at as loaded_at
from {{ source('raw', 'sendgrid_suppressions') }}
