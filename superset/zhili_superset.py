"""Superset on a Zhili home: set it up (metadata DB, admin, the governance dashboard) and serve it.

Runs with Superset's own interpreter (``.venv-superset/bin/python``), never Zhili's: Superset pins
its own SQLAlchemy and Flask. ``make superset`` and ``make superset-serve`` call it::

    .venv-superset/bin/python superset/zhili_superset.py setup --home .demo/home
    .venv-superset/bin/python superset/zhili_superset.py serve --home .demo/home --port 8088

Superset's state lives in ``<home>/superset`` (``SUPERSET_HOME``): the SQLite metadata DB, the
session secret and the admin's password, each created on first use. ``setup`` does in one process
what ``superset db upgrade``, ``superset fab create-admin``, ``superset init`` and an asset import
do in four (each of those starts the whole app, ~10 s of CPU apiece), and is safe to run again: it
upgrades, keeps the admin, and re-imports the dashboard over the previous import.

The dashboard is code: ``superset/dashboard/`` is a bundle in Superset's export format (metadata,
databases, datasets, charts, dashboards). The database's URI names ``__ZHILI_SERVING_DUCKDB__``,
replaced here by the absolute path of ``<home>/serving/zhili.duckdb``.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "superset" / "superset_config.py"
BUNDLE = REPO / "superset" / "dashboard"
SERVING_PLACEHOLDER = "__ZHILI_SERVING_DUCKDB__"
ADMIN = "admin"
DASHBOARD_SLUG = "zhili-governance"

logger = logging.getLogger("zhili_superset")


def state_dir(home: Path) -> Path:
    return home / "superset"


def serving_db(home: Path) -> Path:
    return home / "serving" / "zhili.duckdb"


def superset_env(home: Path) -> dict[str, str]:
    """The environment Superset needs for ``home``: its state folder and this repository's config."""
    return {
        "SUPERSET_HOME": str(state_dir(home)),
        "SUPERSET_CONFIG_PATH": str(CONFIG),
        "FLASK_APP": "superset.app:create_app()",
    }


def admin_password(home: Path) -> str:
    """The admin's password: generated once into ``<home>/superset/admin_password`` (mode 0600)."""
    path = state_dir(home) / "admin_password"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(12) + "\n")
    return path.read_text().strip()


def bundle_contents(serving: Path, bundle: Path = BUNDLE) -> dict[str, str]:
    """The bundle's YAML files keyed by their path inside it, the serving snapshot's path filled in."""
    contents = {}
    for path in sorted(bundle.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        contents[path.relative_to(bundle).as_posix()] = text.replace(SERVING_PLACEHOLDER, str(serving.resolve()))
    if "metadata.yaml" not in contents:
        raise FileNotFoundError(f"{bundle}/metadata.yaml is missing: the folder is not a Superset bundle")
    return contents


def setup(home: Path) -> None:
    os.environ.update(superset_env(home))
    from flask import g
    from flask_migrate import upgrade
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.extensions import db

        from superset import appbuilder, security_manager

        logger.info("upgrading Superset's metadata DB in %s", state_dir(home))
        upgrade()
        appbuilder.add_permissions(update_perms=True)  # = superset init
        security_manager.sync_role_definitions()
        db.session.commit()
        user = security_manager.find_user(username=ADMIN)
        if user is None:
            user = security_manager.add_user(
                ADMIN,
                "Zhili",
                "Admin",
                "admin@zhili.local",
                security_manager.find_role("Admin"),
                password=admin_password(home),
            )
            if not user:
                raise RuntimeError(f"Superset could not create the user {ADMIN!r} (see the log above)")
        g.user = user
        ImportAssetsCommand(bundle_contents(serving_db(home))).run()
        db.session.commit()
    logger.info("imported the dashboard %r over %s", DASHBOARD_SLUG, serving_db(home))


def serve(home: Path, host: str, port: int, workers: int, threads: int) -> None:
    """Replace this process with gunicorn serving Superset (what Superset's own image runs)."""
    env = {**os.environ, **superset_env(home)}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    args = [
        str(gunicorn),
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--timeout",
        "120",
        "--access-logfile",
        "-",
        "superset.app:create_app()",
    ]
    os.execve(gunicorn, args, env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_setup = sub.add_parser("setup", help="metadata DB, admin user, roles, and the governance dashboard")
    p_setup.add_argument("--home", type=Path, required=True)
    p_serve = sub.add_parser("serve", help="serve Superset with gunicorn")
    p_serve.add_argument("--home", type=Path, required=True)
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8088)
    p_serve.add_argument("--workers", type=int, default=1)
    p_serve.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    home = args.home.resolve()
    if args.command == "setup":
        setup(home)
        print(
            f"Superset is set up for {home}\n"
            f"  user:      {ADMIN}\n"
            f"  password:  in {state_dir(home) / 'admin_password'}\n"
            f"  dashboard: /superset/dashboard/{DASHBOARD_SLUG}/\n"
            f"  database:  duckdb:///{serving_db(home)}?access_mode=read_only"
        )
    else:
        serve(home, args.host, args.port, args.workers, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
