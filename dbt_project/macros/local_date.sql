{#- The local (var timezone, Europe/Kyiv) calendar day of an instant: the day an answer or a send belongs to. -#}
{% macro local_date(column) -%}
    ({{ column }} at time zone '{{ var("timezone") }}')::date
{%- endmacro %}
