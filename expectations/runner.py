"""Run a table's suite on one delivery file's normalised rows.

:func:`validate` converts the Polars frame to pandas (one route,
:func:`expectations.suites.to_pandas`), runs the table's suite in an
ephemeral GX context, and returns a :class:`Validation`: counts, failing
expectations and *where* they failed (record locators such as
``JQ_20240611.csv#record 12`` or ``花名册_202411.xlsx!城乡低保#row 7``),
never the failing values: even masked names and birth dates are personal.

It also writes one HTML page per validation, ``docs_dir/<table>/<label>.html``,
and refreshes ``docs_dir/index.html``. The page is rendered here from the
validation result, not by GX Data Docs: Data Docs needs a file-backed context
(GX config and stores on disk) and shows sample unexpected values, which is
exactly what must not leave the restricted zone.

:func:`validate_many` validates several files of one table at the cost of
about one: GX's cost is mostly a fixed ~0.5-0.8 s per run (it builds a metric
graph for each of the suite's ~80 expectations), whatever the row count. It
concatenates files whose pandas columns and dtypes are identical, runs the
whole suite once with every unexpected row's index, and then re-runs GX on a
file alone, for just the expectations that found an unexpected row in it (or
that failed, or could not be split by row). Every other expectation passes
on that file exactly as it would alone: a row-wise rule's verdict on a row
does not depend on the other rows, a compound key duplicated within a file is
still duplicated in a superset of its rows, and a schema rule depends only on
the column names and dtypes the group shares. So each file's verdict, counts,
percentages and sample locators are those GX gives the file alone.

One GX context per process, built on first use (GX takes seconds to import)
and guarded by a lock: GX contexts are not safe to share between threads.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import html
import json
import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from expectations import overhead
from expectations.suites import BUILDERS, DERIVED, to_pandas
from ingestion.schemas import SCHEMAS
from ingestion.zones import write_text_atomic

__all__ = [
    "Failure",
    "Validation",
    "ValidationError",
    "validate",
    "validate_many",
    "suite_digest",
    "suite_for",
    "SAMPLE_LOCATORS",
    "BATCH_ROWS",
]

logger = logging.getLogger(__name__)

#: Failing rows named per failed expectation (GX's partial_unexpected_count).
SAMPLE_LOCATORS = 10
_LOCATOR_COLUMNS = ("file", "sheet", "record_no", "member_no")
_LABEL_RE = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,150}$")
_MARKER = "zhili-validation"


class ValidationError(ValueError):
    """:func:`validate` was called with a table or label it cannot use."""


@dataclass(frozen=True)
class Failure:
    """One failed expectation: what, on which column(s), how often and where."""

    expectation: str
    column: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    sample_locators: list[str]
    #: the rule in words, as the suite states it (thresholds included)
    description: str | None = None
    #: for table-level or unevaluable expectations: missing/unexpected column
    #: names, an observed type, or why GX could not evaluate it
    detail: str | None = None


@dataclass(frozen=True)
class Validation:
    suite: str
    success: bool
    failures: list[Failure]
    evaluated: int
    html_path: Path
    #: this file's share of the gate's wall time: its conversion and re-checks
    #: plus an equal share of the GX run it was batched in
    seconds: float
    rows: int
    #: how many files shared its GX run (1: validated alone)
    batched: int = 1
    #: rows the row rules ran on: all of them, or a versioned snapshot's new and changed rows
    #: (:func:`validate_many`'s ``judge``); None: all
    judged_rows: int | None = None


@dataclass
class _Outcome:
    """Every evaluated expectation, for the HTML page."""

    expectation: str
    column: str | None
    kwargs: dict[str, Any]
    description: str | None
    success: bool
    failure: Failure | None


# --------------------------------------------------------------------------
# The process-wide GX state
# --------------------------------------------------------------------------


@dataclass
class _Engine:
    context: Any
    batch_definition: Any
    suites: dict[str, Any] = field(default_factory=dict)
    subsuites: dict[tuple[str, frozenset[str]], Any] = field(default_factory=dict)


_engine: _Engine | None = None
_lock = threading.RLock()


def _get_engine() -> _Engine:
    global _engine
    if _engine is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        started = time.perf_counter()
        _skip_batch_fingerprint()
        overhead.install()
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,  # no network calls from the pipeline
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        asset = context.data_sources.add_pandas("zhili").add_dataframe_asset("normalised")
        batch_definition = asset.add_batch_definition_whole_dataframe("delivery_file")
        _engine = _Engine(context, batch_definition)
        logger.info("GX context ready in %.1f s", time.perf_counter() - started)
    return _engine


def _skip_batch_fingerprint() -> None:
    """Stop GX hashing every cell of each frame into a batch marker nothing here reads.

    GX's pandas engine md5s ``hash_pandas_object`` of a batch under 1 GB
    (``HASH_THRESHOLD``) just to label it: ~1.4 s per 1M-row register
    snapshot, twice per validation. The threshold at 0 skips the label only.
    """
    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0


def _suite(table: str) -> Any:
    """The table's suite, built and registered in the context once."""
    engine = _get_engine()
    if table not in engine.suites:
        from expectations.suites import build_suite

        engine.suites[table] = engine.context.suites.add(build_suite(table))
    return engine.suites[table]


