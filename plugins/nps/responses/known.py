"""Whatever the channel (e-mail, the invoice's QR code, file drops), an answer belongs to a known purchase: a survey
we sent, or the survey of a 1C sale (a QR answer has no send; `nps.tokens.sale_survey_id`, stored on the sale's row).
The one exception is an anonymous answer, whose id the collector made for it (`ANONYMOUS`: a shop kiosk's, with its
location, or the website widget's without an order number, `nps.collector.kiosk`): it belongs to no purchase and
counts by itself."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

UNKNOWN_SURVEY = "unknown survey_id (no send, no 1C sale)"
ANONYMOUS = ("kq", "wq")  # kiosk, widget: `nps.collector.kiosk.answer_survey_id`; never a purchase's id (`sv`, `s-`)


def anonymous_sql(survey_id: str) -> str:
    """SQL over the column `survey_id`: itself when it is an anonymous answer's, else null (the raw gate's
    `anonymous(column)`: such an answer is known without a send or a sale)."""
    prefixes = ", ".join(f"'{prefix}'" for prefix in ANONYMOUS)
    return f"(case when left({survey_id}, 2) in ({prefixes}) then {survey_id} end)"


def unknown_surveys(conn: psycopg.Connection, ids: Iterable[str]) -> set[str]:
    """Those of `ids` with no send in `raw.survey_sends` and no sale in `raw.onec_sales`: their answers go to
    raw.quarantine, never to raw."""
    wanted = {i for i in ids if not i.startswith(ANONYMOUS)}
    if not wanted:
        return set()
    sent = conn.execute("select survey_id from raw.survey_sends where survey_id = any(%s)", (list(wanted),))
    unknown = wanted - {row[0] for row in sent}
    if unknown:  # QR answers, kiosk files: the sale's survey is stored and indexed (raw.onec_sales.survey_id)
        sold = conn.execute("select survey_id from raw.onec_sales where survey_id = any(%s)", (list(unknown),))
        unknown -= {row[0] for row in sold}
    return unknown
