-- nps_send_surveys (plugins/nps/surveys/sender.py): attempt bookkeeping on raw.survey_sends. Idempotent.
-- dry_run: the row was claimed by a sandbox-mode run (a real send may take over a 'sandbox' row; a dry-run claim
--          left behind by a crash is deleted, not turned 'unknown', because sandbox mode never delivers).
-- attempts / last_attempt_at: requests that carried the row (429 retries included) and when the last one started.
alter table raw.survey_sends add column if not exists dry_run boolean not null default false;
alter table raw.survey_sends add column if not exists attempts smallint not null default 0;
alter table raw.survey_sends add column if not exists last_attempt_at timestamptz;

-- The sender looks for rows left 'claimed' at every start.
create index if not exists survey_sends_claimed_idx on raw.survey_sends (claimed_at) where status = 'claimed';
create index if not exists survey_sends_customer_idx on raw.survey_sends (customer_ref, claimed_at);
