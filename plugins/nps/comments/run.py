"""The themes of every answer's comment into `raw.comment_themes`: the nightly (in fact hourly) enrichment.

`classify_new` classifies each answer of `raw.survey_responses` whose comment is not blank and whose input (score,
language, comment: the answer's stored `input_hash`) has not been classified by this dictionary version yet. So a
replaced answer is classified again, a new dictionary version re-classifies everything once, and a re-run classifies
nothing twice.
An answer whose comment names no theme gets one row with theme null: classified, never retried. Themes of answers
that no longer carry a comment are dropped. The same code as `nps comments classify`: `nps.comments.classify`.
"""

from __future__ import annotations

import logging

import psycopg

from nps.comments.classify import RULE, classify
from nps.comments.dictionary import Dictionary, load
from nps.i18n import LANGUAGES

log = logging.getLogger(__name__)

BATCH = 5000  # answers per transaction
# `input_hash`: what the classifier reads of an answer (score, language, comment; the score matters too: "доставка"
# with a 10 praises it), stored on the answer's row, null without a comment (035_comment_themes.sql). The ids come
# from the two indexes alone, then their rows.
PENDING = """
    select r.survey_id, r.score, r.language, r.comment, r.input_hash
      from raw.survey_responses r
     where r.survey_id = any(array(
               select p.survey_id
                 from raw.survey_responses p
                where p.input_hash is not null
                  and not exists (select 1 from raw.comment_themes t
                                   where t.survey_id = p.survey_id and t.input_hash = p.input_hash
                                     and t.dictionary_version = %s)
                order by p.survey_id
                limit %s))
     order by r.survey_id
"""
# A pass over the two indexes, not over this load's answers: any writer of raw may have removed a comment since the
# last run that succeeded, and only the two tables know which.
DROP_UNCOMMENTED = """
    delete from raw.comment_themes
     where survey_id = any(array(
               select t.survey_id
                 from raw.comment_themes t
                where not exists (select 1 from raw.survey_responses r
                                   where r.survey_id = t.survey_id and r.input_hash is not null)))
"""
COLUMNS = "survey_id, theme, tone, source, dictionary_version, input_hash"


def classify_new(conn: psycopg.Connection, dictionary: Dictionary | None = None, batch: int = BATCH) -> dict:
    """Classify what is new since the last run, one transaction per batch of answers; returns the counts."""
    dictionary = dictionary or load()
    stats = {"dictionary_version": dictionary.version, "classified": 0, "themes": 0, "without_theme": 0}
    with conn.transaction():
        stats["dropped"] = conn.execute(DROP_UNCOMMENTED).rowcount
    while True:
        with conn.transaction():
            answers = conn.execute(PENDING, (dictionary.version, batch)).fetchall()
            if not answers:
                break
            rows = []
            for survey_id, score, language, comment, input_hash in answers:
                language = language if language in LANGUAGES else LANGUAGES[0]
                themes = classify(comment, language, score, dictionary)
                rows += [(survey_id, t.theme, t.tone, t.source, dictionary.version, input_hash) for t in themes] \
                    or [(survey_id, None, None, RULE, dictionary.version, input_hash)]
                stats["without_theme"] += not themes
                stats["themes"] += len(themes)
            conn.execute("delete from raw.comment_themes where survey_id = any(%s)", ([a[0] for a in answers],))
            with conn.cursor().copy(f"copy raw.comment_themes ({COLUMNS}) from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
            stats["classified"] += len(answers)
    log.info("comment themes: %s", stats)
    return stats
