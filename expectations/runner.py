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

One GX context per process, built on first use (GX takes seconds to import)
and guarded by a lock: GX contexts are not safe to share between threads.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from expectations.suites import BUILDERS, DERIVED, to_pandas

__all__ = ["Failure", "Validation", "ValidationError", "validate", "suite_for", "SAMPLE_LOCATORS"]

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
    seconds: float
    rows: int


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


#: A ``mostly`` rate is judged only over at least this many rows (daily files can hold two).
MIN_ROWS_FOR_RATES = 30


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
    _check_table(table)
    if not _LABEL_RE.match(label) or label.startswith((".", "-")):
        raise ValidationError(
            f"label={label!r} should be a file-name-safe text of 1-150 characters "
            "(no path separator or control character, not starting with '.' or '-')"
        )
    started = time.perf_counter()
    data = to_pandas(_with_derived(table, frame))
    index_columns = [c for c in _LOCATOR_COLUMNS if c in frame.columns]
    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": SAMPLE_LOCATORS,
        "unexpected_index_column_names": index_columns,
        "return_unexpected_index_query": False,
    }
    with _lock:
        # Batch.validate rather than ValidationDefinition.run: run() keeps every
        # result in the context's in-memory store, which grows with each file.
        batch = _get_engine().batch_definition.get_batch(batch_parameters={"dataframe": data})
        result = batch.validate(_suite(table), result_format=result_format)
    outcomes = [_outcome(r, frame.columns) for r in result.results]
    failures = [o.failure for o in outcomes if o.failure is not None]
    seconds = time.perf_counter() - started
    html_path = Path(docs_dir) / table / f"{label}.html"
    validation = Validation(
        suite=table,
        success=not failures,
        failures=failures,
        evaluated=int(result.statistics.get("evaluated_expectations", len(outcomes))),
        html_path=html_path,
        seconds=seconds,
        rows=frame.height,
    )
    _write_page(validation, outcomes, label)
    _write_index(Path(docs_dir))
    logger.info(
        "suite %s on %s: %s, %d rows, %d of %d expectations failed, %.2f s",
        table, label, "passed" if validation.success else "FAILED",
        validation.rows, len(failures), validation.evaluated, seconds,
    )  # fmt: skip
    return validation


def _with_derived(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    derived = DERIVED[table]
    if not derived:
        return frame
    base = frame if frame.schema.get("data_date") == pl.Date else frame.with_columns(pl.lit(None, pl.Date).alias("data_date"))
    return frame.hstack(base.select(list(derived.values())))


def _columns_of(kwargs: dict[str, Any]) -> str | None:
    if kwargs.get("column"):
        return str(kwargs["column"])
    if kwargs.get("column_list"):
        return ", ".join(kwargs["column_list"])
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    return None


def _outcome(r: Any, present: list[str]) -> _Outcome:
    config = r.expectation_config
    kwargs = {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"}
    column = _columns_of(kwargs)
    if r.success:
        return _Outcome(config.type, column, kwargs, config.description, True, None)
    res = dict(r.result or {})
    mostly = kwargs.get("mostly")
    judged = res.get("element_count")
    if mostly is not None and mostly < 1 and judged is not None and int(judged) < MIN_ROWS_FOR_RATES and not _raised(r.exception_info):
        # a rate over a handful of rows is noise: one unplaced call in a two-call file is 50 %
        note = f"not judged: {int(judged)} rows < {MIN_ROWS_FOR_RATES} needed for a rate"
        return _Outcome(config.type, column, kwargs, f"{config.description or ''} ({note})", True, None)
    detail = None
    if _raised(r.exception_info):
        named = [kwargs.get("column"), *(kwargs.get("column_list") or []), kwargs.get("column_A"), kwargs.get("column_B")]
        missing = [c for c in named if c and c not in present and not c.startswith("_")]
        # GX's exception text can quote data; only column names are reported.
        detail = f"missing column(s): {', '.join(missing)}" if missing else "GX could not evaluate this expectation"
    elif config.type == "expect_table_columns_to_match_set":
        mismatched = (res.get("details") or {}).get("mismatched") or {}
        parts = [f"{k}: {', '.join(map(str, v))}" for k, v in sorted(mismatched.items()) if v]
        detail = "; ".join(parts) or None
    elif config.type == "expect_column_values_to_be_of_type":
        detail = f"observed type {res.get('observed_value')}"
    count = res.get("unexpected_count")
    percent = res.get("unexpected_percent")
    failure = Failure(
        expectation=config.type,
        column=column,
        unexpected_count=None if count is None else int(count),
        unexpected_percent=None if percent is None or (isinstance(percent, float) and math.isnan(percent)) else float(percent),
        sample_locators=_locators(res.get("partial_unexpected_index_list") or []),
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


def _locators(index_list: list[Any]) -> list[str]:
    """Locator strings from GX's unexpected index entries, dropping the values GX adds."""
    out: list[str] = []
    for entry in index_list:
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
# HTML
# --------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f3}tr.fail td{background:#fff0f0}.ok{color:#17702e;font-weight:bold}.bad{color:#b00020;font-weight:bold}
code{font-size:90%}ul{margin:0;padding-left:1.2em}.muted{color:#777}
"""


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".html")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    when = dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")
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
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="{_MARKER}" content="suite={e(v.suite)};success={str(v.success).lower()};rows={v.rows};failed={len(v.failures)};when={e(when)}">
<title>{e(v.suite)} — {e(label)}: {"passed" if v.success else "FAILED"}</title><style>{_CSS}</style></head>
<body>
<p><a href="../index.html">all validations</a></p>
<h1>Suite <code>{e(v.suite)}</code> on {e(label)}: {_status(v.success)}</h1>
<p>{v.rows} rows; {v.evaluated} expectations evaluated, {len(v.failures)} failed; {v.seconds:.2f} s; validated {e(when)}.
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
    _atomic_write(v.html_path, page)


_META_RE = re.compile(rf'<meta name="{_MARKER}" content="([^"]*)">')


def _write_index(docs_dir: Path) -> None:
    e = html.escape
    items = []
    for page in sorted(docs_dir.glob("*/*.html")):
        try:
            head = page.read_text(encoding="utf-8")[:2000]
        except OSError:
            continue
        m = _META_RE.search(head)
        if not m:
            continue
        meta = dict(part.split("=", 1) for part in html.unescape(m.group(1)).split(";") if "=" in part)
        ok = meta.get("success") == "true"
        href = f"{page.parent.name}/{page.name}"
        items.append(
            f"<tr><td>{e(page.parent.name)}</td><td><a href=\"{e(href)}\">{e(page.stem)}</a></td>"
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
    _atomic_write(docs_dir / "index.html", page)
