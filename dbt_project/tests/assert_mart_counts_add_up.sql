-- The marts agree: summed over regions = over segments = over delivery buckets = over days = over channels (and the
-- funnel's sends, and fct_survey_responses' answers), for every count; the anonymous answers (kiosk, widget without
-- an order) belong to no purchase, so they are added to nps_by_delivery's and fct's. Returns the metrics whose totals
-- disagree.
{%- set marts = ['nps_by_region', 'nps_by_segment', 'nps_by_delivery', 'nps_daily', 'nps_by_channel'] %}
{%- set metrics = ['surveys_sent', 'surveys_delivered', 'responses', 'promoters', 'passives', 'detractors'] %}

with anonymous as (
    select
        count(*) as responses,
        count(*) filter (where nps_category = 'promoter') as promoters,
        count(*) filter (where nps_category = 'passive') as passives,
        count(*) filter (where nps_category = 'detractor') as detractors
    from {{ ref('int_anonymous_responses') }}
),

totals as (
    {%- for mart in marts %}
        select
            {%- for metric in metrics %}
                {%- if mart == 'nps_by_delivery' and metric not in ['surveys_sent', 'surveys_delivered'] %}
                    coalesce(sum({{ metric }}), 0) + (select {{ metric }} from anonymous) as {{ metric }},
                {%- elif mart == 'nps_by_channel' and metric in ['surveys_sent', 'surveys_delivered'] %}
                    null as {{ metric }},
                {%- else %}
                    coalesce(sum({{ metric }}), 0) as {{ metric }},
                {%- endif %}
            {%- endfor %}
            '{{ mart }}' as mart
        from {{ ref(mart) }}
        union all
    {%- endfor %}
    select
        coalesce(sum(sent), 0) as surveys_sent,
        coalesce(sum(delivered), 0) as surveys_delivered,
        null as responses,
        null as promoters,
        null as passives,
        null as detractors,
        'survey_funnel' as mart
    from {{ ref('survey_funnel') }}
    union all
    select
        null as surveys_sent,
        null as surveys_delivered,
        count(*) + (select anonymous.responses from anonymous) as responses,
        count(*) filter (where nps_category = 'promoter') + (select anonymous.promoters from anonymous) as promoters,
        count(*) filter (where nps_category = 'passive') + (select anonymous.passives from anonymous) as passives,
        count(*) filter (where nps_category = 'detractor') + (select anonymous.detractors from anonymous) as detractors,
        'fct_survey_responses' as mart
    from {{ ref('fct_survey_responses') }}
)

{%- for metric in metrics %}

    select
        '{{ metric }}' as metric,
        count(distinct {{ metric }}) as distinct_totals
    from totals
    where {{ metric }} is not null
    having count(distinct {{ metric }}) > 1
    union all
{%- endfor %}
select
    'responses = promoters + passives + detractors' as metric,
    count(*) as distinct_totals
from totals
where responses <> promoters + passives + detractors
having count(*) > 0
