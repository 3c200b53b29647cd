"""The GX Data Docs as a small FastAPI app, mounted into Airflow's API server by `plugins/nps_quality_plugin.py`.

http://localhost:8080/nps-data-docs/ serves `$NPS_GX_DIR/data_docs` (default `.nps/gx/data_docs`), rebuilt by
every gate run. Light at import: FastAPI only when called, no GX, no database, no Airflow.
"""

from __future__ import annotations

URL_PREFIX = "/nps-data-docs"


def docs_app():
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    from nps.quality.settings import quality_settings

    directory = quality_settings().gx_root / "data_docs"
    app = FastAPI(title="NPS Data Docs", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", include_in_schema=False)
    def index():
        page = directory / "index.html"
        if not page.exists():
            return HTMLResponse("<h1>No Data Docs yet</h1><p>They are built by the first run of the quality gates "
                                "(nps_transform).</p>", status_code=404)
        return HTMLResponse(page.read_text(encoding="utf-8"))

    # check_dir=False: the directory appears with the first gate run, after the API server started
    app.mount("/", StaticFiles(directory=str(directory), html=True, check_dir=False), name="data_docs")
    return app
