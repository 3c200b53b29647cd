-- Close-the-loop operational state, written only by `nps_close_loop` (dbt rebuilds its models, so this state must
-- live outside dbt). The dbt model ops.detractor_cases left-joins ops.case_state for notified_at / status /
-- closed_at / manager_email; marts read it without PII (owner pseudonymised).

-- One row per manager per day. Status: claimed -> sent | failed | unknown. A claim is written before the SendGrid
-- request; 'unknown' (a crash or an ambiguous error after the request left) is never re-sent.
create table if not exists ops.digests (
    digest_id       bigserial primary key,
    manager_email   text not null,
    logical_date    date not null,                  -- the run's day (Europe/Kyiv)
    language        text not null,
    status          text not null check (status in ('claimed', 'sent', 'failed', 'unknown')),
    survey_ids      text[] not null default '{}',   -- new cases in this digest
    overdue_ids     text[] not null default '{}',   -- open cases past their SLA, listed again
    message_id      text,                           -- SendGrid X-Message-Id
    error           text,
    claim_token     text,                           -- run id + try of the claimant
    claimed_at      timestamptz not null,
    sent_at         timestamptz,
    unique (manager_email, logical_date)
);

create table if not exists ops.case_state (
    survey_id          text primary key,
    kind               text not null default 'detractor' check (kind in ('detractor', 'passive')),
    region             text,
    owner_email        text,
    owner_name         text,
    owner_language     text,
    owner_source       text not null check (owner_source in ('crm', 'seed', 'fallback', 'none')),
    owner_crm_user_id  text,                        -- Bitrix24 user id: the task's RESPONSIBLE_ID
    opened_at          timestamptz not null,        -- the answer's responded_at
    sla_due_date       date not null,               -- last business day to act (Europe/Kyiv)
    first_seen_on      date not null,               -- logical date of the run that opened the case
    digest_id          bigint references ops.digests (digest_id),
    notified_at        timestamptz,                 -- when the digest carrying the case was accepted (202)
    last_listed_overdue_on date,
    crm_task_id        text,
    crm_task_state     text check (crm_task_state in ('claimed', 'created', 'failed', 'unknown', 'no_user', 'missing')),
    crm_task_status    text,                        -- Bitrix24 task status code as read back (2..6)
    crm_task_error     text,
    crm_task_claim     text,                        -- run id + try that claimed the tasks.task.add call
    status             text not null default 'open' check (status in ('open', 'in_progress', 'closed', 'info')),
    closed_at          timestamptz,
    last_synced_at     timestamptz,                 -- last successful tasks.task.get
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
);

create index if not exists case_state_owner_idx on ops.case_state (owner_email) where notified_at is null;
create index if not exists case_state_open_idx on ops.case_state (status) where status <> 'closed';
