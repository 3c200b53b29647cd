-- quality: what the data-quality gates found (plugins/nps/quality). One row per expectation per run; per-table
-- load counts for the row-count checks; alerts raised by failure callbacks and gates.

create table if not exists quality.expectation_results (
    id                  bigserial primary key,
    run_id              text not null,
    suite               text not null,
    expectation         text not null,                 -- GX expectation type, e.g. expect_column_values_to_be_unique
    asset               text,                          -- the table or query the suite read, e.g. raw.onec_sales
    "column"            text,
    description         text,
    success             boolean not null,
    severity            text not null check (severity in ('critical', 'warning')),
    unexpected_count    bigint,
    element_count       bigint,
    sample_keys         jsonb not null default '[]',
    observed_value      jsonb,
    logical_date        date,
    checked_at          timestamptz not null
);
create index if not exists expectation_results_run_idx on quality.expectation_results (run_id, suite);
create index if not exists expectation_results_checked_idx on quality.expectation_results (checked_at);

-- Rows loaded into a raw table since the previous check (by `_loaded_at`), per logical day. A re-run of the same
-- day replaces its row, so re-running doubles nothing.
create table if not exists quality.row_counts (
    table_name          text not null,
    logical_date        date not null,
    loaded_rows         bigint not null,
    days_covered        integer not null,              -- days since the previous check (loads are compared per day)
    total_rows          bigint not null,
    since_loaded_at     timestamptz,                   -- the previous check's watermark (null: first check)
    max_loaded_at       timestamptz,                   -- this check's watermark
    run_id              text,
    counted_at          timestamptz not null,
    primary key (table_name, logical_date)
);

create table if not exists quality.alerts (
    id                  bigserial primary key,
    kind                text not null,                 -- task_failure | quality_warning | quality_critical | drift | freshness
    dag_id              text,
    task_id             text,
    run_id              text,
    logical_date        date,
    message             text not null,
    details             jsonb not null default '{}',
    emailed_to          text[] not null default '{}',
    email_error         text,
    raised_at           timestamptz not null
);
create index if not exists alerts_raised_idx on quality.alerts (raised_at);
