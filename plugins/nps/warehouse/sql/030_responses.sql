-- nps_load_responses: the natural key of a click (a spooled click replayed twice must not count twice).
create index if not exists survey_clicks_natural_key on raw.survey_clicks (survey_id, clicked_at);
create index if not exists quarantine_source_key on raw.quarantine (source, source_key);
-- nps_load_responses: other answers to the same survey (a scanner opening every score link).
create index if not exists landing_responses_survey on landing.responses (survey_id);
