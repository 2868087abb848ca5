"""The blocking ``gx_<feed>`` asset check: its spec, and its result from the verdicts of one run.

The gate itself (GX validation of each file, alone or in a batch of files that
share GX runs, and the verdicts it remembers) is :mod:`expectations.gate`;
this module only says it in Dagster's terms. Failures are named by
expectation, column, row count and record locators, never by value.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from orchestration.lib.labels import readable

if TYPE_CHECKING:  # importing expectations loads pandas: the code location imports this module, a run gates
    from expectations.gate import GateLog

__all__ = ["check_name", "check_spec", "check_result"]


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
            "| file | expectation | column | unexpected rows | sample locators |\n|---|---|---|---|---|\n"
            + "\n".join(rows)
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
                "\n".join(f"* [{Path(p).name}]({Path(p).absolute().as_uri()})" for p in reports[:50])
            )
    if failed:
        metadata["held_files"] = dg.MetadataValue.md("\n".join(f"* {k}: {v.summary}" for k, v in failed.items()))
    return dg.AssetCheckResult(
        check_name=check_name(feed),
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=readable(metadata),
        description=None
        if not failed
        else f"{len(failed)} of {len(log.verdicts)} files held: "
        + "; ".join(v.summary for v in list(failed.values())[:3]),
    )
