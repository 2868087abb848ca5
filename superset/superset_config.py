"""Superset's configuration for Zhili (loaded by Superset through ``SUPERSET_CONFIG_PATH``).

Superset imports this module itself and reads its settings as module globals, so this is the one
place in the repository that reads the environment at import time: ``SUPERSET_HOME`` (Superset's
own variable) names the folder that holds Superset's state — ``<zhili home>/superset`` for
``make superset`` — never a folder inside the repository.

Nothing here reaches the network: no telemetry pixel, no map tiles, no web fonts (the content
security policy allows this origin only, so the browser does not even ask).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

if not os.environ.get("SUPERSET_HOME"):
    raise RuntimeError(
        "SUPERSET_HOME is not set: it should name Superset's state folder, for example "
        "<zhili home>/superset (superset/zhili_superset.py sets it)"
    )
STATE = Path(os.environ["SUPERSET_HOME"]).resolve()
STATE.mkdir(parents=True, exist_ok=True)
DATA_DIR = str(STATE)
UPLOAD_FOLDER = str(STATE / "uploads") + "/"


def _secret_key(path: Path) -> str:
    """The session-signing key: generated once into ``path`` (mode 0600), then read from it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(42) + "\n")
    return path.read_text().strip()


SECRET_KEY = _secret_key(STATE / "secret_key")
SQLALCHEMY_DATABASE_URI = f"sqlite:///{STATE / 'superset.db'}?check_same_thread=false"

# Chinese first: the dashboard's titles are Chinese, the analysts read Chinese.
BABEL_DEFAULT_LOCALE = "zh"
LANGUAGES = {"zh": {"flag": "cn", "name": "简体中文"}, "en": {"flag": "us", "name": "English"}}

# No network: Mapbox off, and a policy that lets the browser load from this origin only (Superset's
# default also allows its telemetry pixel, Mapbox, OpenStreetMap tiles and Google Fonts).
MAPBOX_API_KEY = ""
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

# One process on localhost: no Redis, no Celery, results computed per request, nothing cached (the
# serving snapshot changes after every run; a cached chart would show the previous one).
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# a chart query on a busy two-core machine (a zhili run beside it) may take longer than the default 60 s;
# gunicorn's --timeout in zhili_superset.py says the same
SUPERSET_WEBSERVER_TIMEOUT = 120
