{#- The survey languages, Ukrainian first (the default): nps.i18n.LANGUAGES, passed as var `languages`. -#}
{% macro languages() %}
    {{- return(var('languages').split(',')) -}}
{% endmacro %}
