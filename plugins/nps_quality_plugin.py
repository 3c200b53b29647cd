"""Airflow plugin: the GX Data Docs inside `make airflow` (http://localhost:8080/nps-data-docs/), linked from the
UI's Browse menu. Top level on purpose: Airflow loads plugins from files under plugins/, and plugins/nps/ is the
package, not plugin code (see nps.quality.docs_app).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from nps.quality.docs_app import URL_PREFIX, docs_app


class NpsDataDocsPlugin(AirflowPlugin):
    name = "nps_data_docs"
    fastapi_apps = [{"app": docs_app(), "url_prefix": URL_PREFIX, "name": "NPS Data Docs (Great Expectations)"}]
    external_views = [{"name": "Data Docs (GX)", "href": f"{URL_PREFIX}/", "destination": "nav",
                       "category": "browse", "url_route": "nps-data-docs"}]