def suite_for(table: str) -> Any:
    """The registered :class:`great_expectations.ExpectationSuite` of ``table`` (built once)."""
    _check_table(table)
    with _lock:
        return _suite(table)


@functools.cache
def suite_digest(table: str) -> str:
    """What judging ``table`` means today: its expectations' configurations and the code that applies them.

    A versioned snapshot judged by its changes trusts its unchanged rows to the snapshot before
    (ingestion.versions.judged_under); a new expectation, a changed threshold or a change in how rates and
    derived columns are computed changes this digest, and the next snapshot is judged on every row once.
    """
    from great_expectations import __version__ as gx_version

    # without the id the context gives each expectation when the suite is registered: new in every process
    configs = [
        {k: v for k, v in e.configuration.to_json_dict().items() if k != "id"} for e in suite_for(table).expectations
    ]
    h = hashlib.sha256(json.dumps(configs, sort_keys=True, default=str).encode())
    for module in ("suites.py", "runner.py", "overhead.py"):  # derived columns, rate noise, the aggregate shortcut
        h.update((Path(__file__).parent / module).read_bytes())
    h.update(gx_version.encode())
    return h.hexdigest()[:32]


#: A ``mostly`` rate is judged only over at least this many rows (daily files can hold two).
MIN_ROWS_FOR_RATES = 30
#: A rate below its floor fails only when it is below it beyond a file's sampling noise: the upper end of the
#: rate's Wilson score interval at this many standard errors (one-sided ~2 %) must lie under the floor. A daily
#: file of 82 calls of which 17 could not be placed (79 % against an 80 % floor) is a healthy day; 20 of 40
#: unplaced is a broken file, and so is a register of 100,000 rows at 79 %.
RATE_NOISE_Z = 2.0


def rate_upper_bound(good: int, n: int, z: float = RATE_NOISE_Z) -> float:
    """Upper end of the Wilson score interval of the rate ``good / n``."""
    p, z2 = good / n, z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z2 / n))


def _check_table(table: str) -> None:
    if table not in BUILDERS:
        raise ValidationError(f"table={table!r} has no suite; expected one of {sorted(BUILDERS)}")


# --------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------


def validate(table: str, frame: pl.DataFrame, *, docs_dir: Path, label: str) -> Validation:
    """Validate one file's normalised ``frame`` against the ``table`` suite.

    ``label`` names the HTML page (``docs_dir/<table>/<label>.html``); use the
    delivery file's name or another file-name-safe text. Frames are expected
    to follow :data:`ingestion.schemas.SCHEMAS`; a frame that does not is not
    an error here, it fails the schema expectations.
    """
    return validate_many(table, [(frame, label)], docs_dir=docs_dir)[0]


#: Rows validated together in one GX run at most (memory: the concatenated pandas frame).
BATCH_ROWS = 200_000
#: Expectations whose result depends only on the frame's column names and pandas dtypes.
_SCHEMA_ONLY = frozenset({"expect_table_columns_to_match_set", "expect_column_values_to_be_of_type"})
#: The batch's result format: every unexpected row's index, so rows can be traced to their file.
_SCREEN = {"result_format": "COMPLETE", "partial_unexpected_count": 0, "return_unexpected_index_query": False}


@dataclass
class _File:
    label: str
    frame: pl.DataFrame
    data: Any  # the pandas frame GX sees
    signature: tuple[tuple[str, str], ...]
    seconds: float = 0.0  # this file's own share: conversion, re-checks
    batched: int = 1


