{#-
  Snapshot validity is stamped with the session setting nps.snapshot_at when given (the run's logical instant,
  Europe/Kyiv wall time: nps.transform and nps_transform pass it through PGOPTIONS, so replays of past days follow the
  simulated calendar), else the database clock. A session setting, not a dbt var: changing it per run does not force
  dbt to re-parse the project.
-#}
{% macro postgres__snapshot_get_time() -%}
    coalesce(
        nullif(current_setting('nps.snapshot_at', true), '')::timestamp without time zone,
        now()::timestamp without time zone
    )
{%- endmacro %}
