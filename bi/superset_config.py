"""Superset's configuration for `make bi` and docker-compose's `superset` service (SUPERSET_CONFIG_PATH points here).

Secrets and places come from the environment only (`.nps/env` locally, `.env` in compose):
SUPERSET_SECRET_KEY signs sessions and encrypts the stored warehouse password; SUPERSET_METADATA_URL is Superset's
own metadata database (default: SQLite under NPS_BI_HOME). The warehouse connection (role `nps_bi`, SELECT on
`marts` only) is not configured here: `nps bi setup` imports it with the dashboard.
"""

import os
from pathlib import Path

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
_home = Path(os.environ.get("NPS_BI_HOME", Path.home() / ".superset"))
SQLALCHEMY_DATABASE_URI = os.environ.get("SUPERSET_METADATA_URL") or f"sqlite:///{_home / 'superset.db'}"

# Content-Security-Policy on, and the prebuilt front-end's usage pixel (an <img> from Scarf) not in img-src, so the
# browser never loads it: usage telemetry off, as for Airflow and Cosmos. No map tiles or fonts from the internet.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
CONTENT_SECURITY_POLICY_WARNING = False

# Ukrainian first, as the users read it; the dashboard's titles are Ukrainian with English in the descriptions.
BABEL_DEFAULT_LOCALE = "uk"
LANGUAGES = {
    "uk": {"flag": "ua", "name": "Українська"},
    "ru": {"flag": "ru", "name": "Russian"},
    "en": {"flag": "us", "name": "English"},
    "pl": {"flag": "pl", "name": "Polski"},
}

# A local, single-user tool: no rate-limit store to run, no example data, no welcome-page tours.
RATELIMIT_ENABLED = False
SUPERSET_WEBSERVER_TIMEOUT = 120
ROW_LIMIT = 50000
FEATURE_FLAGS = {"DASHBOARD_RBAC": False, "ENABLE_TEMPLATE_PROCESSING": False}
