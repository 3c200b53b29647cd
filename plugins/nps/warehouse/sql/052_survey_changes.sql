-- int_surveys rebuilds a survey when its sends or clicks changed since its last run. The sender changes statuses
-- without a timestamp and deletes the claims it drops, so every insert, update and delete of raw.survey_sends and
-- raw.survey_clicks stamps the survey here (a trigger per statement, so no writer can skip it and a batch of 100k
-- sends costs one statement): one row per survey, its latest change, on the database clock.

create table if not exists raw.survey_changes (
    survey_id   text primary key,
    changed_at  timestamptz not null
);
create index if not exists survey_changes_changed_idx on raw.survey_changes (changed_at);
-- and int_surveys reads the changed surveys' clicks by survey (sends: their primary key starts with survey_id)
create index if not exists survey_clicks_survey_idx on raw.survey_clicks (survey_id);

create or replace function raw.stamp_survey_changes() returns trigger language plpgsql as $$
begin
    insert into raw.survey_changes as kept (survey_id, changed_at)
    select distinct survey_id, clock_timestamp() from changed_rows where survey_id is not null
    on conflict (survey_id) do update set changed_at = excluded.changed_at;
    return null;
end
$$;

drop trigger if exists survey_sends_inserted on raw.survey_sends;
create trigger survey_sends_inserted after insert on raw.survey_sends
    referencing new table as changed_rows for each statement execute function raw.stamp_survey_changes();
drop trigger if exists survey_sends_updated on raw.survey_sends;
create trigger survey_sends_updated after update on raw.survey_sends
    referencing new table as changed_rows for each statement execute function raw.stamp_survey_changes();
drop trigger if exists survey_sends_deleted on raw.survey_sends;
create trigger survey_sends_deleted after delete on raw.survey_sends
    referencing old table as changed_rows for each statement execute function raw.stamp_survey_changes();
drop trigger if exists survey_clicks_inserted on raw.survey_clicks;
create trigger survey_clicks_inserted after insert on raw.survey_clicks
    referencing new table as changed_rows for each statement execute function raw.stamp_survey_changes();
drop trigger if exists survey_clicks_updated on raw.survey_clicks;
create trigger survey_clicks_updated after update on raw.survey_clicks
    referencing new table as changed_rows for each statement execute function raw.stamp_survey_changes();
drop trigger if exists survey_clicks_deleted on raw.survey_clicks;
create trigger survey_clicks_deleted after delete on raw.survey_clicks
    referencing old table as changed_rows for each statement execute function raw.stamp_survey_changes();

-- a warehouse that had sends before these triggers: their surveys count as changed once
insert into raw.survey_changes (survey_id, changed_at)
select distinct survey_id, now() from raw.survey_sends
on conflict (survey_id) do nothing;
