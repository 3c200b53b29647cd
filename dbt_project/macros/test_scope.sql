{#-
  What a nightly run tests: the rows it changed, not the whole history again.

  dbt hands every generic test its model through get_where_subquery(); this override (dbt's documented hook)
  narrows the model to its changed rows when the run asks for it (var test_scope = changed: the nightly builds of
  nps.transform and nps_transform), the tested model says how to find them (config meta `changed_rows`) and the
  run is not a full refresh. dbt by hand (make dbt-build, CI), a full refresh and the nps_transform param
  `full_tests` test everything.

  changed_rows: transformed_at  rows (re)built by this dbt invocation (incremental intermediates)
  changed_rows: loaded_at       rows loaded within the incremental look-back of the newest load (staging over raw)

  Row rules (not_null, accepted_values, ranges) read only the changed rows. Uniqueness reads every row sharing a
  key with a changed row, so a new row colliding with an old one is still caught; rows that did not change were
  checked on the night they did.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set changed = changed_rows_filter(relation) -%}
    {%- set conditions = [where, changed] | select | list -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where (' ~ conditions | join(') and (') ~ ')) as dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{% macro changed_rows_filter(relation) -%}
    {%- if not execute or flags.FULL_REFRESH or var('test_scope', 'all') != 'changed' -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '', {}) -%}
    {%- set column = tested.get('config', {}).get('meta', {}).get('changed_rows') -%}
    {%- if not column -%}
        {%- do return('') -%}
    {%- elif column == 'transformed_at' -%}
        {%- set predicate = 'transformed_at = ' ~ transformed_at() -%}
    {%- else -%}
        {%- set predicate = column ~ ' > ' ~ incremental_watermark(column, relation) -%}
    {%- endif -%}
    {%- set test = model.get('test_metadata') or {} -%}
    {%- set kwargs = test.get('kwargs', {}) -%}
    {%- if test.get('name') == 'unique' -%}
        {%- set keys = [kwargs['column_name']] -%}
    {%- elif test.get('name') == 'unique_combination' -%}
        {%- set keys = kwargs['columns'] -%}
    {%- else -%}
        {%- do return(predicate) -%}
    {%- endif -%}
    {#- by the first key column: a row sharing the whole key with a changed row shares that column too, and its
        values are probed one by one through the column's index (as `in` or a join the planner read all the history) -#}
    {%- do return(keys[0] ~ ' = any(array(select ' ~ keys[0] ~ ' from ' ~ relation ~ ' where ' ~ predicate ~ '))') -%}
{%- endmacro %}
