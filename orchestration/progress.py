"""Progress on stderr, and the listeners that feed it from a run's Dagster log records.

:class:`Progress` shows one stage at a time: a tqdm bar on a terminal, a plain line now and then
elsewhere (``ZHILI_PROGRESS=bar|plain|off`` forces one of :data:`MODES`). ``zhili run`` feeds it
from the Dagster log records of its in-process runs: :func:`watching` adds a :class:`RunWatch` to
the handlers of one instance, and :func:`feed_listener` / :func:`warehouse_listener` turn the
records into counts (files loaded per feed; linkage -> dbt build -> publish). Nothing of a record
is kept but counts and step names. stdout keeps the summaries (:meth:`Progress.write`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["MODES", "Progress", "NoProgress", "RunWatch", "watching", "feed_listener", "warehouse_listener", "isatty"]

#: the styles ``ZHILI_PROGRESS`` may name
MODES = ("bar", "plain", "off")


class Progress:
    """One stage at a time on ``stream`` (stderr): a tqdm bar on a terminal, plain lines elsewhere.

    Redrawn bars make captured output (tests, CI, pipes, ``make`` logs) unreadable, so when the
    stream is not a terminal a line ``zhili <command>: <stage> <done>/<total> <unit> (<s> s)`` is
    printed at most every ``every`` seconds (also while nothing moves) and when a stage ends.
    ``ZHILI_PROGRESS=bar|plain|off`` overrides the choice.
    """

    def __init__(
        self,
        command: str,
        *,
        stream: TextIO | None = None,
        every: float = 30.0,
        mode: str | None = None,
        prefix: str | None = None,
    ):
        self.prefix, self.every = prefix or f"zhili {command}", every
        self.stream = stream or _own_stderr()
        self._owns_stream = stream is None and self.stream is not sys.stderr
        mode = mode or os.environ.get("ZHILI_PROGRESS", "")
        if mode not in MODES:
            mode = "bar" if isatty(self.stream) else "plain"
        self.mode = mode
        self._bar = None
        self._stage: tuple[str, int, str] | None = None
        self._done, self._note, self._started, self._printed = 0, "", 0.0, 0.0
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._ticker: threading.Thread | None = None

    # a stage -----------------------------------------------------------------
    def stage(self, name: str, total: int, unit: str) -> None:
        """Start ``name`` (ending the stage before it) at 0 of ``total`` ``unit``."""
        self.end()
        with self._lock:
            self._stage, self._done, self._note = (name, max(total, 0), unit), 0, ""
            self._started = self._printed = time.monotonic()
            if self.mode == "bar":
                from tqdm import tqdm

                # leave=False: the command's own summary line replaces the finished bar
                self._bar = tqdm(
                    total=total,
                    desc=name,
                    unit=f" {unit}",
                    file=self.stream,
                    leave=False,
                    dynamic_ncols=True,
                    mininterval=0.2,
                    bar_format=_BAR,
                )
        if self.mode != "off" and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="zhili-progress", daemon=True)
            self._ticker.start()

    def update(self, done: int | None = None, *, note: str | None = None, name: str | None = None) -> None:
        """Move the current stage to ``done`` (absolute); ``note`` is shown after the count."""
        with self._lock:
            if self._stage is None:
                return
            if name is not None:
                self._stage = (name, *self._stage[1:])
            if done is not None:
                self._done = min(done, self._stage[1]) if self._stage[1] else done
            if note is not None:
                self._note = note
            if self._bar is not None:
                if name is not None:
                    self._bar.set_description_str(name, refresh=False)
                if note is not None:
                    self._bar.set_postfix_str(note, refresh=False)
                self._bar.update(self._done - self._bar.n)
            elif self.mode == "plain" and time.monotonic() - self._printed >= self.every:
                self._line()

    def end(self) -> None:
        """Finish the current stage: a bar is removed, a plain line says where it ended."""
        with self._lock:
            if self._stage is None:
                return
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            elif self.mode == "plain":
                self._line(final=True)
            self._stage = None

    def write(self, line: str, *, file: TextIO | None = None) -> None:
        """Print ``line`` (to stdout by default) without tearing a bar that is on screen."""
        with self._lock:
            if self._bar is not None:
                # tqdm.write only clears bars drawn on sys.stdout/sys.stderr; ours is on a copy of stderr
                self._bar.clear()
                print(line, file=file or sys.stdout, flush=True)
                self._bar.refresh()
            else:
                print(line, file=file or sys.stdout, flush=True)

    def close(self) -> None:
        self.end()
        self._halt.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self._owns_stream:
            self.stream.close()
            self._owns_stream = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # output ------------------------------------------------------------------
    def _line(self, final: bool = False) -> None:
        name, total, unit = self._stage
        count = f"{self._done}/{total}" if total else f"{self._done}"
        note = f", {self._note}" if self._note else ""
        took = time.monotonic() - self._started
        print(
            f"{self.prefix}: {name} {count} {unit}{note} ({took:.1f} s{'' if final else ' so far'})",
            file=self.stream,
            flush=True,
        )
        self._printed = time.monotonic()

    def _tick(self) -> None:
        # a long step with nothing to count (dbt's linkage, a big workbook) still shows it is alive
        while not self._halt.wait(min(self.every, 1.0)):
            with self._lock:
                if self._stage is None:
                    continue
                if self._bar is not None:
                    self._bar.refresh()
                elif self.mode == "plain" and time.monotonic() - self._printed >= self.every:
                    self._line()


_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}{postfix}]"


def _own_stderr() -> TextIO:
    """A private copy of stderr: Dagster redirects fd 2 into its compute logs while a step runs."""
    try:
        return os.fdopen(
            os.dup(sys.stderr.fileno()), "w", buffering=1, encoding=sys.stderr.encoding, errors="replace", closefd=True
        )
    except (AttributeError, OSError, ValueError):  # stderr replaced by an object without a descriptor
        return sys.stderr


def isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for a stream without a descriptor)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class NoProgress:
    """Progress that shows nothing (a run called without a display)."""

    def stage(self, name: str, total: int, unit: str) -> None: ...
    def update(self, done: int | None = None, *, note: str | None = None, name: str | None = None) -> None: ...
    def end(self) -> None: ...


class RunWatch(logging.Handler):
    """Receives the Dagster log records of zhili's in-process runs and hands them to ``listener``.

    Only the step key, the event type and the message's leading verb are looked at; nothing is kept.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.listener: Callable[[str, str, str], None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        if not meta or self.listener is None:
            return
        event = meta.get("dagster_event")
        try:
            self.listener(
                meta.get("step_key") or "",
                event.event_type_value if event is not None else "",
                meta.get("orig_message") or "",
            )
        except Exception:  # a broken display must not fail the step that logged; stop updating it instead
            self.listener = None
            logging.getLogger(__name__).debug("progress display stopped", exc_info=True)


