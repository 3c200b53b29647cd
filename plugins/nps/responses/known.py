"""Whatever the channel (file drops, the collector's landing), an answer belongs to a survey we sent."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

UNKNOWN_SURVEY = "unknown survey_id (no send recorded)"


def unknown_surveys(conn: psycopg.Connection, ids: Iterable[str]) -> set[str]:
    """Those of `ids` with no send in `raw.survey_sends`: their answers go to raw.quarantine, never to raw."""
    wanted = set(ids)
    if not wanted:
        return set()
    sent = conn.execute("select survey_id from raw.survey_sends where survey_id = any(%s)", (list(wanted),))
    return wanted - {row[0] for row in sent}