def validate_many(
    table: str,
    items: Sequence[tuple[pl.DataFrame, str]],
    *,
    docs_dir: Path,
    judge: Sequence[pl.Series | None] | None = None,
) -> list[Validation]:
    """Validate several files' normalised frames (``(frame, label)`` pairs) of ``table``.

    Returns one :class:`Validation` per item, in order, each exactly what
    :func:`validate` would return for that file alone (see the module
    docstring for why), and writes one page per file. Files are validated
    together in GX runs of at most :data:`BATCH_ROWS` rows; a file whose
    columns or dtypes differ from the others is validated alone.

    ``judge`` (per item, None: every row) marks a versioned snapshot's new and changed rows: its rates, keys,
    schema and locator are judged over the whole file from aggregates and its row rules on those rows only
    (:func:`_on_changes`); anything failing there is judged by GX on the whole file, as without ``judge``.
    """
    _check_table(table)
    for _, label in items:
        _check_label(label)
    judge = list(judge) if judge is not None else [None] * len(items)
    quick: dict[int, tuple[list[_Outcome], int, float, int]] = {}
    for i, ((frame, _), marks) in enumerate(zip(items, judge, strict=True)):
        if marks is not None and marks.len() == frame.height:
            done = _on_changes(table, frame, marks)
            if done is not None:
                quick[i] = done
    files: list[_File] = []
    slow: list[int] = []
    for i, (frame, label) in enumerate(items):
        if i in quick:
            continue
        slow.append(i)
        started = time.perf_counter()
        data = to_pandas(_with_derived(table, frame))
        signature = tuple((str(name), str(dtype)) for name, dtype in data.dtypes.items())
        files.append(_File(label, frame, data, signature, time.perf_counter() - started))
    results: dict[int, tuple[list[_Outcome], int]] = {}
    for group in _groups(files):
        if len(group) == 1:
            i = group[0]
            results[i] = _alone(table, files[i])
        else:
            results |= _together(table, [files[i] for i in group], group)
    results = {slow[i]: r for i, r in results.items()}
    by_item = dict(zip(slow, files, strict=True))
    out: list[Validation] = []
    docs = Path(docs_dir)
    for i, (frame, label) in enumerate(items):
        if i in quick:
            outcomes, evaluated, seconds, judged = quick[i]
            f = _File(label, frame, None, (), seconds)
        else:
            f, judged = by_item[i], None
            outcomes, evaluated = results[i]
        failures = [o.failure for o in outcomes if o.failure is not None]
        validation = Validation(
            suite=table,
            success=not failures,
            failures=failures,
            evaluated=evaluated,
            html_path=docs / table / f"{f.label}.html",
            seconds=f.seconds,
            rows=f.frame.height,
            batched=f.batched,
            judged_rows=judged,
        )
        _write_page(validation, outcomes, f.label)
        out.append(validation)
        logger.info(
            "suite %s on %s: %s, %d rows (row rules on %s), %d of %d expectations failed, %.2f s",
            table, f.label, "passed" if validation.success else "FAILED", validation.rows,
            "all" if judged is None else f"{judged} new or changed", len(failures), validation.evaluated, f.seconds,
        )  # fmt: skip
        f.data = None
    if files:
        _write_index(docs)
    return out


def _check_label(label: str) -> None:
    if not isinstance(label, str) or not _LABEL_RE.match(label) or label.startswith((".", "-")):
        raise ValidationError(
            f"label={label!r} should be a file-name-safe text of 1-150 characters "
            "(no path separator or control character, not starting with '.' or '-')"
        )


def _groups(files: list[_File]) -> list[list[int]]:
    """Indices of files validated together: same pandas columns and dtypes, at most BATCH_ROWS rows."""
    groups: list[list[int]] = []
    open_by_signature: dict[tuple, tuple[list[int], int]] = {}
    for i, f in enumerate(files):
        rows = len(f.data)
        current = open_by_signature.get(f.signature)
        if current is None or current[1] + rows > BATCH_ROWS:
            current = ([], 0)
            groups.append(current[0])
        current[0].append(i)
        open_by_signature[f.signature] = (current[0], current[1] + rows)
    return groups


