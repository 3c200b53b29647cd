-- Answers and sends counted per local day x region x segment x delivery bucket: what every nps_by_* mart sums.
-- Answers count on the day they were given (responded_on), sends on the day they were sent (send_day); a send's
-- cohort (surveys_answered: its delivered surveys answered so far) on the send day too: the response rate's base.
-- Anonymous answers (a shop kiosk's, the widget's without an order) count too: their region is the kiosk's oblast,
-- their segment 'anonymous', their delivery bucket null (no purchase: nps_by_delivery leaves them out).

with surveys as (
    select * from {{ ref('int_surveys') }}
),

anonymous as (
    select * from {{ ref('int_anonymous_responses') }}
),

answered as (
    -- every answer once: a purchase's latest, and the anonymous ones (no purchase, so no delivery bucket)
    select
        responded_on,
        region,
        segment,
        delivery_bucket,
        nps_category
    from surveys
    where is_responded
    union all
    select
        responded_on,
        region,
        segment,
        null as delivery_bucket,
        nps_category
    from anonymous
),

answers as (
    select
        responded_on as day,
        region,
        segment,
        delivery_bucket,
        0 as surveys_sent,
        0 as surveys_delivered,
        0 as surveys_answered,
        count(*) as responses,
        count(*) filter (where nps_category = 'promoter') as promoters,
        count(*) filter (where nps_category = 'passive') as passives,
        count(*) filter (where nps_category = 'detractor') as detractors
    from answered
    group by responded_on, region, segment, delivery_bucket
),

sent as (
    select
        send_day as day,
        region,
        segment,
        delivery_bucket,
        count(*) as surveys_sent,
        count(*) filter (where is_delivered) as surveys_delivered,
        count(*) filter (where is_delivered and is_responded) as surveys_answered,
        0 as responses,
        0 as promoters,
        0 as passives,
        0 as detractors
    from surveys
    where is_sent
    group by send_day, region, segment, delivery_bucket
),

counted as (
    select * from answers
    union all
    select * from sent
),

final as (
    select
        day,
        region,
        segment,
        delivery_bucket,
        {{ nps_count_sums() }}
    from counted
    group by day, region, segment, delivery_bucket
)

select * from final
