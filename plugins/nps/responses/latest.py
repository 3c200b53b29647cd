"""The latest answer wins: `raw.survey_responses` holds one row per survey, its latest answer by `responded_at`.

Every channel (the collector's landing, file drops) writes answers through `upsert`, the only place that decides it;
`int_survey_responses` and the marts read the table as it is. A tie goes to the answer that arrived last: later in
the batch, or in a later load. Postgres stores the row's `input_hash` (what the comment classifier reads) with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import psycopg

UPSERT = """
    with batch as (
        select distinct on (survey_id) *
        from rows from (jsonb_to_recordset(%s::jsonb) as (survey_id text, score smallint, comment text,
                        reasons text[], language text, channel text, responded_at timestamptz,
                        location_id text, answer_id text)) with ordinality as a
        order by survey_id, responded_at desc, ordinality desc
    )
    insert into raw.survey_responses as r (survey_id, score, comment, reasons, language, channel, responded_at,
                                           location_id, answer_id, _loaded_at)
    select survey_id, score, comment, coalesce(reasons, '{}'), language, channel, responded_at, location_id, answer_id,
           now()
    from batch
    on conflict (survey_id) do update
        set score = excluded.score, comment = excluded.comment, reasons = excluded.reasons,
            language = excluded.language, channel = excluded.channel, responded_at = excluded.responded_at,
            location_id = excluded.location_id, answer_id = excluded.answer_id, _loaded_at = excluded._loaded_at
        where excluded.responded_at >= r.responded_at
          and (r.score, r.comment, r.reasons, r.language, r.channel, r.responded_at, r.location_id,
               r.answer_id)
              is distinct from (excluded.score, excluded.comment, excluded.reasons, excluded.language,
                                excluded.channel, excluded.responded_at, excluded.location_id,
                                excluded.answer_id)
"""


def upsert(conn: psycopg.Connection, answers: Iterable[dict]) -> int:
    """Answers in arrival order (survey_id, score, comment, reasons, language, channel, responded_at; location_id and
    answer_id for a kiosk's or the widget's; other keys are ignored). Returns how many rows of raw changed: re-loading
    what raw holds already changes none."""
    return conn.execute(UPSERT, (json.dumps(list(answers), default=str),)).rowcount
