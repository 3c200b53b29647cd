{% snapshot snap_customer_attributes %}
    {{
        config(
            schema='intermediate',
            unique_key='customer_ref',
            strategy='check',
            check_cols=['region', 'segment'],
            hard_deletes='ignore',
            post_hook=[
                "create index if not exists snap_customer_attributes_lookup on {{ this }} (customer_ref, dbt_valid_from)",
                "create index if not exists snap_customer_attributes_valid_from on {{ this }} (dbt_valid_from)",
                "create index if not exists snap_customer_attributes_transformed on {{ this }} (transformed_at)",
            ],
        )
    }}
    {#- The customers int_customers rebuilt since the newest version here was taken: a customer it did not rebuild
        cannot have changed, and a customer missing from the compare keeps its current version (hard_deletes:
        ignore). transformed_at is the dbt run's start, so every later rebuild is newer than any version's. -#}
    {%- set versioned = execute and has_column(load_relation(this), 'transformed_at') %}
    select
        customer_ref,
        region,
        segment,
        transformed_at
    from {{ ref('int_customers') }}
    {%- if versioned %}
        where transformed_at > {{ incremental_watermark('transformed_at', relation=this, lookback_hours=0) }}
    {%- endif %}
{% endsnapshot %}
