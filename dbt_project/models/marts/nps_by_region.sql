{{ nps_rollup('month', 'region') }}

select
    month,
    region,
    {{ nps_metric_columns() }}
from counts
