"""The dbt project's code as the warehouse knows it: where it is, its files, and their digest.

The digest (the code plus the versions of dbt and DuckDB that run it) is what the warehouse was built by: the
build records it in ``<home>/state/warehouse_code.sha256``; a build whose code differs refreshes its incremental
models from scratch, and a run with no new file still rebuilds when the code changed (an upgrade of Zhili).
Nothing here imports Dagster, so ``zhili run`` can tell a current snapshot before starting it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["DBT_PROJECT_DIR", "built_code_file", "project_digest", "newest_source_mtime", "source_files"]

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def source_files(project_dir: Path) -> list[Path]:
    files = [project_dir / "dbt_project.yml"]
    for sub in ("models", "macros", "seeds", "tests", "snapshots"):
        if (project_dir / sub).is_dir():
            files += sorted(p for p in (project_dir / sub).rglob("*") if p.is_file())
    return [p for p in files if p.exists()]


def newest_source_mtime(project_dir: Path) -> float:
    return max((p.stat().st_mtime for p in source_files(project_dir)), default=0.0)


def project_digest(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """A digest of the dbt project's code and the versions that run it: what an incremental table was built by."""
    from ingestion.fingerprint import update_with_versions

    digest = hashlib.sha256()
    for path in source_files(project_dir):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    update_with_versions(digest, ("dbt-core", "dbt-duckdb", "duckdb"))
    return digest.hexdigest()


def built_code_file(state: Path) -> Path:
    """Where a home records the digest of the code its warehouse was last built by."""
    return state / "warehouse_code.sha256"
