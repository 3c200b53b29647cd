{#- 1C sends the empty reference as the zero GUID and the empty date as 0001-01-01: both mean "none". -#}
{% macro onec_ref(column) -%}
    nullif(nullif(trim({{ column }}), ''), '00000000-0000-0000-0000-000000000000')
{%- endmacro %}

{% macro onec_timestamp(column) -%}
    case when {{ column }} < '1900-01-01'::timestamp then null else {{ column }} end
{%- endmacro %}

{#- Lower-cased, trimmed e-mail; null unless it looks like one address. -#}
{% macro clean_email(column) -%}
    case
        when lower(trim({{ column }})) ~ '^[a-z0-9._%+''-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$'
            then lower(trim({{ column }}))
    end
{%- endmacro %}

{#- Phone matching key: the last 9 digits (a Ukrainian number without +380 / 0), null when too short. -#}
{% macro phone_key(column) -%}
    case
        when length(regexp_replace(coalesce({{ column }}, ''), '[^0-9]', '', 'g')) >= 9
            then right(regexp_replace({{ column }}, '[^0-9]', '', 'g'), 9)
    end
{%- endmacro %}

{#- How a region spelling is compared: case, punctuation, apostrophe variants and spacing do not matter. -#}
{% macro normalize_spelling(column) -%}
    nullif(trim(regexp_replace(
        translate(lower({{ column }}), '.,;:()"«»’ʼ`‘–—-', '         ''''''''   '),
        '\s+', ' ', 'g'
    )), '')
{%- endmacro %}

{% macro blank_to_null(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}
