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
    -- one row per survey (a statement may write several clicks of one survey; clock_timestamp() differs per row)
    insert into raw.survey_changes as kept (survey_id, changed_at)
    select changed.survey_id, clock_timestamp()
    from (select distinct survey_id from changed_rows where survey_id is not null) as changed
    on conflict (survey_id) do update set changed_at = excluded.changed_at;
    return null;
end
$$;

-- survey_sends_inserted, survey_sends_updated, ..., survey_clicks_deleted
do $$
declare
    tab text;
    op text;
    name text;
begin
    foreach tab in array array['survey_sends', 'survey_clicks'] loop
        foreach op in array array['insert', 'update', 'delete'] loop
            name := tab || '_' || rtrim(op, 'e') || 'ed';
            execute format('drop trigger if exists %I on raw.%I', name, tab);
            execute format('create trigger %I after %s on raw.%I referencing %s table as changed_rows '
                           'for each statement execute function raw.stamp_survey_changes()',
                           name, op, tab, case op when 'delete' then 'old' else 'new' end);
        end loop;
    end loop;
end
$$;

-- a warehouse that had sends before these triggers: their surveys count as changed once
insert into raw.survey_changes (survey_id, changed_at)
select distinct survey_id, now() from raw.survey_sends
on conflict (survey_id) do nothing;
