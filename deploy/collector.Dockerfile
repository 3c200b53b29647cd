# The collector ships slim: FastAPI + psycopg only, no Airflow.
FROM python:3.11-slim
WORKDIR /opt/nps
COPY pyproject.toml /opt/nps/
COPY plugins /opt/nps/plugins
RUN pip install --no-cache-dir "fastapi==0.136.3" "uvicorn[standard]==0.54.0" "psycopg[binary,pool]==3.3.9" \
      "sendgrid==6.12.5" "python-multipart==0.0.34" "segno==1.6.6" \
 && pip install --no-cache-dir --no-deps -e /opt/nps
USER 65534
EXPOSE 18080