@contextlib.contextmanager
def watching(instance, watch: RunWatch):
    """Add ``watch`` to the handlers the instance gives each run's log manager (this instance only)."""
    original = instance.get_handlers
    instance.get_handlers = lambda: [*original(), watch]
    try:
        yield
    finally:
        del instance.get_handlers


_FILE_DONE = re.compile(r"^(?:(?:rejected|duplicate|empty): |(?:loaded|held) )")


def feed_listener(progress, feed: str):
    """Counts a feed's files as its raw step stages them and its normalised step accounts for them."""
    counts = {"staged": 0, "done": 0}

    def listener(step: str, event: str, message: str) -> None:
        if event:
            return
        if message.startswith("staged "):
            counts["staged"] += 1
        elif _FILE_DONE.match(message):
            counts["done"] += 1
        else:
            return
        progress.update(counts["done"], note=f"{counts['staged']} staged")

    return listener


def warehouse_listener(progress, models: int):
    """Moves the warehouse stage through linkage (0), dbt build (1, counting ``models``) and publish (2),
    one Dagster step each (``person_links``, the dbt step, ``serving_zhili``)."""
    built = {"n": 0}

    def listener(step: str, event: str, message: str) -> None:
        if event == "STEP_START":
            if "serving" in step:
                progress.update(2, name="warehouse: publish", note="serving snapshot")
            elif "person_links" in step:
                progress.update(0, name="warehouse: linkage", note="")
            else:
                progress.update(1, name="warehouse: dbt build", note=f"0/{models} models")
        elif event == "ASSET_MATERIALIZATION" and "serving" not in step and "person_links" not in step:
            built["n"] += 1
            progress.update(1, name="warehouse: dbt build", note=f"{built['n']}/{models} models")

    return listener