def _run(data: Any, suite: Any, result_format: Any) -> Any:
    with _lock, overhead.one_run():
        # Batch.validate rather than ValidationDefinition.run: run() keeps every
        # result in the context's in-memory store, which grows with each file.
        batch = _get_engine().batch_definition.get_batch(batch_parameters={"dataframe": data})
        return batch.validate(suite, result_format=result_format)


#: A file's result format. Sample rows come back as row positions and are named from the Polars frame
#: (:func:`_locators`): with ``unexpected_index_column_names`` GX would look up those columns cell by cell in
#: Python for *every* unexpected row before keeping ten, ~40 % of a 1M-row register's validation.
_SUMMARY = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": SAMPLE_LOCATORS,
    "return_unexpected_index_query": False,
}


def _alone(table: str, f: _File) -> tuple[list[_Outcome], int]:
    """The whole suite on one file: GX's result as it is."""
    started = time.perf_counter()
    result = _run(f.data, suite_for(table), _SUMMARY)
    f.seconds += time.perf_counter() - started
    outcomes = [_outcome(r, f.frame) for r in result.results]
    return outcomes, int(result.statistics.get("evaluated_expectations", len(outcomes)))


def _together(table: str, files: list[_File], indices: list[int]) -> dict[int, tuple[list[_Outcome], int]]:
    """One GX run over the concatenated files, then each file's re-checks alone."""
    import pandas as pd

    started = time.perf_counter()
    data = pd.concat([f.data for f in files], ignore_index=True)
    if tuple((str(n), str(d)) for n, d in data.dtypes.items()) != files[0].signature:
        # cannot happen for identical dtypes; if pandas ever changes that, stay exact
        return {i: _alone(table, f) for i, f in zip(indices, files, strict=True)}
    suite = suite_for(table)
    result = _run(data, suite, _SCREEN)
    del data
    shared = (time.perf_counter() - started) / len(files)
    for f in files:
        f.seconds += shared
        f.batched = len(files)
    by_id = {r.expectation_config.id: r for r in result.results}
    if len(by_id) != len(result.results) or set(by_id) != {e.id for e in suite.expectations}:
        return {i: _alone(table, f) for i, f in zip(indices, files, strict=True)}
    ends = np.cumsum([len(f.data) for f in files])
    everyone = range(len(files))
    # per file: ids of the expectations it must be re-checked on, alone
    recheck: list[set[str]] = [set() for _ in files]
    for eid, r in by_id.items():
        res = dict(r.result or {})
        if _raised(r.exception_info):
            targets = everyone
        elif "unexpected_index_list" in res:
            found = _files_of(res, ends)
            targets = everyone if found is None else found
        elif r.success and r.expectation_config.type in _SCHEMA_ONLY:
            targets = ()
        else:
            targets = everyone
        for t in targets:
            recheck[t].add(eid)
    return {i: _with_rechecks(table, f, suite, by_id, ids) for i, f, ids in zip(indices, files, recheck, strict=True)}


def _files_of(res: dict[str, Any], ends: np.ndarray) -> set[int] | None:
    """Positions of the files holding the unexpected rows (None: cannot tell, so re-check every file)."""
    index = res.get("unexpected_index_list") or []
    count = res.get("unexpected_count")
    if count is not None and int(count) != len(index):
        return None
    if not index:
        return set()
    try:
        rows = np.asarray(index, dtype=np.int64)
    except (TypeError, ValueError):
        return None
    return set(np.searchsorted(ends, rows, side="right").tolist())


