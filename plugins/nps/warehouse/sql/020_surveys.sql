-- Survey traffic. landing.*: written only by the collector (INSERT only, as nps_collector).
-- raw.*: loaded by `nps_send_surveys` (sends) and `nps_load_responses` (answers, clicks, events).

create table if not exists landing.responses (
    id              bigserial primary key,
    survey_id       text not null,
    score           smallint not null check (score between 0 and 10),
    comment         text,
    reasons         text[] not null default '{}',
    language        text,
    responded_at    timestamptz not null,          -- the collector's clock (simulated in demo/tests)
    received_at     timestamptz not null default now(),
    source          text not null default 'web'    -- web | spool
);
-- How the answer was given, kept to audit it (issue 25 #4: mail gateways open links and run the page's script);
-- nps_load_responses counts only answers with a human signal. Added by ALTER: existing warehouses re-run this file.
alter table landing.responses add column if not exists signal text;        -- pointer | touch | key | visible_3s | submit
alter table landing.responses add column if not exists webdriver boolean;  -- navigator.webdriver as the page saw it
alter table landing.responses add column if not exists user_agent text;
alter table landing.responses add column if not exists client_hash text;   -- HMAC of the client address, never the IP
-- The link an answer came through (issue 23): email (/s/) | qr (/q/, the 1C invoice); earlier rows were all e-mail's.
alter table landing.responses add column if not exists channel text not null default 'email';

create table if not exists landing.clicks (
    id              bigserial primary key,
    survey_id       text not null,
    score           smallint,
    clicked_at      timestamptz not null,
    user_agent      text,
    received_at     timestamptz not null default now()
);

create table if not exists landing.sendgrid_events (
    id              bigserial primary key,
    sg_event_id     text,
    event           text,
    payload         jsonb not null,
    received_at     timestamptz not null default now()
);

-- One row per survey and kind: 'invite' | 'reminder'. Status: claimed -> sent | failed | unknown.
-- survey_id is the purchase's survey (one per purchase), so the reminder shares it.
create table if not exists raw.survey_sends (
    survey_id       text not null,
    kind            text not null check (kind in ('invite', 'reminder')),
    purchase_id     text not null,
    customer_ref    text not null,
    email           text not null,
    language        text not null,
    status          text not null check (status in ('claimed', 'sent', 'failed', 'unknown', 'sandbox')),
    message_id      text,
    error           text,
    due_date        date,
    logical_date    date not null,                 -- the run's day (Europe/Kyiv)
    claimed_at      timestamptz not null,
    sent_at         timestamptz,
    run_id          text,
    primary key (survey_id, kind)
);

create table if not exists raw.survey_responses (
    survey_id       text primary key,              -- latest answer per survey wins
    score           smallint not null check (score between 0 and 10),
    comment         text,
    reasons         text[] not null default '{}',
    language        text,
    channel         text not null default 'email', -- email | qr | kiosk | web | file:<name>
    responded_at    timestamptz not null,
    _loaded_at      timestamptz not null default now()
);
-- Before issue 23 every collector answer was stored as 'web', though each came through an e-mail link: they become
-- 'email' once, while the column still has its old default (a later 'web' answer must stay 'web').
do $$
begin
    if exists (select 1 from information_schema.columns
               where table_schema = 'raw' and table_name = 'survey_responses' and column_name = 'channel'
                 and column_default = '''web''::text') then
        update raw.survey_responses set channel = 'email' where channel = 'web';
        alter table raw.survey_responses alter column channel set default 'email';
    end if;
end
$$;

create table if not exists raw.survey_clicks (
    landing_id      bigint primary key,
    survey_id       text not null,
    score           smallint,
    clicked_at      timestamptz not null,
    user_agent      text,
    _loaded_at      timestamptz not null default now()
);

create table if not exists raw.sendgrid_events (
    sg_event_id     text primary key,
    event           text not null,
    email           text,
    survey_id       text,                          -- custom_args.survey_id, flattened by SendGrid
    kind            text,                          -- custom_args.kind
    sg_message_id   text,
    occurred_at     timestamptz not null,
    reason          text,
    payload         jsonb not null,
    _loaded_at      timestamptz not null default now()
);

-- SendGrid suppression lists (nightly sync): global unsubscribes, group unsubscribes, bounces, spam reports.
create table if not exists raw.sendgrid_suppressions (
    email           text not null,
    list            text not null,                 -- unsubscribes | group_unsubscribes | bounces | spam_reports | invalid_emails
    created_at      timestamptz,
    _loaded_at      timestamptz not null default now(),
    primary key (email, list)
);
