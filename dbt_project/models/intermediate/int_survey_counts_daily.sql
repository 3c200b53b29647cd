{{
    config(
        materialized='incremental',
        unique_key='day',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['day']}, {'columns': ['transformed_at']}],
        post_hook=["delete from {{ this }} where surveys_sent = 0 and responses = 0"],
    )
}}
-- Answers and sends counted per local day x region x segment x delivery bucket: what every nps_by_* mart sums
-- (macros/nps_rollup.sql). Answers count on the day they were given (responded_on), sends on the day they were
-- sent (send_day).
-- Incremental: every day a survey rebuilt since the last run was ever counted on (int_surveys.counted_days, which
-- keeps the days a changed answer moved away from) is counted again whole. A recounted day also gets an all-zero
-- row, so delete+insert clears it even when nothing is left on it; the post-hook drops those rows.

with all_surveys as not materialized (
    select * from {{ ref('int_surveys') }}
),

{%- set recount = incremental_with('transformed_at') %}
{% if recount %}
    {%- set last_run = rebuilt_since() %}
    recounted_days as (
        select distinct unnest(string_to_array(all_surveys.counted_days, ','))::date as day
        from all_surveys
        where all_surveys.transformed_at > {{ last_run }}
        union
        -- int_surveys rebuilt whole (a full refresh forgets the days answers moved away from): every day here
        select counted.day
        from {{ this }} as counted
        where (select min(all_surveys.transformed_at) from all_surveys) > {{ last_run }}
    ),
    {%- set of_recounted_days = '= any(array(select recounted_days.day from recounted_days))' %}
{% else %}
    {%- set of_recounted_days = 'is not null' %}
{% endif %}

answers as (
    select
        responded_on as day,
        region,
        segment,
        delivery_bucket,
        0 as surveys_sent,
        0 as surveys_delivered,
        count(*) as responses,
        count(*) filter (where nps_category = 'promoter') as promoters,
        count(*) filter (where nps_category = 'passive') as passives,
        count(*) filter (where nps_category = 'detractor') as detractors
    from all_surveys
    where is_responded and responded_on {{ of_recounted_days }}
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
        0 as responses,
        0 as promoters,
        0 as passives,
        0 as detractors
    from all_surveys
    where is_sent and send_day {{ of_recounted_days }}
    group by send_day, region, segment, delivery_bucket
),

counted as (
    select * from answers
    union all
    select * from sent
    {%- if recount %}
        union all
        select
            day,
            null as region,
            null as segment,
            null as delivery_bucket,
            0 as surveys_sent,
            0 as surveys_delivered,
            0 as responses,
            0 as promoters,
            0 as passives,
            0 as detractors
        from recounted_days
    {%- endif %}
),

final as (
    select
        day,
        region,
        segment,
        delivery_bucket,
        sum(surveys_sent)::integer as surveys_sent,
        sum(surveys_delivered)::integer as surveys_delivered,
        sum(responses)::integer as responses,
        sum(promoters)::integer as promoters,
        sum(passives)::integer as passives,
        sum(detractors)::integer as detractors,
        {{ transformed_at() }} as transformed_at
    from counted
    group by day, region, segment, delivery_bucket
)

select * from final
