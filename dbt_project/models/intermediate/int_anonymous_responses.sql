-- The answers that belong to no purchase (nps.responses.known.ANONYMOUS: a shop kiosk's, the website widget's
-- without an order number): a kiosk answer counts in its location's oblast, a widget answer in no known region.

with responses as (
    select * from {{ ref('int_survey_responses') }}
),

locations as (
    select * from {{ ref('stg_ops__kiosk_locations') }}
),

spellings as (
    select distinct
        {{ normalize_spelling('spelling') }} as spelling_key,
        region
    from {{ ref('oblast_spellings') }}
),

final as (
    select
        responses.survey_id,
        responses.channel,
        responses.location_id,
        coalesce(spellings.region, 'невідомо') as region,
        'anonymous' as segment,
        responses.score,
        responses.nps_category,
        responses.reason,
        responses.comment,
        responses.language,
        responses.responded_at,
        responses.responded_on
    from responses
    left join locations on responses.location_id = locations.location_id
    left join spellings on {{ normalize_spelling('locations.region_raw') }} = spellings.spelling_key
    where left(responses.survey_id, 2) in ('kq', 'wq')
)

select * from final
