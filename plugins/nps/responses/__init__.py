"""`nps_load_responses`: collector landing tables, the collector's spool and file drops -> `raw` (hourly).

Landing is a queue: each run takes what arrived since the last watermark (plus a short settle window, re-read on
purpose) and upserts it idempotently, so re-running any hour doubles nothing. An answer belongs to the period of
its own `responded_at`, never to the run that loaded it.
"""
