-- nps_load_responses: the natural key of a click (a spooled click replayed twice must not count twice).
create index if not exists survey_clicks_natural_key on raw.survey_clicks (survey_id, clicked_at);
create index if not exists quarantine_source_key on raw.quarantine (source, source_key);
-- nps_load_responses: other answers to the same survey (a scanner opening every score link).
create index if not exists landing_responses_survey on landing.responses (survey_id);

-- The collector's spool files that reached landing (nps.collector.store.replay), written in the transaction of
-- their rows: a file lands once even when its replayer dies before deleting it. `bad_lines` ([{line, reason}]) are
-- the lines that could not land; nps_load_responses moves them to raw.quarantine (the collector writes only here).
create table if not exists landing.spool_files (
    id          bigserial primary key,
    name        text not null unique,
    bad_lines   jsonb not null default '[]',
    received_at timestamptz not null default now()
);
