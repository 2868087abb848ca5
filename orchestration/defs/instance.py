"""The Dagster instance both front doors share: ``<home>/dagster`` (DAGSTER_HOME).

``zhili run`` records its runs there, so ``dagster dev`` started with
``DAGSTER_HOME=<home>/dagster`` shows them. The instance limits every
concurrency pool (the ``warehouse`` pool: DuckDB's single writer) to one step.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DAGSTER_YAML", "ensure_instance_dir", "open_instance"]

DAGSTER_YAML = """\
# Written by zhili: one step at a time in each concurrency pool (DuckDB has one writer).
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def ensure_instance_dir(home: Path) -> Path:
    """``<home>/dagster`` with a ``dagster.yaml`` (left alone when one exists)."""
    folder = Path(home) / "dagster"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return folder


def open_instance(home: Path):
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(ensure_instance_dir(home)))
