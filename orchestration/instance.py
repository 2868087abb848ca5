"""The Dagster instance both front doors share: ``<home>/dagster`` (DAGSTER_HOME).

``zhili run`` records its runs there, so ``dagster dev`` started with
``DAGSTER_HOME=<home>/dagster`` shows them. The instance limits every
concurrency pool (the ``warehouse`` pool: DuckDB's single writer) to one step.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["DAGSTER_YAML", "CLI_TAG", "RunInProgress", "ensure_instance_dir", "open_instance", "cli_run_lock", "reap_dead_cli_runs"]

#: tag on every run ``zhili run`` launches in-process
CLI_TAG = "zhili/front_door"


class RunInProgress(Exception):
    """Another ``zhili run`` holds this home."""

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


#: ``zhili run`` does not capture its steps' stdout/stderr as compute logs: Dagster's capture tails them
#: through ``tail -F`` and a watcher process in the run's process group, and Ctrl-C on a terminal reaches
#: those too, which print KeyboardInterrupt tracebacks over the one-line "interrupted" message. The CLI
#: prints its own progress, and every run's structured event log is kept and shown in the UI as before;
#: runs the UI launches keep the instance's compute logs.
CLI_OVERRIDES = {"compute_logs": {"module": "dagster._core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}}


def open_instance(home: Path):
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    return DagsterInstance.from_ref(InstanceRef.from_dir(str(ensure_instance_dir(home)), overrides=CLI_OVERRIDES))


@contextmanager
def cli_run_lock(home: Path) -> Iterator[None]:
    """Held by one ``zhili run`` per home for its whole duration.

    An fcntl lock: the kernel drops it when the process dies, however it dies, so
    a killed run never leaves it behind, and whoever holds it knows that no other
    ``zhili run`` of this home is alive.
    """
    path = Path(home) / "state" / "zhili_run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunInProgress(f"{home} is being loaded by another zhili run (PID {holder}); "
                                "wait for it to finish, then run again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def reap_dead_cli_runs(instance) -> list[str]:
    """Runs a killed ``zhili run`` left as started: marked failed, their pool slots given back.

    Call it holding :func:`cli_run_lock`: then no live ``zhili run`` owns any of them. A run
    SIGKILLed inside the ``warehouse`` pool would otherwise keep the pool's only slot forever
    and every later run would wait for it. Runs the UI or the daemon launched are left alone.
    """
    from dagster import DagsterRunStatus, RunsFilter

    alive = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
    runs = instance.get_runs(filters=RunsFilter(statuses=alive, tags={CLI_TAG: "cli"}))
    for run in runs:
        instance.report_run_failed(run, message="zhili run was killed before this run finished; a later zhili run took over")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in runs]
