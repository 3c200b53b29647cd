"""Survey sending (`nps_send_surveys`): due queue -> SendGrid -> `raw.survey_sends`, at most once.

- `render`: the e-mail (templates/: HTML + text, uk/ru/en/pl, 11 score buttons);
- `sender`: claim -> request -> record, batching, 429 / 400 / unknown handling (the one place for send semantics);
- `sendgrid_api`: the official `sendgrid` client on the `nps_sendgrid` connection, outcomes of a request;
- `suppressions`: nightly copy of SendGrid's suppression lists;
- `tasks`: the glue the DAG calls.
"""
