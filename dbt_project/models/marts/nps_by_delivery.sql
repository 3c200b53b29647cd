{{ nps_rollup('month', 'delivery_bucket') }}

select
    month,
    delivery_bucket,
    {{ nps_metric_columns() }}
from counts
