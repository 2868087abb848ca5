"""The Dagster instance ``zhili run`` records its runs in: ``<home>/dagster`` (DAGSTER_HOME).

``zhili run`` records its runs there, so ``dagster dev`` started with
``DAGSTER_HOME=<home>/dagster`` shows them. The instance limits every
concurrency pool (the ``warehouse`` pool: DuckDB's single writer) to one step.
"""

from __future__ import annotations

from pathlib import Path

from ingestion.zones import Zones

__all__ = ["DAGSTER_YAML", "CLI_OVERRIDES", "ensure_instance_dir", "open_instance"]

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
    folder = Zones(Path(home)).dagster
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return folder


#: ``zhili run`` does not capture its steps' stdout/stderr as compute logs: Dagster's capture tails them
#: through ``tail -F`` and a watcher process in the run's process group, and Ctrl-C on a terminal reaches
#: those too, which print KeyboardInterrupt tracebacks over the one-line "interrupted" message. The CLI
#: prints its own progress, and every run's structured event log is kept and shown in the UI as before;
#: runs the UI launches keep the instance's compute logs.
CLI_OVERRIDES = {
    "compute_logs": {"module": "dagster._core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}
}


def _event_log_override(folder: Path) -> dict:
    """The kept-open event log (:mod:`orchestration.event_log`) over Dagster's own files, ``history/runs``,
    unless ``dagster.yaml`` names a storage of its own (then that one is used as it says)."""
    import yaml

    config = yaml.safe_load((folder / "dagster.yaml").read_text()) or {}
    if any(k in config for k in ("storage", "run_storage", "event_log_storage", "schedule_storage")):
        return {}
    return {
        "event_log_storage": {
            "module": "orchestration.event_log",
            "class": "KeptSqliteEventLogStorage",
            "config": {"base_dir": str(folder / "history" / "runs")},
        }
    }


def open_instance(home: Path):
    """The instance under ``<home>/dagster`` as ``zhili run`` uses it: no compute log capture, and the event
    log written through kept connections (:mod:`orchestration.event_log`; a dbt build writes ~1,000 events)."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    folder = ensure_instance_dir(home)
    overrides = CLI_OVERRIDES | _event_log_override(folder)
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(folder), overrides=overrides))
