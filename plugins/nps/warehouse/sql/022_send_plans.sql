-- nps_send_surveys' plan of each run (plugins/nps/surveys/approval.py): how many surveys it would send, the history
-- it was judged against, why it waited for a person's approval (null: it did not), and when its batch went out.
-- The eligibility settings of the last batch that went out tell a changed configuration from an unchanged one.
create table if not exists raw.survey_send_plans (
    run_id          text primary key,
    day             date not null,
    planned_at      timestamptz not null default now(),
    would_send      integer not null,
    median_daily    integer,
    sending_days    integer not null,
    eligibility     jsonb not null,
    approval_reason text,
    sent_at         timestamptz
);
