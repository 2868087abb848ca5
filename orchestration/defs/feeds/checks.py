"""Great Expectations as the gate between a delivered file and the normalised zone.

:func:`gx_gate` adapts :func:`expectations.validate` to the pipeline's gate
(``(table, frame, label) -> GateVerdict``), one file per GX run;
:class:`GateBatch` gates the files of one asset run in shared GX runs
(:func:`expectations.validate_many`), with the same verdict per file.
:func:`check_result` turns the verdicts of one run into the blocking
``gx_<feed>`` asset check. Failures are named by expectation, column, row
count and record locators, never by value.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from ingestion.pipeline import Gate, GateVerdict
from orchestration.lib.labels import readable

__all__ = ["GateBatch", "GateLog", "gx_gate", "check_name", "check_spec", "check_result", "failure_lines"]

_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")


def check_name(feed: str) -> str:
    return f"gx_{feed}"


def check_spec(feed: str, asset_key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        check_name(feed),
        asset=asset_key,
        blocking=True,
        description=(
            f"Great Expectations suite of {feed} on every delivered file of the run: schema and types, "
            "required fields, code tables, ID-validity and grid-placement rates, date window, keys unique "
            "within the file. A failing file is held out of the normalised zone and stops what is downstream."
        ),
    )


def failure_lines(validation) -> list[str]:
    """One line per failed expectation: what, where, how many rows, sample locators (never values)."""
    lines = []
    for f in validation.failures:
        what = f"{f.expectation}({f.column})" if f.column else f.expectation
        count = f"{f.unexpected_count} rows" if f.unexpected_count is not None else (f.detail or "not evaluable")
        if f.unexpected_percent is not None:
            count += f" ({f.unexpected_percent:.1f}%)"
        sample = f" e.g. {', '.join(f.sample_locators[:3])}" if f.sample_locators else ""
        lines.append(f"{what}: {count}{sample}")
    return lines


@dataclass
class GateLog:
    """The verdicts of one run, keyed by the file they judged (``<folder>/<name>``)."""

    verdicts: dict[str, GateVerdict] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts.values())

    @property
    def seconds(self) -> float:
        return sum(getattr(v.detail, "seconds", 0.0) or 0.0 for v in self.verdicts.values())


def _page_label(table: str, label: str) -> str:
    return _UNSAFE.sub("_", label).lstrip(".-")[:150] or table


def _verdict(table: str, validation) -> GateVerdict:
    lines = failure_lines(validation)
    summary = "passed" if validation.success else f"GX suite {table} failed: " + "; ".join(lines)
    return GateVerdict(passed=bool(validation.success), summary=summary, detail=validation)


def gx_gate(docs_dir: Path, log: GateLog) -> Gate:
    """A pipeline gate that validates with GX, writes the HTML page and remembers the verdict."""
    from expectations import validate

    def gate(table: str, frame, label: str) -> GateVerdict:
        validation = validate(table, frame, docs_dir=docs_dir, label=_page_label(table, label))
        verdict = log.verdicts[label] = _verdict(table, validation)
        return verdict

    return gate


class _Abandoned(BaseException):
    """Raised at the gate of a parked file when its batch is given up: it unwinds without writing.

    A BaseException, like GeneratorExit, so that no ``except Exception`` on the way records it as the file's fault.
    """


@dataclass
class _Job:
    key: str
    work: Callable[[Gate], Any]
    stopped: threading.Event = field(default_factory=threading.Event)  # parked at the gate, or ended
    resume: threading.Event = field(default_factory=threading.Event)
    gated: tuple[str, Any, str] | None = None  # (table, frame, label) while parked
    verdict: GateVerdict | None = None
    abandon: bool = False
    ended: bool = False
    result: Any = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def wait_stopped(self) -> None:
        self.stopped.wait()
        if self.ended and self.thread is not None:
            self.thread.join()


class GateBatch:
    """Gates the files of one run in shared GX runs, each file still judged (and held) on its own.

    :func:`ingestion.pipeline.normalise_staged` calls its gate and then writes
    the file where the verdict says (normalised/ or held/). To let several files
    share one GX run (:func:`expectations.validate_many`: ~0.03 s a small file
    instead of ~0.7 s) without changing that, :meth:`submit` runs each file's
    work in a thread of its own until it reaches the gate, where it parks; once
    ``max_rows`` normalised rows or ``max_files`` files wait (and at
    :meth:`close`) they are validated together and resumed one by one, in the
    order submitted, each finishing its writes before the next resumes. Only one
    thread runs at a time: the threads are a way to pause a call at its gate, not
    concurrency. Leaving the ``with`` block on an error unwinds the parked files
    at their gate (:class:`_Abandoned`): they write nothing and the next run
    picks them up again, as if the run had stopped before them.
    """

    def __init__(self, docs_dir: Path, log: GateLog, *, max_rows: int | None = None, max_files: int = 64) -> None:
        from expectations import BATCH_ROWS

        self.docs_dir = Path(docs_dir)
        self.log = log
        self.max_rows = BATCH_ROWS if max_rows is None else max_rows
        self.max_files = max_files
        self._parked: list[_Job] = []

    def __enter__(self) -> GateBatch:
        return self

    def __exit__(self, kind, value, tb) -> None:
        self._abandon()  # anything still parked: on an error, or if close() was not reached

    def submit(self, key: str, work: Callable[[Gate], Any]) -> list[tuple[str, Any]]:
        """Run ``work(gate)`` up to its gate; returns the ``(key, result)`` of every job that finished meanwhile."""
        job = _Job(key, work)
        job.thread = threading.Thread(target=self._body, args=(job,), name=f"gx-gate {key}", daemon=True)
        job.thread.start()
        job.wait_stopped()
        if job.ended:
            done = self._flush()  # it never reached a gate (or failed before it): finish those waiting
            if job.error is not None:
                raise job.error
            return [*done, (job.key, job.result)]
        self._parked.append(job)
        rows = sum(j.gated[1].height for j in self._parked)
        if rows >= self.max_rows or len(self._parked) >= self.max_files:
            return self._flush()
        return []

    def close(self) -> list[tuple[str, Any]]:
        """Validate and finish the files still waiting at the gate."""
        return self._flush()

    def _body(self, job: _Job) -> None:
        def gate(table: str, frame, label: str) -> GateVerdict:
            if job.resume.is_set():
                raise RuntimeError(f"{job.key}: the gate of a batched file can be passed once")
            job.gated = (table, frame, label)
            job.stopped.set()
            job.resume.wait()
            job.gated = None
            if job.abandon:
                raise _Abandoned(job.key)
            assert job.verdict is not None
            return job.verdict

        try:
            job.result = job.work(gate)
        except BaseException as err:  # handed to the caller's thread, raised there
            job.error = err
        finally:
            job.ended = True
            job.stopped.set()

    def _flush(self) -> list[tuple[str, Any]]:
        from expectations import validate_many

        jobs, self._parked = self._parked, []
        if not jobs:
            return []
        try:
            by_table: dict[str, list[_Job]] = {}
            for job in jobs:
                by_table.setdefault(job.gated[0], []).append(job)
            for table, group in by_table.items():
                items = [(j.gated[1], _page_label(table, j.gated[2])) for j in group]
                for job, validation in zip(group, validate_many(table, items, docs_dir=self.docs_dir), strict=True):
                    job.verdict = _verdict(table, validation)
            for job in jobs:  # in order, as validated one by one
                self.log.verdicts[job.gated[2]] = job.verdict
            done = []
            while jobs:
                job = jobs.pop(0)
                job.stopped.clear()
                job.resume.set()
                job.wait_stopped()  # a second gate raises in the worker: it always ends here
                if job.error is not None:
                    raise job.error
                done.append((job.key, job.result))
            return done
        except BaseException:
            self._parked = jobs + self._parked
            self._abandon()
            raise

    def _abandon(self) -> None:
        jobs, self._parked = self._parked, []
        for job in jobs:
            job.abandon = True
            job.stopped.clear()
            job.resume.set()
            job.wait_stopped()


def check_result(feed: str, log: GateLog) -> dg.AssetCheckResult:
    """The ``gx_<feed>`` check over every file this run validated (passes when none needed it)."""
    failed = {k: v for k, v in log.verdicts.items() if not v.passed}
    metadata: dict[str, object] = {
        "files_validated": len(log.verdicts),
        "files_failed": len(failed),
        "gx_seconds": round(log.seconds, 3),
    }
    rows = []
    for label, verdict in log.verdicts.items():
        v = verdict.detail
        for f in getattr(v, "failures", []):
            rows.append(
                f"| {label} | {f.expectation} | {f.column or ''} | {f.unexpected_count if f.unexpected_count is not None else ''} "
                f"| {', '.join(f.sample_locators[:5])} |"
            )
    if rows:
        metadata["failed_expectations"] = dg.MetadataValue.md(
            "| file | expectation | column | unexpected rows | sample locators |\n|---|---|---|---|---|\n" + "\n".join(rows)
        )
        metadata["unexpected_rows"] = sum(
            f.unexpected_count or 0 for v in failed.values() for f in getattr(v.detail, "failures", [])
        )
    reports = [getattr(v.detail, "html_path", None) for v in (failed or log.verdicts).values()]
    reports = [p for p in reports if p]
    if reports:
        # links the browser opens on the machine that holds the home (file://); the path is in the link's text
        metadata["validation_report"] = dg.MetadataValue.url(Path(reports[0]).absolute().as_uri())
        if len(reports) > 1:
            metadata["validation_reports"] = dg.MetadataValue.md(
                "\n".join(f"* [{Path(p).name}]({Path(p).absolute().as_uri()})" for p in reports[:50]))
    if failed:
        metadata["held_files"] = dg.MetadataValue.md("\n".join(f"* {k}: {v.summary}" for k, v in failed.items()))
    return dg.AssetCheckResult(
        check_name=check_name(feed),
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=readable(metadata),
        description=None if not failed else f"{len(failed)} of {len(log.verdicts)} files held: " + "; ".join(
            v.summary for v in list(failed.values())[:3]
        ),
    )
