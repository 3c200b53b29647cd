-- One answered survey (latest answer wins). No PII: the customer is a keyed hash.

with surveys as (
    select * from {{ ref('int_surveys') }}
),

final as (
    select
        survey_id,
        purchase_id,
        {{ pseudonym('customer_ref') }} as customer_key,
        region,
        segment,
        purchased_at,
        delivered_at,
        survey_sent_at,
        responded_at,
        responded_on,
        score,
        nps_category,
        reason,
        comment,
        language,
        channel,
        delivery_bucket,
        delay_days,
        is_on_time,
        is_in_full,
        is_otif
    from surveys
    where is_responded
)

select * from final
