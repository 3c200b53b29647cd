{% snapshot snap_customer_attributes %}
    {{
        config(
            schema='intermediate',
            unique_key='customer_ref',
            strategy='check',
            check_cols=['region', 'segment'],
            hard_deletes='ignore',
        )
    }}
    -- The customer's region and segment over time, so a purchase keeps the ones it was made with. Versions are
    -- stamped with the run's logical instant (macros/snapshot_time.sql).
    select
        customer_ref,
        region,
        segment
    from {{ ref('int_customers') }}
{% endsnapshot %}
