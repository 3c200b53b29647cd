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
