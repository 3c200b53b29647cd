select
    location_id,
    name as location_name,
    region as region_raw,
    revoked_at
from {{ source('kiosks', 'kiosk_locations') }}
