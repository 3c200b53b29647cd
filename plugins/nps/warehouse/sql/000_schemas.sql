-- Schemas of contract §5. landing: written only by the collector; raw: loaded by DAGs; staging/intermediate/marts:
-- dbt; ops: PII for follow-up (not for BI); quality: validation results.
create schema if not exists landing;
create schema if not exists raw;
create schema if not exists ops;
create schema if not exists quality;
create schema if not exists marts;

-- Bookkeeping shared by every loader: watermarks per source and a quarantine for rows that cannot be loaded.
create table if not exists raw.load_state (
    source      text primary key,
    watermark   text,
    updated_at  timestamptz not null default now()
);

create table if not exists raw.quarantine (
    id          bigserial primary key,
    source      text not null,
    source_key  text,
    reason      text not null,
    payload     jsonb,
    run_id      text,
    quarantined_at timestamptz not null default now()
);
