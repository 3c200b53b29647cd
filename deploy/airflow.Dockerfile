# Airflow image with the project's pinned lock and package (the same lock `make` installs locally).
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 requirements.txt pyproject.toml /opt/nps/
COPY --chown=airflow:0 plugins /opt/nps/plugins
COPY --chown=airflow:0 expectations /opt/nps/expectations
RUN pip install --no-cache-dir -r /opt/nps/requirements.txt \
 && pip install --no-cache-dir --no-deps -e /opt/nps
ENV NPS_EXPECTATIONS_DIR=/opt/nps/expectations
