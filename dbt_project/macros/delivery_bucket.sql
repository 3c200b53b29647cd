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