def _with_rechecks(
    table: str, f: _File, suite: Any, batch: dict[str, Any], ids: set[str]
) -> tuple[list[_Outcome], int]:
    """The file's outcomes: the batch's passes, and GX's verdict on the file alone for ``ids``."""
    if len(ids) * 2 > len(suite.expectations):
        return _alone(table, f)  # a file broken everywhere: the whole suite alone costs no more
    alone: dict[str, Any] = {}
    if ids:
        started = time.perf_counter()
        result = _run(f.data, _subsuite(table, suite, ids), _SUMMARY)
        f.seconds += time.perf_counter() - started
        alone = {r.expectation_config.id: r for r in result.results}
        if set(alone) != ids:
            return _alone(table, f)
    outcomes = []
    for eid, r in batch.items():  # GX's order of results (it sorts the suite), as a run alone gives
        if eid in ids:
            outcomes.append(_outcome(alone[eid], f.frame))
        else:
            config = r.expectation_config
            kwargs = {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"}
            outcomes.append(_Outcome(config.type, _columns_of(kwargs), kwargs, config.description, True, None))
    return outcomes, len(outcomes)


def _subsuite(table: str, suite: Any, ids: set[str]) -> Any:
    """An unsaved suite holding just the expectations ``ids`` of ``suite`` (built once per set)."""
    import great_expectations as gx

    key = (table, frozenset(ids))
    with _lock:
        engine = _get_engine()
        found = engine.subsuites.get(key)
        if found is None:
            if len(engine.subsuites) >= 256:
                engine.subsuites.clear()
            configs = [e.configuration for e in suite.expectations if e.id in ids]
            found = engine.subsuites[key] = gx.ExpectationSuite(name=table, expectations=configs)
        return found


def _with_derived(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    derived = DERIVED[table]
    if not derived:
        return frame
    base = (
        frame
        if frame.schema.get("data_date") == pl.Date
        else frame.with_columns(pl.lit(None, pl.Date).alias("data_date"))
    )
    return frame.hstack(base.select(list(derived.values())))


def _columns_of(kwargs: dict[str, Any]) -> str | None:
    if kwargs.get("column"):
        return str(kwargs["column"])
    if kwargs.get("column_list"):
        return ", ".join(kwargs["column_list"])
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    return None


def _outcome(r: Any, frame: pl.DataFrame) -> _Outcome:
    """GX's result for one expectation on ``frame`` (the file's rows, in the order GX saw them)."""
    present = frame.columns
    config = r.expectation_config
    kwargs = {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"}
    column = _columns_of(kwargs)
    if r.success:
        return _Outcome(config.type, column, kwargs, config.description, True, None)
    res = dict(r.result or {})
    mostly = kwargs.get("mostly")
    judged = res.get("element_count")
    if (
        mostly is not None
        and mostly < 1
        and judged is not None
        and int(judged) < MIN_ROWS_FOR_RATES
        and not _raised(r.exception_info)
    ):
        # a rate over a handful of rows is noise: one unplaced call in a two-call file is 50 %
        note = f"not judged: {int(judged)} rows < {MIN_ROWS_FOR_RATES} needed for a rate"
        return _Outcome(config.type, column, kwargs, f"{config.description or ''} ({note})", True, None)
    count, percent = res.get("unexpected_count"), res.get("unexpected_percent")
    if mostly is not None and mostly < 1 and count and percent and not _raised(r.exception_info):
        n = round(
            int(count) * 100 / float(percent)
        )  # the rows GX judged the rate over (non-null ones, as the case may be)
        upper = rate_upper_bound(n - int(count), n)
        if upper >= mostly:
            note = f"{1 - float(percent) / 100:.1%} of {n} rows is under the {mostly:.0%} floor only by sampling noise (could be up to {upper:.1%})"
            return _Outcome(config.type, column, kwargs, f"{config.description or ''} ({note})", True, None)
    detail = None
    if _raised(r.exception_info):
        named = [
            kwargs.get("column"),
            *(kwargs.get("column_list") or []),
            kwargs.get("column_A"),
            kwargs.get("column_B"),
        ]
        missing = [c for c in named if c and c not in present and not c.startswith("_")]
        # GX's exception text can quote data; only column names are reported.
        detail = f"missing column(s): {', '.join(missing)}" if missing else "GX could not evaluate this expectation"
    elif config.type == "expect_table_columns_to_match_set":
        mismatched = (res.get("details") or {}).get("mismatched") or {}
        parts = [f"{k}: {', '.join(map(str, v))}" for k, v in sorted(mismatched.items()) if v]
        detail = "; ".join(parts) or None
    elif config.type == "expect_column_values_to_be_of_type":
        detail = f"observed type {res.get('observed_value')}"
    failure = Failure(
        expectation=config.type,
        column=column,
        unexpected_count=None if count is None else int(count),
        unexpected_percent=None
        if percent is None or (isinstance(percent, float) and math.isnan(percent))
        else float(percent),
        sample_locators=_locators(frame, res.get("partial_unexpected_index_list") or []),
        description=config.description,
        detail=detail,
    )
    return _Outcome(config.type, column, kwargs, config.description, False, failure)


def _raised(info: Any) -> bool:
    """GX reports an exception flat, or nested per metric that failed to resolve."""
    if not isinstance(info, dict):
        return False
    if "raised_exception" in info:
        return bool(info["raised_exception"])
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        return not (value != value)  # NaN / NA
    except (TypeError, ValueError):
        return True


def _locators(frame: pl.DataFrame, index_list: list[Any]) -> list[str]:
    """Locator strings of the rows at GX's unexpected positions in ``frame`` (never their values)."""
    positions = [int(i) for i in index_list if isinstance(i, (int, np.integer)) and 0 <= int(i) < frame.height]
    columns = [c for c in _LOCATOR_COLUMNS if c in frame.columns]
    entries: list[Any] = frame[positions].select(columns).to_dicts() if columns else list(positions)
    out: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            text = f"frame row {entry}"
        elif not _present(entry.get("record_no")):
            continue
        else:
            file = entry.get("file") if _present(entry.get("file")) else "?"
            record = int(entry["record_no"])
            sheet = entry.get("sheet")
            text = f"{file}!{sheet}#row {record}" if _present(sheet) and sheet else f"{file}#record {record}"
            member = entry.get("member_no")
            if _present(member) and int(member) > 1:
                text += f" member {int(member)}"
        if text not in out:
            out.append(text)
    return out


# --------------------------------------------------------------------------
# A versioned snapshot: row rules on its new and changed rows only
# --------------------------------------------------------------------------

#: The locator columns: the reader's, per file, judged on every row (cheaply, from aggregates).
_FILE_COLUMNS = frozenset({"feed", "file", "file_md5", "sheet", "record_no", "member_no", "data_date"})


def _referenced(kwargs: dict[str, Any]) -> set[str]:
    named = [kwargs.get("column"), *(kwargs.get("column_list") or []), kwargs.get("column_A"), kwargs.get("column_B")]
    return {c for c in named if c}


def _whole_file(config: Any) -> bool:
    """An expectation judged over the whole file (schema, a rate, a key, the locator), not row by row."""
    kwargs = dict(config.kwargs)
    mostly = kwargs.get("mostly")
    return (
        config.type in _SCHEMA_ONLY
        or (mostly is not None and mostly < 1)
        or config.type == "expect_compound_columns_to_be_unique"
        or bool(_referenced(kwargs) & _FILE_COLUMNS)
    )


def _passes_on_aggregates(table: str, config: Any, frame: pl.DataFrame) -> bool:
    """True when the whole file certainly passes ``config``, from aggregates over its columns (polars); False
    when it may not or the rule is not one computed here: then GX judges the file as a whole, as always."""
    kwargs = dict(config.kwargs)
    kind, column, mostly = config.type, kwargs.get("column"), kwargs.get("mostly")
    if kind in _SCHEMA_ONLY:
        return dict(frame.schema) == dict(SCHEMAS[table])
    if kwargs.get("row_condition") is not None or (column is not None and column not in frame.columns):
        return False
    if kind == "expect_compound_columns_to_be_unique":
        cols = list(kwargs.get("column_list") or [])
        if kwargs.get("ignore_row_if", "all_values_are_missing") != "any_value_is_missing" or not cols:
            return False
        keyed = frame.select(cols).drop_nulls()
        return keyed.height == keyed.unique().height  # no duplicate at all passes any floor
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kwargs.get("column_A"), kwargs.get("column_B")
        if kwargs.get("ignore_row_if") != "either_value_is_missing" or a not in frame.columns or b not in frame.columns:
            return False
        both = frame.select(a, b).drop_nulls()
        if both.schema[a] != both.schema[b]:
            return False
        ok = (pl.col(a) >= pl.col(b)) if kwargs.get("or_equal") else (pl.col(a) > pl.col(b))
        bad, n = int(both.select((~ok).sum()).item()), both.height
        return bad == 0 or (mostly is not None and n > 0 and (n - bad) / n >= mostly)
    values = frame.get_column(column) if column is not None else None
    if values is None:
        return False
    present = values.drop_nulls()
    if kind == "expect_column_values_to_not_be_null":
        bad, n = values.null_count(), values.len()
    elif kind == "expect_column_values_to_be_in_set":
        bad, n = int((~present.is_in(list(kwargs["value_set"]))).sum()), present.len()
    elif kind == "expect_column_values_to_match_regex" and present.dtype == pl.String:
        bad, n = int((~present.str.contains(kwargs["regex"])).sum()), present.len()
    elif kind == "expect_column_values_to_be_between" and not kwargs.get("strict_min") and not kwargs.get("strict_max"):
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if not all(v is None or isinstance(v, (int, float)) for v in (low, high)) or not present.dtype.is_numeric():
            return False
        bad = int(((present < low) if low is not None else pl.repeat(False, present.len(), eager=True)).sum())
        bad += int((present > high).sum()) if high is not None else 0
        n = present.len()
    else:
        return False
    if bad == 0:
        return True
    return mostly is not None and n > 0 and (n - bad) / n >= mostly


def _on_changes(table: str, frame: pl.DataFrame, judge: pl.Series) -> tuple[list[_Outcome], int, float, int] | None:
    """A versioned snapshot's verdict from the whole file's aggregates and GX's row rules on the rows ``judge``
    marks (new and changed against the snapshot before, ingestion.versions): ``(outcomes, evaluated, seconds,
    rows judged)``, or None when anything fails or is not computed here (GX then judges the whole file, so a
    bad file's verdict is what it always was).

    Why the other rows need no row rule: each is, in every content column, a row of the snapshot before (or a
    value it carries from one), and that snapshot passed this gate (a held file is not in the versions); a row
    rule's verdict on a row depends on that row alone (a date rule on its data_date, which is later now).
    """
    started = time.perf_counter()
    suite = suite_for(table)
    configs = {e.id: e.configuration for e in suite.expectations}
    whole = {eid for eid, c in configs.items() if _whole_file(c)}
    if not all(_passes_on_aggregates(table, configs[eid], frame) for eid in whole):
        return None
    rows = frame.filter(judge)
    row_ids = set(configs) - whole
    if rows.height and row_ids:
        result = _run(to_pandas(_with_derived(table, rows)), _subsuite(table, suite, row_ids), _SUMMARY)
        if not result.success or {r.expectation_config.id for r in result.results} != row_ids:
            return None
    outcomes = []
    for config in configs.values():
        kwargs = {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"}
        outcomes.append(_Outcome(config.type, _columns_of(kwargs), kwargs, config.description, True, None))
    return outcomes, len(outcomes), time.perf_counter() - started, rows.height


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f3}tr.fail td{background:#fff0f0}.ok{color:#17702e;font-weight:bold}.bad{color:#b00020;font-weight:bold}
code{font-size:90%}ul{margin:0;padding-left:1.2em}.muted{color:#777}
"""


def _condition_text(c: Any) -> str:
    """A GX row condition (as its dict form) in words."""
    if not isinstance(c, dict):
        return str(c)
    kind = c.get("type")
    if kind in ("and", "or"):
        return f" {kind} ".join(_condition_text(x) for x in c.get("conditions", []))
    name = (c.get("column") or {}).get("name", "?")
    if kind == "nullity":
        return f"{name} is {'' if c.get('is_null') else 'not '}null"
    if kind == "comparison":
        param = c.get("parameter")
        shown = "[" + ", ".join(map(repr, param)) + "]" if isinstance(param, (list, tuple, set)) else repr(param)
        return f"{name} {c.get('operator')} {shown}"
    return str(c.get("pass_through_filter", c))


def _fmt_kwarg(key: str, value: Any) -> str:
    if key == "row_condition":
        value = _condition_text(value.dict() if hasattr(value, "dict") else value)
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value))
    return f"<code>{html.escape(key)}</code> = {html.escape(str(value))}"


def _status(ok: bool) -> str:
    return '<span class="ok">passed</span>' if ok else '<span class="bad">FAILED</span>'


def _write_page(v: Validation, outcomes: list[_Outcome], label: str) -> None:
    e = html.escape
    when = dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")
    rows = []
    for i, o in enumerate(outcomes, 1):
        f = o.failure
        shown = {k: val for k, val in o.kwargs.items() if k not in ("column", "column_list", "column_A", "column_B")}
        kw = "<br>".join(_fmt_kwarg(k, val) for k, val in shown.items() if val is not None)
        about = f'<br><span class="muted">{e(o.description)}</span>' if o.description else ""
        locs = "".join(f"<li><code>{e(s)}</code></li>" for s in (f.sample_locators if f else []))
        pct = "" if not f or f.unexpected_percent is None else f"{f.unexpected_percent:.2f}%"
        cnt = "" if not f or f.unexpected_count is None else str(f.unexpected_count)
        detail = f'<br><span class="muted">{e(f.detail)}</span>' if f and f.detail else ""
        rows.append(
            f'<tr class="{"ok" if o.success else "fail"}"><td>{i}</td><td><code>{e(o.expectation)}</code>{about}{detail}</td>'
            f"<td>{e(o.column or '(table)')}</td><td>{kw}</td><td>{_status(o.success)}</td>"
            f"<td>{cnt}</td><td>{pct}</td><td><ul>{locs}</ul></td></tr>"
        )
    failed = "".join(
        f"<li><code>{e(f.expectation)}</code> on <b>{e(f.column or '(table)')}</b>"
        f"{'' if f.unexpected_count is None else f': {f.unexpected_count} unexpected'}"
        f"{'' if not f.description else ' — ' + e(f.description)}</li>"
        for f in v.failures
    )
    shared = "" if v.batched == 1 else f" (its share of a GX run over {v.batched} files; results are this file's alone)"
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="{_MARKER}" content="suite={e(v.suite)};success={str(v.success).lower()};rows={v.rows};failed={len(v.failures)};when={e(when)}">
<title>{e(v.suite)} — {e(label)}: {"passed" if v.success else "FAILED"}</title><style>{_CSS}</style></head>
<body>
<p><a href="../index.html">all validations</a></p>
<h1>Suite <code>{e(v.suite)}</code> on {e(label)}: {_status(v.success)}</h1>
<p>{v.rows} rows{"" if v.judged_rows is None else f" (row rules on the {v.judged_rows} new or changed against the snapshot before; rates, keys and schema on all)"}; {v.evaluated} expectations evaluated, {len(v.failures)} failed; {v.seconds:.2f} s{shared}; validated {e(when)}.
Failing rows are named by their record locator (file, sheet, record or Excel row, member); values are never shown.</p>
{"<h2>Failed expectations</h2><ul>" + failed + "</ul>" if failed else ""}
<h2>All expectations</h2>
<table><thead><tr><th>#</th><th>expectation</th><th>column(s)</th><th>arguments</th><th>result</th>
<th>unexpected</th><th>%</th><th>sample locators</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""
    write_text_atomic(v.html_path, page)
    _page_meta.pop(v.html_path, None)  # read afresh by the next index


_META_RE = re.compile(rf'<meta name="{_MARKER}" content="([^"]*)">')


#: page path -> (mtime_ns, size, its marker's fields or None): pages are read once, not once per index
_page_meta: dict[Path, tuple[int, int, dict[str, str] | None]] = {}


def _meta_of(page: Path) -> dict[str, str] | None:
    try:
        stat = page.stat()
        cached = _page_meta.get(page)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        with page.open(encoding="utf-8") as handle:
            head = handle.read(2000)
    except OSError:
        return None
    m = _META_RE.search(head)
    meta = dict(part.split("=", 1) for part in html.unescape(m.group(1)).split(";") if "=" in part) if m else None
    with _lock:
        if len(_page_meta) > 100_000:
            _page_meta.clear()
        _page_meta[page] = (stat.st_mtime_ns, stat.st_size, meta)
    return meta


def _write_index(docs_dir: Path) -> None:
    e = html.escape
    items = []
    for page in sorted(docs_dir.glob("*/*.html")):
        meta = _meta_of(page)
        if meta is None:
            continue
        ok = meta.get("success") == "true"
        href = f"{page.parent.name}/{page.name}"
        items.append(
            f'<tr><td>{e(page.parent.name)}</td><td><a href="{e(href)}">{e(page.stem)}</a></td>'
            f"<td>{_status(ok)}</td><td>{e(meta.get('rows', ''))}</td><td>{e(meta.get('failed', ''))}</td>"
            f"<td>{e(meta.get('when', ''))}</td></tr>"
        )
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Zhili validations</title><style>{_CSS}</style></head>
<body><h1>Zhili — GX validations of normalised delivery files</h1>
<table><thead><tr><th>suite</th><th>file</th><th>result</th><th>rows</th><th>failed expectations</th><th>validated</th></tr></thead>
<tbody>
{chr(10).join(items)}
</tbody></table></body></html>
"""
    write_text_atomic(docs_dir / "index.html", page)
