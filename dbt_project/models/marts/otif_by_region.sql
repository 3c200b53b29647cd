-- Month (of the delivery day) x region: delivered, non-cancelled purchases and their delivery performance.

with purchases as (
    select * from {{ ref('int_purchases') }}
),

final as (
    select
        date_trunc('month', delivered_date)::date as month,
        region,
        count(*)::integer as deliveries,
        (count(*) filter (where is_on_time))::integer as on_time,
        (count(*) filter (where is_in_full))::integer as in_full,
        (count(*) filter (where is_otif))::integer as otif,
        round(1.0 * count(*) filter (where is_otif) / count(*), 4)::numeric(6, 4) as otif_rate
    from purchases
    where delivered_date is not null and not is_cancelled
    group by date_trunc('month', delivered_date), region
)

select * from final
