"""The GX gate between a normalised file and the zones, one file or a batch of files at a time; no Dagster.

A file is normalised (:func:`ingestion.normalising.normalise_file`), judged, then
committed with its verdict (:func:`ingestion.normalising.commit`). This module
owns the judging:

* :func:`gx_gate`: a pipeline gate ``(table, frame, label) -> GateVerdict`` that
  validates one file per GX run;
* :class:`GateBatch`: files of one run wait, normalised, until ``max_rows``
  rows or ``max_files`` files are there (or :meth:`GateBatch.close`), are
  validated together (:func:`expectations.validate_many`: ~0.03 s a small file
  instead of ~0.7 s), then committed one by one in the order submitted, each
  with its own verdict;
* :class:`GateLog`: the verdicts of one run, by the file they judged.

Failures are named by expectation, column, row count and record locators,
never by value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from ingestion.normalising import Gate, GateVerdict

__all__ = ["GateBatch", "GateLog", "Gated", "failure_lines", "gx_gate", "page_label", "verdict_of"]

_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")


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


def page_label(table: str, label: str) -> str:
    """The name of a file's validation page: its label without path separators or control characters."""
    return _UNSAFE.sub("_", label).lstrip(".-")[:150] or table


def verdict_of(table: str, validation) -> GateVerdict:
    from expectations.runner import suite_digest

    lines = failure_lines(validation)
    summary = "passed" if validation.success else f"GX suite {table} failed: " + "; ".join(lines)
    return GateVerdict(passed=bool(validation.success), summary=summary, detail=validation, suite=suite_digest(table))


def _trusted(table: str, judge: pl.Series | None, judged_under: str | None) -> pl.Series | None:
    """``judge`` when the snapshot before was passed by today's suite of ``table``; else None (every row)."""
    from expectations.runner import suite_digest

    return judge if judge is not None and judged_under == suite_digest(table) else None


@dataclass
class GateLog:
    """The verdicts of one run, keyed by the file they judged (``<folder>_<name>``)."""

    verdicts: dict[str, GateVerdict] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts.values())

    @property
    def seconds(self) -> float:
        return sum(getattr(v.detail, "seconds", 0.0) or 0.0 for v in self.verdicts.values())


def gx_gate(docs_dir: Path, log: GateLog) -> Gate:
    """A pipeline gate that validates with GX, writes the HTML page and remembers the verdict."""
    from expectations import validate, validate_many

    def gate(
        table: str, frame, label: str, judge: pl.Series | None = None, judged_under: str | None = None
    ) -> GateVerdict:
        judge = _trusted(table, judge, judged_under)
        if judge is None:
            validation = validate(table, frame, docs_dir=docs_dir, label=page_label(table, label))
        else:  # a versioned snapshot: row rules on its new and changed rows (expectations.runner._on_changes)
            validation = validate_many(table, [(frame, page_label(table, label))], docs_dir=docs_dir, judge=[judge])[0]
        verdict = log.verdicts[label] = verdict_of(table, validation)
        return verdict

    gate.judges_changes = True  # ingestion.normalising passes it a snapshot's ``judge``
    return gate


class Gated(Protocol):
    """What a file brings to the gate (:class:`ingestion.normalising.Normalising` is one)."""

    table: str
    frame: pl.DataFrame
    label: str
    #: optional: a versioned snapshot's new and changed rows (the rest need no row rule); None: every row
    #: judge: pl.Series | None
    #: optional, with judge: the suite digest that passed the snapshot before; judge is used only under it
    #: judged_under: str | None


@dataclass
class _Waiting:
    key: str
    gated: Gated
    commit: Callable[[GateVerdict], Any]


class GateBatch:
    """Gates the files of one run in shared GX runs, each file still judged, and committed, on its own.

    :meth:`submit` takes a file's key and a ``prepare`` callable that normalises it and returns
    ``(gated, commit)``: the rows to judge and what writes them with a verdict. Files wait until the batch is
    full, are validated together, then committed in the order submitted. A file that fails to prepare lets
    the files waiting before it be validated and committed, then its error is raised. Leaving the ``with``
    block on an error drops the waiting files without committing them: the next run picks them up again,
    as if the run had stopped before them.
    """

    def __init__(self, docs_dir: Path, log: GateLog, *, max_rows: int | None = None, max_files: int = 64) -> None:
        from expectations import BATCH_ROWS

        self.docs_dir = Path(docs_dir)
        self.log = log
        self.max_rows = BATCH_ROWS if max_rows is None else max_rows
        self.max_files = max_files
        self._waiting: list[_Waiting] = []

    def __enter__(self) -> GateBatch:
        return self

    def __exit__(self, kind, value, tb) -> None:
        self._waiting = []  # anything still waiting (an error, or close() not reached) is not committed

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def submit(
        self, key: str, prepare: Callable[[], tuple[Gated, Callable[[GateVerdict], Any]]]
    ) -> list[tuple[str, Any]]:
        """Prepare one file and queue it; returns the ``(key, commit result)`` of every file committed meanwhile."""
        try:
            gated, commit = prepare()
        except BaseException:
            self._flush()  # the files before it are whole: commit them, then report this one's error
            raise
        self._waiting.append(_Waiting(key, gated, commit))
        rows = sum(w.gated.frame.height for w in self._waiting)
        if rows >= self.max_rows or len(self._waiting) >= self.max_files:
            return self._flush()
        return []

    def close(self) -> list[tuple[str, Any]]:
        """Validate and commit the files still waiting."""
        return self._flush()

    def _flush(self) -> list[tuple[str, Any]]:
        from expectations import validate_many

        waiting, self._waiting = self._waiting, []
        if not waiting:
            return []
        verdicts: dict[int, GateVerdict] = {}
        by_table: dict[str, list[int]] = {}
        for i, w in enumerate(waiting):
            by_table.setdefault(w.gated.table, []).append(i)
        for table, group in by_table.items():
            items = [(waiting[i].gated.frame, page_label(table, waiting[i].gated.label)) for i in group]
            judge = [
                _trusted(
                    table, getattr(waiting[i].gated, "judge", None), getattr(waiting[i].gated, "judged_under", None)
                )
                for i in group
            ]
            validations = validate_many(table, items, docs_dir=self.docs_dir, judge=judge)
            for i, validation in zip(group, validations, strict=True):
                verdicts[i] = verdict_of(table, validation)
        for i, w in enumerate(waiting):  # in order, as validated one by one
            self.log.verdicts[w.gated.label] = verdicts[i]
        return [(w.key, w.commit(verdicts[i])) for i, w in enumerate(waiting)]
