select
    channel,
    view_id,
    location_id,
    viewed_at
from {{ source('landing', 'page_views') }}
