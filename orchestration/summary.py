"""What a run reports and what ``zhili status`` shows: summary lines, the gates record, the status page.

:func:`summarise_outcomes` turns ledger rows into the lines that end ``zhili run`` (files by
status, records read = normalised + quarantined per feed, rejections, drift);
:func:`write_gates` / :func:`read_gates` keep the last run's gate results in
``Zones.gates_record`` for :func:`print_status`, which is ``zhili status``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime

import polars as pl

from ingestion.zones import Zones, write_text_atomic
from orchestration.settings import Settings

__all__ = ["Echo", "summarise_outcomes", "as_of_text", "write_gates", "read_gates", "print_status"]

Echo = Callable[[str], None]
#: files a summary line of repeated drift names before "and N more"
_NAMED = 3


def summarise_outcomes(outcomes: Iterable, echo: Echo) -> None:
    """Files by status; per feed records read = normalised + quarantined; rejections, drift."""
    outcomes = list(outcomes)
    by_status = Counter(o["status"] for o in outcomes)
    echo("files: " + (", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "nothing new"))
    per_feed: dict[str, list[int]] = {}
    for o in outcomes:
        if o["status"] not in ("loaded", "held"):
            continue
        t = per_feed.setdefault(o["feed"], [0, 0, 0, 0, 0])
        t[0] += 1
        t[1] += o["records_read"] or 0
        t[2] += o["rows_normalised"] or 0
        t[3] += o["rows_quarantined"] or 0
        t[4] += o["rows_skipped"] or 0
    for feed, (files, read, norm, quar, skip) in sorted(per_feed.items()):
        echo(
            f"  {feed:<18} {files:>4} files  {read:>9} records = {norm:>9} normalised + {quar:>6} quarantined"
            f"  ({skip} footer/empty rows skipped)"
        )
    unbalanced = [o for o in outcomes if o["status"] in ("loaded", "held") and not o["is_balanced"]]
    if unbalanced:
        echo(
            f"LEDGER DOES NOT BALANCE for {len(unbalanced)} files: "
            + ", ".join(f"{o['feed']}/{o['folder']}/{o['file']}" for o in unbalanced[:5])
        )
    for o in outcomes:
        if o["status"] in ("rejected", "refused", "duplicate"):
            echo(f"  {o['status']}: {o['message']}")
    # drift repeats file after file (a feed that added a column adds it to every delivery since): one line per
    # feed and kind, naming the first files; the ledger (ops.ops_ingest_ledger) names every one
    drift: dict[tuple[str, str], list[str]] = {}
    for o in outcomes:
        where = f"{o['feed']}/{o['folder']}/{o['file']}"
        if o["status"] in ("loaded", "held") and o["is_encoding_switched"]:
            drift.setdefault(
                (o["feed"], f"encoding differs from the feed's declared one: read as {o['encoding']}"), []
            ).append(where)
        cols = json.loads(o["unknown_columns"]) if o.get("unknown_columns") else []
        if cols:
            drift.setdefault((o["feed"], f"new columns: {', '.join(cols)}"), []).append(where)
    for (_, what), files in drift.items():
        files.sort()
        more = f" and {len(files) - _NAMED} more" if len(files) > _NAMED else ""
        echo(f"  {what} in {len(files)} file{'s' if len(files) > 1 else ''}: {', '.join(files[:_NAMED])}{more}")


def as_of_text(zones: Zones) -> str:
    """The serving snapshot's as-of date as its record states it, or "unknown"."""
    from orchestration.defs.warehouse.publish import current_record

    record = current_record(zones.serving)
    return record.as_of_date.isoformat() if record and record.as_of_date else "unknown"


def write_gates(zones: Zones, gates: dict[str, dict], started_at: datetime) -> None:
    """The gate results of the run started at ``started_at`` (by feed), for ``zhili status``."""
    write_text_atomic(
        zones.gates_record,
        json.dumps({"run_started_at": started_at.isoformat(), "gates": gates}, ensure_ascii=False, indent=1),
    )


def read_gates(zones: Zones) -> dict | None:
    """What :func:`write_gates` wrote last (``run_started_at``, ``gates``); None before any run wrote it."""
    path = zones.gates_record
    if not path.exists():
        return None
    return json.loads(path.read_text())


def print_status(settings: Settings, *, echo: Echo = print) -> int:
    """``zhili status``: the serving snapshot's as-of date, the ledger by feed and status, the last run's gates."""
    from ingestion.ledger import read_ledger
    from orchestration.defs.warehouse.publish import current_record

    ledger = read_ledger(settings.zones)
    if ledger.is_empty():
        echo(f"nothing loaded yet under {settings.home}")
        return 0
    record = current_record(settings.zones.serving)
    if record is None:
        echo("serving snapshot: none recorded yet (zhili run publishes one)")
    else:
        as_of = record.as_of_date.isoformat() if record.as_of_date else "unknown"
        echo(
            f"serving snapshot: {settings.zones.serving_db} as of {as_of}, published {record.published_at}"
            f" ({len(record.files)} files)"
        )
    table = (
        ledger.group_by("feed", "status")
        .agg(
            pl.len().alias("files"),
            pl.col("records_read").sum(),
            pl.col("rows_normalised").sum(),
            pl.col("rows_quarantined").sum(),
        )
        .sort("feed", "status")
    )
    with pl.Config(tbl_rows=100, tbl_hide_dataframe_shape=True, tbl_formatting="ASCII_MARKDOWN"):
        echo(str(table))
    last = read_gates(settings.zones)
    if last is None:
        echo("no gate results yet (zhili run writes them)")
        return 0
    echo(f"gates of the last run ({last['run_started_at']}):")
    if not last["gates"]:
        echo("  no files needed a gate")
    for feed, gate in sorted(last["gates"].items()):
        state = "passed" if gate["passed"] else "FAILED"
        echo(
            f"  gx_{feed:<18} {state}  {gate.get('files_validated')} files validated, {gate.get('files_failed')} held  ({gate.get('gx_seconds')} s)"
        )
        if not gate["passed"] and gate.get("held_files"):
            for line in str(gate["held_files"]).splitlines():
                echo(f"    {line.lstrip('* ')}")
    return 0
