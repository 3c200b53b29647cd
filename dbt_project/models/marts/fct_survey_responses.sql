{{
    config(
        materialized='incremental',
        unique_key='survey_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['transformed_at']}]
    )
}}
-- One answered survey (latest answer wins). No PII: the customer is a keyed hash.
-- Incremental: the answered surveys int_surveys rebuilt since this mart last ran (an answer is never withdrawn, so
-- no row ever leaves). In Airflow the build schema starts as a copy of the live marts (nps.quality.swap).

with surveys as (
    select * from {{ ref('int_surveys') }}
    {% if is_incremental() %}
        where transformed_at > {{ rebuilt_since() }}
    {% endif %}
),

final as (
    select
        survey_id,
        purchase_id,
        {{ customer_key('customer_ref') }} as customer_key,
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
        delivery_bucket,
        delay_days,
        is_on_time,
        is_in_full,
        is_otif,
        transformed_at
    from surveys
    where is_responded
)

select * from final
