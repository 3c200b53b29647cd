{{ config(severity='warn') }}
-- Region spellings from 1C that the seed oblast_spellings does not know: add them to the seed.
select
    region_raw,
    count(*) as customers
from {{ ref('int_customers') }}
where region = 'невідомо' and region_raw is not null
group by region_raw
