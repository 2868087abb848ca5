"""Great Expectations as the gate between a delivered file and the normalised zone.

:func:`gx_gate` adapts :func:`expectations.validate` to the pipeline's gate
(``(table, frame, label) -> GateVerdict``); :func:`check_result` turns the
verdicts of one run into the blocking ``gx_<feed>`` asset check. Failures are
named by expectation, column, row count and record locators, never by value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from ingestion.pipeline import GateVerdict

__all__ = ["GateLog", "gx_gate", "check_name", "check_spec", "check_result", "failure_lines"]

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


def gx_gate(docs_dir: Path, log: GateLog):
    """A pipeline gate that validates with GX, writes the HTML page and remembers the verdict."""
    from expectations import validate

    def gate(table: str, frame, label: str) -> GateVerdict:
        safe = _UNSAFE.sub("_", label).lstrip(".-")[:150] or table
        validation = validate(table, frame, docs_dir=docs_dir, label=safe)
        lines = failure_lines(validation)
        summary = "passed" if validation.success else f"GX suite {table} failed: " + "; ".join(lines)
        verdict = GateVerdict(passed=bool(validation.success), summary=summary, detail=validation)
        log.verdicts[label] = verdict
        return verdict

    return gate


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
        metadata["validation_report"] = dg.MetadataValue.path(str(reports[0]))
        if len(reports) > 1:
            metadata["validation_reports"] = dg.MetadataValue.md("\n".join(f"* `{p}`" for p in reports[:50]))
    if failed:
        metadata["held_files"] = dg.MetadataValue.md("\n".join(f"* {k}: {v.summary}" for k, v in failed.items()))
    return dg.AssetCheckResult(
        check_name=check_name(feed),
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=None if not failed else f"{len(failed)} of {len(log.verdicts)} files held: " + "; ".join(
            v.summary for v in list(failed.values())[:3]
        ),
    )
