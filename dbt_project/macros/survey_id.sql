{#-
  The survey of a purchase (one per 1C sale). Deterministic and URL-safe ([a-z0-9], 26 chars), so the sender,
  the tokens and the collector all agree without a lookup table. Defined only here.
-#}
{% macro survey_id(sale_ref) -%}
    ('sv' || left(md5({{ sale_ref }}), 24))
{%- endmacro %}
