-- Every spelling, once normalized, names exactly one canonical region, and every region has a manager.
select
    {{ normalize_spelling('spelling') }} as spelling_key,
    count(distinct region) as regions
from {{ ref('oblast_spellings') }}
group by 1
having count(distinct region) > 1
union all
select
    spellings.region as spelling_key,
    0 as regions
from {{ ref('oblast_spellings') }} as spellings
left join {{ ref('region_managers') }} as managers on spellings.region = managers.region
where managers.region is null
