"""Whatever the channel (e-mail, the invoice's QR code, file drops), an answer belongs to a known purchase: a survey
we sent, or the survey of a 1C sale (a QR answer has no send; `nps.tokens.sale_survey_id`)."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from nps.tokens import sale_survey_id_sql

UNKNOWN_SURVEY = "unknown survey_id (no send, no 1C sale)"


def unknown_surveys(conn: psycopg.Connection, ids: Iterable[str]) -> set[str]:
    """Those of `ids` with no send in `raw.survey_sends` and no sale in `raw.onec_sales`: their answers go to
    raw.quarantine, never to raw."""
    wanted = set(ids)
    if not wanted:
        return set()
    sent = conn.execute("select survey_id from raw.survey_sends where survey_id = any(%s)", (list(wanted),))
    unknown = wanted - {row[0] for row in sent}
    if unknown:  # rare (QR answers, kiosk files): one pass over the sales
        sold = conn.execute(f"select {sale_survey_id_sql('ref_key')} from raw.onec_sales "
                            f"where {sale_survey_id_sql('ref_key')} = any(%s)", (list(unknown),))
        unknown -= {row[0] for row in sold}
    return unknown
