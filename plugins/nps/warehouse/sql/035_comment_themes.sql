-- nps_load_responses.classify_comments (nps.comments.run): the themes of every answer's comment, by the dictionary
-- `plugins/nps/comments/themes.yml`. One row per answer and theme; an answer whose comment names no theme has one
-- row with theme null, so it counts as classified and is not retried. A survey's rows are replaced whenever what
-- the classifier read (`input_hash`: score, language, comment) or the dictionary's version changes.
create table if not exists raw.comment_themes (
    survey_id          text not null,
    theme              text,                          -- one of nps.comments.THEMES; null: no theme
    tone               text check (tone in ('+', '-', '0')),
    source             text not null check (source in ('rule', 'model')),
    dictionary_version integer not null,
    input_hash         text not null,                 -- md5 of score, language and comment as classified
    classified_at      timestamptz not null default now(),
    unique nulls not distinct (survey_id, theme),
    check ((theme is null) = (tone is null))
);
-- What the classifier reads of an answer (score, language, comment), hashed: null when the comment is blank, so
-- nothing to classify. Computed by Postgres whenever the latest answer's row is written (nps.responses.latest), and
-- for the rows there already when the column is added. classify_new compares it with the themes' `input_hash`
-- through these two indexes instead of hashing every answer each hour.
alter table raw.survey_responses add column if not exists
    input_hash text generated always as (
        case when nullif(btrim(comment), '') is not null
            then md5(score::text || E'\x1f' || coalesce(language, '') || E'\x1f' || comment) end
    ) stored;
create index if not exists survey_responses_input_hash_idx on raw.survey_responses (survey_id, input_hash)
    where input_hash is not null;
create index if not exists comment_themes_input_hash_idx
    on raw.comment_themes (survey_id, input_hash, dictionary_version);
