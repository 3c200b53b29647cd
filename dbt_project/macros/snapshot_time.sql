{#-
  Snapshot validity is stamped with the session setting nps.snapshot_at when given (nps.transform passes the run's
  logical instant through PGOPTIONS, so replays of past days follow the simulated calendar), else the database clock.
  A session setting, not a dbt var: changing it per run does not force dbt to re-parse the project.
-#}
{% macro postgres__snapshot_get_time() -%}
    coalesce(
        {{ snapshot_at_setting() }},
        now()::timestamp without time zone
    )
{%- endmacro %}

{#- The run's logical instant (Europe/Kyiv wall time) when nps.transform / nps_transform set it, else null. -#}
{% macro snapshot_at_setting() -%}
    nullif(current_setting('nps.snapshot_at', true), '')::timestamp without time zone
{%- endmacro %}
