"""Errors a user can cause, the exit codes they end in, and how a failed step is told in one line.

Every error a user can cause ends in ``zhili <command>: <one sentence>`` on stderr and one of these
exit codes, never in a traceback:

* 0 -- done (a rejected file or a failed quality gate is data, not an error);
* 1 (:data:`EXIT_FAILED`) -- a pipeline step broke, or the system refused a read/write (disk full, ...);
* 2 (:data:`EXIT_USAGE`) -- usage: a bad flag or value, a path that is missing or cannot be written,
  a missing or unusable pseudonym key;
* 3 (:data:`EXIT_BUSY`) -- busy: another process holds the DuckDB lock (the warehouse, or the serving
  snapshot for ``briefing`` and ``sql``); run again when it is done;
* 130 (:data:`EXIT_INTERRUPTED`) -- interrupted; the next run finishes the job.

A step that fails inside a Dagster run reaches the user through :func:`step_failure`, which reads
the run's events (and dbt's printed output) for the failed step, DuckDB's lock conflict and dbt's
failed node, and turns them into that one line and its code. Nothing here imports Dagster: the
run's result is only read.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_BUSY",
    "EXIT_INTERRUPTED",
    "UsageError",
    "BusyError",
    "lock_sentence",
    "one_line",
    "step_failure",
    "interrupted",
    "interrupts_seen",
]

EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_INTERRUPTED = 1, 2, 3, 130


class UsageError(Exception):
    """Something the user can fix: printed as one line, never as a traceback."""

    exit_code = EXIT_USAGE


class BusyError(UsageError):
    """Another process holds a lock the command needs: printed as one line, exit code 3."""

    exit_code = EXIT_BUSY


# --------------------------------------------------------------------------
# DuckDB's lock conflict
# --------------------------------------------------------------------------

_LOCK = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)'
)


def lock_sentence(text: str) -> str | None:
    """DuckDB's "Could not set lock" error as one sentence naming the file and the holder; else None."""
    hit = _LOCK.search(text)
    if hit is None:
        return None
    return (
        f"{hit['file']} is locked by another process ({Path(hit['prog']).name}, PID {hit['pid']}); "
        "close that process or wait for it to finish, then run again"
    )


def _lock_in(text: str, home: Path) -> str | None:
    """DuckDB's lock conflict in ``text`` (also as dbt prints it) as one sentence, else None."""
    sentence = lock_sentence(text)
    if sentence is None and re.search(r"Could not set lock on file", text):
        sentence = (
            f"a DuckDB file under {home} is locked by another process; close that process or wait for "
            "it to finish, then run again"
        )
    return sentence


# --------------------------------------------------------------------------
# A failed step of a run, in one line
# --------------------------------------------------------------------------


def _error_text(error) -> str:
    """Every message of a serialised error and its causes/contexts (where a DuckDB lock error hides)."""
    parts, seen = [], 0
    while error is not None and seen < 10:
        parts.append(error.message or "")
        error, seen = error.cause or getattr(error, "context", None), seen + 1
    return "\n".join(parts)


def step_failure(result, home: Path | None = None, output: str = "") -> tuple[str, int] | None:
    """The first step failure that is not a blocking GX check (a held file is data, not a failure).

    One line and an exit code: 3 when the step could not get a DuckDB lock (another process holds the
    warehouse), else 1. ``output`` is what the run printed (dbt's events), searched for the lock too.
    """
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.step_failure_data.error
        if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
            continue
        lock = _lock_in(_error_text(error) + "\n" + output, home or Path("."))
        if lock:
            return f"step {event.step_key} failed: {lock}", EXIT_BUSY
        cause = error.cause if error is not None and error.cause is not None else error
        return f"step {event.step_key} failed: {one_line(cause.message if cause else 'unknown error')}", EXIT_FAILED
    return None


#: how Dagster reports a Ctrl-C inside a step or a run (it catches the KeyboardInterrupt and fails the run)
_INTERRUPTS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}


def interrupted(result) -> bool:
    """Whether an in-process run ended because of SIGINT (Ctrl-C), not because a step broke."""
    for event in result.all_events:
        data = event.event_specific_data
        error = getattr(data, "error", None)
        if error is not None and error.cls_name in _INTERRUPTS:
            return True
    return False


@contextlib.contextmanager
def interrupts_seen() -> Iterator[Callable[[], bool]]:
    """Within the block, remember whether SIGINT arrived, whoever's handler ran: answers a function saying so.

    Dagster captures a Ctrl-C while it writes a run's events (``capture_interrupts``) and forgets it when that
    block ends, so a Ctrl-C between two steps could be lost and the run go on to the end. Python's wakeup fd
    (``signal.set_wakeup_fd``) gets the number of every signal a Python handler is called for, whichever handler
    that is; outside the main thread (no signals there) it answers False."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    seen = {"interrupt": False, "open": True}

    def check() -> bool:
        """Whether SIGINT came (so far, or within the block once it has ended)."""
        with contextlib.suppress(BlockingIOError):
            while seen["open"] and (data := reader.recv(256)):
                seen["interrupt"] |= signal.SIGINT in data
        return seen["interrupt"]

    try:
        yield check
    finally:
        signal.set_wakeup_fd(previous)
        check()
        seen["open"] = False
        reader.close()
        writer.close()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DBT_NODE = re.compile(r"^\s*(?:Failure|Error) in (?:model|test|seed|snapshot|unit_test) \S+")


_JAVA_FRAME = re.compile(r"^(?:at [\w$.<>/-]+\(.*\)|\.\.\. \d+ more|Caused by: .*\.\.\. \d+ more)$")


def one_line(message: str) -> str:
    """The line of an error message that says what went wrong.

    dagster-dbt's error lists dbt's own ("Errors parsed from dbt logs"): name the failed node and
    its database error, not the caret under the offending SQL.
    """
    text = _ANSI.sub("", message)
    lines = [line.strip() for line in text.splitlines()]
    if "Errors parsed from dbt logs:" in text:
        tail = lines[lines.index("Errors parsed from dbt logs:") + 1 :]
        node = next((line for line in tail if _DBT_NODE.match(line)), None)
        detail = next((line for line in tail if re.match(r"^[\w ]*Error: ", line) and "in model" not in line), None)
        if node:
            return f"dbt: {node.removesuffix(':')}" + (f": {detail}" if detail else "")
    # a JVM's (Spark's) stack frames ("at org.apache…(File.scala:360)", "... 12 more") say where, not what
    meaningful = [
        line for line in lines if line and not re.fullmatch(r"[\^~\s]+", line) and not _JAVA_FRAME.match(line)
    ]
    line = meaningful[-1] if meaningful else "unknown error"
    # our own errors are sentences already; their qualified class name adds nothing for the user
    return re.sub(r"^(?:orchestration|ingestion|expectations)\.[\w.]*: ", "", line)
