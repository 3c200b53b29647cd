{#-
  The sending day of the due queue. The sender sets it per transaction:
    select set_config('nps.as_of_date', '<day>', true); select * from intermediate.int_survey_due_queue;
  Without it the view uses today's date; unit tests pin it with the var `as_of_date`.
-#}
{% macro as_of_date() -%}
    {%- if var('as_of_date', none) -%}
        '{{ var("as_of_date") }}'::date
    {%- else -%}
        coalesce(nullif(current_setting('nps.as_of_date', true), '')::date, current_date)
    {%- endif -%}
{%- endmacro %}
