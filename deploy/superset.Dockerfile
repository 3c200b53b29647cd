# Superset for the NPS dashboard, from the same lock `make bi` installs (bi/requirements.txt: Superset 6.1.0 + the
# psycopg2 driver), plus the Superset setup (`nps bi serve`, the product's nps.bi, which imports
# bi/dashboard.yaml and makes the regional managers' logins from the region seed at every start). This is the
# dashboard tool's image, not a product image: those (airflow, collector) copy plugins/ only.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/nps
COPY bi/requirements.txt /opt/nps/bi/requirements.txt
RUN python -m venv /opt/superset && /opt/superset/bin/pip install --no-cache-dir -r /opt/nps/bi/requirements.txt
COPY pyproject.toml /opt/nps/
COPY plugins /opt/nps/plugins
COPY bi /opt/nps/bi
COPY dbt_project/models/marts/_marts.yml /opt/nps/dbt_project/models/marts/_marts.yml
COPY dbt_project/seeds/region_managers.csv /opt/nps/dbt_project/seeds/region_managers.csv
RUN /opt/superset/bin/pip install --no-cache-dir --no-deps -e /opt/nps \
 && useradd --create-home --uid 1000 superset && mkdir -p /var/lib/superset && chown superset /var/lib/superset
ENV NPS_BI_VENV=/opt/superset NPS_BI_HOME=/var/lib/superset SUPERSET_CONFIG_PATH=/opt/nps/bi/superset_config.py \
    PATH=/opt/superset/bin:$PATH
USER superset
EXPOSE 8088
CMD ["nps", "bi", "serve", "--host", "0.0.0.0", "--port", "8088"]
