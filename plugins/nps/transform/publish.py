"""What `publish` reports when the marts are released (row counts, total answers) — a cheap sanity read."""

from __future__ import annotations

import psycopg

from nps.connections import warehouse_dsn

MARTS = ("fct_survey_responses", "nps_by_region", "nps_by_segment", "nps_by_delivery", "nps_daily",
         "survey_funnel", "otif_by_region")


def marts_summary(dsn: str | None = None) -> dict:
    with psycopg.connect(dsn or warehouse_dsn()) as conn:
        rows = {name: conn.execute(f"select count(*) from marts.{name}").fetchone()[0] for name in MARTS}
    return {"rows": rows, "responses": rows["fct_survey_responses"]}
