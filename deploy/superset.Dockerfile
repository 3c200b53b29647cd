# Superset for the NPS dashboard, from the same lock `make bi` installs (bi/requirements.txt: Superset 6.1.0 + the
# psycopg2 driver), plus the project's package for `nps bi serve`, which imports bi/dashboard.yaml at every start.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/nps
COPY bi/requirements.txt /opt/nps/bi/requirements.txt
RUN python -m venv /opt/superset && /opt/superset/bin/pip install --no-cache-dir -r /opt/nps/bi/requirements.txt
COPY pyproject.toml /opt/nps/
COPY plugins /opt/nps/plugins
COPY bi /opt/nps/bi
COPY dbt_project/models/marts/_marts.yml /opt/nps/dbt_project/models/marts/_marts.yml
RUN /opt/superset/bin/pip install --no-cache-dir --no-deps -e /opt/nps \
 && useradd --create-home --uid 1000 superset && mkdir -p /var/lib/superset && chown superset /var/lib/superset
ENV NPS_BI_VENV=/opt/superset NPS_BI_HOME=/var/lib/superset SUPERSET_CONFIG_PATH=/opt/nps/bi/superset_config.py \
    PATH=/opt/superset/bin:$PATH
USER superset
EXPOSE 8088
CMD ["nps", "bi", "serve", "--host", "0.0.0.0", "--port", "8088"]
