-- Send day x region: how far the surveys sent that day got (each survey counted once per stage).

with surveys as (
    select * from {{ ref('int_surveys') }}
),

final as (
    select
        send_day,
        region,
        count(*)::integer as sent,
        (count(*) filter (where is_delivered))::integer as delivered,
        (count(*) filter (where is_bounced))::integer as bounced,
        (count(*) filter (where is_opened))::integer as opened,
        (count(*) filter (where is_clicked))::integer as clicked,
        (count(*) filter (where is_responded))::integer as responded,
        (count(*) filter (where is_unsubscribed))::integer as unsubscribed
    from surveys
    where is_sent
    group by send_day, region
)

select * from final
