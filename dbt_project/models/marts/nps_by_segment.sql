{{ nps_rollup('month', 'segment') }}

select
    month,
    segment,
    {{ nps_metric_columns() }}
from counts
