"""nps_load_responses: collector landing tables + spool + file drops + SendGrid events -> raw (hourly)."""

from __future__ import annotations

from airflow.sdk import dag, task

from nps.assets import RAW_RESPONSES
from nps.dag_defaults import DAG_KWARGS

DOC = """
### Load survey answers and SendGrid events
Hourly. Everything is idempotent: re-running any hour doubles nothing.

1. **replay_spool** - sealed files of the collector's local spool (answers accepted while the database was down)
   into `landing`, each file claimed once (only where the spool folder is visible: same host).
2. **load_file_drops** - CSV files from other channels (kiosk, other survey tools) in `NPS_FILE_DROP_DIR`:
   loaded into `raw.survey_responses`, moved to `done/` or `rejected/` (with a reason file); bad rows to
   `raw.quarantine`. Header: `survey_id,score,comment,responded_at,channel` (+ `reasons`, `language`).
3. **load_landing** - `landing.responses` (latest answer per survey wins, by `responded_at`; only answers a person
   gave count: a human signal, no scanner agent, no burst of scores, and a survey that was sent or is a 1C sale's
   (the invoice's QR code; such an answer waits for its sale's extract up to `NPS_CATCH_UP_DAYS`); the rule is
   `nps.responses.landing.COUNTS`), `landing.clicks`,
   `landing.sendgrid_events` (deduped on `sg_event_id`; survey_id/kind from the flattened custom args) into `raw`,
   by watermark in `raw.load_state`.
4. **classify_comments** - the themes of every new or changed comment (and of all of them after a dictionary
   version change) into `raw.comment_themes`, by `plugins/nps/comments/themes.yml`: `nps.comments.run`.
5. **announce** - emits Asset `nps://raw/responses` when the run changed raw (else skipped: a quiet hour does not
   trigger `nps_transform`).

Logic: `plugins/nps/responses/`.
"""


@dag(
    dag_id="nps_load_responses",
    schedule="@hourly",
    **DAG_KWARGS,
    tags=["nps", "load", "responses"],
    doc_md=DOC,
)
def nps_load_responses():
    @task
    def replay_spool(**context) -> dict:
        from nps.responses import run

        return run.replay_spool(context)

    @task
    def load_file_drops(**context) -> dict:
        from nps.responses import run

        return run.load_file_drops(context)

    @task
    def load_landing(**context) -> dict:
        from nps.responses import run

        return run.load_landing(context)

    @task
    def classify_comments(**context) -> dict:
        from nps.responses import run

        return run.classify_comments(context)

    @task(outlets=[RAW_RESPONSES])
    def announce(files: dict, landing: dict, themes: dict) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from nps.responses import run

        if not run.changed(files, landing, themes):
            raise AirflowSkipException("nothing new in raw: no Asset event")
        return {**files, **landing, "themes": themes}

    spooled = replay_spool()
    files = load_file_drops()
    landing = load_landing()
    themes = classify_comments()
    spooled >> files >> landing >> themes
    announce(files, landing, themes)


nps_load_responses()
