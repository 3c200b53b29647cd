{#-
  Incremental models re-read everything loaded since the newest row they already hold, minus a look-back
  (var incremental_lookback_hours), so a load still running when they last ran is merged again by its unique key.
-#}
{% macro loaded_since_watermark(column='loaded_at', target_column='loaded_at') -%}
    {{ column }} > {{ incremental_watermark(target_column) }}
{%- endmacro %}

{#-
  The watermark (of `this`, or of `relation`: the nightly tests' recent loads) as a literal, read when the model runs
  (dbt compiles a model just before running it): a subquery's value is unknown when the query is planned, so the
  planner guessed a third of raw for every scope filter and joined the whole history first; with a literal it
  estimates from raw's statistics and uses the _loaded_at indexes. A model built before it had the column (an
  upgrade, e.g. fct_survey_responses' transformed_at) gets '-infinity': every row is new to it.
-#}
{% macro incremental_watermark(target_column='loaded_at', relation=none, lookback_hours=none) -%}
    {%- set target = relation or this -%}
    {#- only a model's own table can predate a column; the tests' relations are named by the column -#}
    {%- set upgraded = execute and relation is none and not has_column(target, target_column) -%}
    {%- if upgraded -%}
        '-infinity'::timestamptz
    {%- elif execute -%}
        {%- set query -%}
            select (
                coalesce(max({{ target_column }}), '-infinity'::timestamptz)
                - interval '{{ var("incremental_lookback_hours") if lookback_hours is none else lookback_hours }} hours'
            )::text
            from {{ target }}
        {%- endset -%}
        '{{ run_query(query).columns[0].values()[0] }}'::timestamptz
    {%- else -%}
        '-infinity'::timestamptz
    {%- endif -%}
{%- endmacro %}

{#- Delivery-performance bucket of a purchase (contract: on_time, late_1_3d, late_4_7d, late_8d_plus, not_delivered). -#}
{% macro delivery_bucket(delivered_date, delay_days) -%}
    case
        when {{ delivered_date }} is null then 'not_delivered'
        when {{ delay_days }} is null or {{ delay_days }} <= 0 then 'on_time'
        when {{ delay_days }} <= 3 then 'late_1_3d'
        when {{ delay_days }} <= 7 then 'late_4_7d'
        else 'late_8d_plus'
    end
{%- endmacro %}

{#- The local (Europe/Kyiv) calendar day of an instant. -#}
{% macro local_date(column) -%}
    ({{ column }} at time zone '{{ var("timezone") }}')::date
{%- endmacro %}

{#-
  When this row was (re)built: the dbt invocation's start. Downstream incremental models pick the rows an upstream
  model rebuilt after their own last run (rebuilt_since). Bookkeeping only: it differs between an
  incremental build and a full refresh, so equality checks leave it out.
-#}
{% macro transformed_at() -%}
    '{{ run_started_at.isoformat() }}'::timestamptz
{%- endmacro %}

{#-
  When `this` last ran, as a literal: upstream rows with a newer transformed_at were rebuilt since. transformed_at
  is the dbt run's start, set by one run only, so no look-back.
-#}
{% macro rebuilt_since() -%}
    {{ incremental_watermark('transformed_at', lookback_hours=0) }}
{%- endmacro %}

{#-
  The instant this run builds as of, on the loaders' clock (raw's _loaded_at): the session setting nps.snapshot_at
  (macros/snapshot_time.sql; replays and Airflow set it to the run's logical instant, never later than the run),
  else now(). A model that keeps it per row can re-read what was loaded since its last run, minus the look-back,
  however long ago its newest source row was loaded.
-#}
{% macro run_instant() -%}
    coalesce(
        {{ snapshot_at_setting() }} at time zone '{{ var("timezone") }}', now()
    )
{%- endmacro %}

{#-
  An incremental run over a table that already has `column`: false on a first build, a full refresh, or a table
  built before the model had the column (an upgrade), which then take the full path.
-#}
{% macro incremental_with(column) -%}
    {%- do return(execute and is_incremental() and has_column(this, column)) -%}
{%- endmacro %}

{#- The relation exists and has `column` (an upgrade check: tables built before a column was added lack it). -#}
{% macro has_column(relation, column) -%}
    {%- do return(relation is not none
        and column in (adapter.get_columns_in_relation(relation) | map(attribute='name') | list)) -%}
{%- endmacro %}
