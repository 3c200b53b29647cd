# NPS platform. Every target bootstraps .venv from requirements.txt, writes .nps/env and sources it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ENV := . .nps/env &&

.PHONY: help bootstrap env db-up db-down airflow-db test browser lint pytest dbt-build dbt-manifest demo airflow bi bi-venv dbt-docs collector fakes lock clean bench bench-quick

help:
	@echo "make demo     - the whole loop over eight simulated weeks, prints the NPS marts"
	@echo "make test     - ruff, sqlfluff, pytest (real Postgres), dbt build"
	@echo "make airflow  - Airflow UI on http://localhost:8080 (admin login printed)"
	@echo "make bi       - the NPS dashboard in Apache Superset on http://localhost:8088 (admin / admin)"
	@echo "make dbt-docs - dbt's documentation of the models and lineage on http://localhost:8089"
	@echo "make collector / make fakes - the survey collector / the fake 1C, Bitrix24, SendGrid"
	@echo "make db-up / make db-down   - the project's own Postgres (data under .nps/pg)"

$(STAMP): requirements.txt pyproject.toml dev/pyproject.toml
	@echo ">> creating $(VENV) from requirements.txt (uv, bytecode compiled)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "$$(grep -E '^uv==' requirements.txt)"
	@$(BIN)/uv pip sync --quiet --python $(BIN)/python --compile-bytecode requirements.txt
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . -e dev
	@touch $(STAMP)

bootstrap: $(STAMP)

# Superset cannot share Airflow's venv (SQLAlchemy 1.4, Flask 2): its own venv from its own lock.
BI_VENV := .venv-bi
BI_STAMP := $(BI_VENV)/.installed
$(BI_STAMP): bi/requirements.txt | $(STAMP)
	@echo ">> creating $(BI_VENV) from bi/requirements.txt (Apache Superset)"
	@$(BIN)/uv venv --quiet --allow-existing --python $(PYTHON) $(BI_VENV)
	@$(BIN)/uv pip sync --quiet --python $(BI_VENV)/bin/python bi/requirements.txt
	@touch $(BI_STAMP)

bi-venv: $(BI_STAMP)

env: bootstrap
	@$(BIN)/nps env >/dev/null

db-up: env
	@$(ENV) $(BIN)/nps db-up

db-down: bootstrap
	@$(BIN)/nps db-down

# Airflow's metadata lives in the `airflow` database of the same server; migrate once per Airflow version.
airflow-db: db-up
	@$(ENV) v=$$($(BIN)/python -c 'import airflow; print(airflow.__version__)'); \
	  if [ "$$(cat $$AIRFLOW_HOME/.migrated 2>/dev/null)" != "$$v" ]; then \
	    echo ">> airflow db migrate ($$v)"; mkdir -p $$AIRFLOW_HOME; \
	    $(BIN)/airflow db migrate >$$AIRFLOW_HOME/migrate.log 2>&1 || { tail -30 $$AIRFLOW_HOME/migrate.log; exit 1; }; \
	    echo $$v > $$AIRFLOW_HOME/.migrated; fi

# sqlfluff's dbt templater renders is_incremental() from what exists in the database: lint against an always-empty
# database (nps_lint) so the result is the same on a fresh machine and on a warehouse with built models.
lint: db-up
	@echo ">> ruff"
	@$(BIN)/ruff check .
	@if [ -f dbt_project/dbt_project.yml ]; then echo ">> sqlfluff"; $(ENV) $(BIN)/python -c 'import os, psycopg; c = psycopg.connect(os.environ["NPS_WAREHOUSE_URL"], autocommit=True); c.execute("select 1 from pg_database where datname = %s", ("nps_lint",)).fetchone() or c.execute("create database nps_lint")' && cd dbt_project && NPS_WAREHOUSE_DB=nps_lint ../$(BIN)/sqlfluff lint models tests macros snapshots --processes 2; fi

# Cosmos renders nps_transform from dbt's manifest (no dbt call at DAG parse); re-parsed only when the project changed,
# in full (partial parsing keeps the previous selectors.yml).
DBT_MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -path dbt_project/logs -prune -o -type f -print 2>/dev/null)
$(DBT_MANIFEST): $(DBT_SOURCES) | env
	@echo ">> dbt parse (manifest for Cosmos)"
	@$(ENV) cd dbt_project && ../$(BIN)/dbt parse --quiet --no-partial-parse && touch target/manifest.json

dbt-manifest: $(if $(wildcard dbt_project/dbt_project.yml),$(DBT_MANIFEST))

pytest: airflow-db dbt-manifest bi-venv
	@echo ">> pytest"
	@$(ENV) $(BIN)/pytest $(PYTEST_ARGS)

dbt-build: db-up
	@if [ -f dbt_project/dbt_project.yml ]; then echo ">> dbt build"; $(ENV) cd dbt_project && ../$(BIN)/dbt build --fail-fast; fi

# The browser tests drive Debian's chromium (Playwright with executable_path; nothing is downloaded): installed here
# when missing and apt-get may run (root or password-less sudo), else said before the run which tests it skips.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  sudo_cmd=""; [ "$$(id -u)" -ne 0 ] && sudo_cmd="sudo -n"; \
	  if command -v apt-get >/dev/null 2>&1 && { [ -z "$$sudo_cmd" ] || sudo -n true 2>/dev/null; }; then \
	    echo ">> installing Debian's chromium for the browser tests"; \
	    { $$sudo_cmd apt-get install -y chromium || { $$sudo_cmd apt-get update && $$sudo_cmd apt-get install -y chromium; }; } \
	      >/dev/null 2>&1 || echo ">> could not install chromium: the collector and dashboard browser tests will be skipped"; \
	  else echo ">> no chromium and no apt-get as root: the collector and dashboard browser tests will be skipped" \
	    "(install Debian's chromium to run them)"; fi; }

test: browser lint pytest dbt-build

demo: airflow-db dbt-manifest
	@$(ENV) $(BIN)/nps demo $(DEMO_ARGS)

airflow: airflow-db dbt-manifest
	@$(ENV) echo ">> Airflow UI on http://localhost:$$NPS_AIRFLOW_PORT  (login: admin / admin)" && $(BIN)/airflow standalone

bi: db-up bi-venv
	@$(ENV) $(BIN)/nps bi serve

dbt-docs: db-up
	@$(ENV) cd dbt_project && ../$(BIN)/dbt docs generate --quiet && echo ">> dbt docs on http://localhost:$$NPS_DBT_DOCS_PORT" \
	  && ../$(BIN)/dbt docs serve --host 127.0.0.1 --port $$NPS_DBT_DOCS_PORT --no-browser

collector: db-up
	@$(ENV) $(BIN)/nps collector

fakes: env
	@$(ENV) $(BIN)/nps fakes

bench: airflow-db
	@$(ENV) $(BIN)/python -m bench

bench-quick: airflow-db
	@$(ENV) $(BIN)/python -m bench --quick

# Re-resolve the lock from requirements.in (needs the package registry).
lock: bootstrap
	@$(BIN)/uv pip compile requirements.in --python-version 3.11 --no-header -o requirements.txt
	@$(BIN)/uv pip compile bi/requirements.in --python-version 3.11 --no-header -o bi/requirements.txt

clean: db-down
	rm -rf .nps
