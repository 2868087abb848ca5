"""One ``zhili run`` per home: the run lock, and taking over from a run that was killed.

:func:`cli_run_lock` is held for a whole ``zhili run``; :func:`reap_dead_cli_runs`, called while
holding it, marks failed the Dagster runs a killed ``zhili run`` left as started (found by
:data:`CLI_TAG`, which every run the CLI launches carries) and gives back their pool slots.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingestion.zones import Zones

__all__ = ["CLI_TAG", "RunInProgress", "cli_run_lock", "reap_dead_cli_runs"]

#: tag on every run ``zhili run`` launches in-process
CLI_TAG = "zhili/front_door"


class RunInProgress(Exception):
    """Another ``zhili run`` holds this home."""


@contextmanager
def cli_run_lock(home: Path) -> Iterator[None]:
    """Held by one ``zhili run`` per home for its whole duration.

    An fcntl lock: the kernel drops it when the process dies, however it dies, so
    a killed run never leaves it behind, and whoever holds it knows that no other
    ``zhili run`` of this home is alive.
    """
    path = Zones(Path(home)).run_lock
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunInProgress(
                f"{home} is being loaded by another zhili run (PID {holder}); wait for it to finish, then run again"
            ) from None
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
        instance.report_run_failed(
            run, message="zhili run was killed before this run finished; a later zhili run took over"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in runs]
