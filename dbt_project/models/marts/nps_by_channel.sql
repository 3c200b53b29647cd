-- NPS per month x channel: every answer (a purchase's, and the anonymous kiosk / widget ones) in the month it was
-- given, by how it came (email, qr, kiosk, web, file:<name>). No sends here: a channel has no send of its own.

with surveys as (
    select * from {{ ref('int_surveys') }}
),

anonymous as (
    select * from {{ ref('int_anonymous_responses') }}
),

answers as (
    select
        responded_on,
        channel,
        nps_category
    from surveys
    where is_responded
    union all
    select
        responded_on,
        channel,
        nps_category
    from anonymous
),

counts as (
    select
        date_trunc('month', responded_on)::date as month,
        channel,
        count(*)::integer as responses,
        (count(*) filter (where nps_category = 'promoter'))::integer as promoters,
        (count(*) filter (where nps_category = 'passive'))::integer as passives,
        (count(*) filter (where nps_category = 'detractor'))::integer as detractors
    from answers
    group by date_trunc('month', responded_on), channel
),

final as (
    select
        month,
        channel,
        responses,
        promoters,
        passives,
        detractors,
        {{ nps('promoters', 'detractors', 'responses') }} as nps,
        {{ nps_moe_95('promoters', 'detractors', 'responses') }} as nps_moe_95,
        {{ is_low_n('responses') }} as is_low_n
    from counts
)

select * from final
