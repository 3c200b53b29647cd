-- Month x channel: how many were offered the survey (opened) and how many of those answered, whenever the answer
-- came (a cohort, so the rate is <= 1). Each channel's first step is in the model's docs (_marts.yml).

with surveys as (
    select * from {{ ref('int_surveys') }}
),

responses as (
    select * from {{ ref('int_survey_responses') }}
),

views as (
    select * from {{ ref('stg_landing__page_views') }}
),

email as (
    -- invites sent in the month whose e-mail was opened (or a button in it clicked); answered by any channel
    select
        date_trunc('month', send_day)::date as month,
        'email' as channel,
        count(*) as opened,
        count(*) filter (where is_responded) as answered
    from surveys
    where is_sent and (is_opened or is_clicked)
    group by date_trunc('month', send_day)
),

viewed as (
    -- a QR page's first opening (its survey), a kiosk session, a widget shown: answered through that channel
    select
        date_trunc('month', {{ local_date('views.viewed_at') }})::date as month,
        views.channel,
        count(*) as opened,
        count(responses.survey_id) as answered
    from views
    left join responses
        on
            views.channel = responses.channel
            and views.view_id = coalesce(responses.answer_id, responses.survey_id)
    group by date_trunc('month', {{ local_date('views.viewed_at') }}), views.channel
),

final as (
    select
        month,
        channel,
        opened::integer as opened,
        answered::integer as answered,
        {{ response_rate('answered', 'opened') }} as response_rate
    from (
        select * from email
        union all
        select * from viewed
    ) as funnel
)

select * from final
