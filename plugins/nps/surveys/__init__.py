"""Survey sending (`nps_send_surveys`): due queue -> SendGrid -> `raw.survey_sends`, at most once.

- `render`: the e-mail (templates/: HTML + text, uk/ru/en/pl, 11 score buttons);
- `sender`: claim -> request -> record, batching, 429 / 400 / unknown handling (the one place for send semantics),
  through `nps.sendgrid_client` (the one SendGrid client and its sent / refused / unknown rule);
- `suppressions`: nightly copy of SendGrid's suppression lists;
- `tasks`: the glue the DAG calls.
"""
