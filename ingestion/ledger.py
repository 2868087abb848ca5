"""The conservation ledger: one row per outcome of a landed file, under ``<home>/ledger``.

Owns :class:`FileOutcome` (what happened to one file: loaded, held, duplicate,
rejected, waiting ...), where each outcome's row lives, reading the ledger back,
and the two questions every front door asks of it: which bytes were loaded
(:func:`loaded_files`) and which ``(file, md5)`` it already accounts for
(:func:`accounted`). A loaded file's row is written last, after its zones: it is
the commit marker, so a run killed before it redoes that file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from ingestion.landing import LandingScan
from ingestion.schemas import LEDGER, conform
from ingestion.zones import Zones, write_parquet_atomic

__all__ = [
    "FINAL",
    "LOADED",
    "FileOutcome",
    "accounted",
    "loaded_files",
    "read_ledger",
    "scan_outcomes",
    "write_ledger",
]

_CN = ZoneInfo("Asia/Shanghai")

#: statuses whose bytes count as loaded: the file is in the normalised zone, or held out of it by its gate
LOADED = ("loaded", "held")
#: statuses that settle a file's bytes for good: the same bytes under the same name are not due again
FINAL = ("loaded", "held", "duplicate", "empty", "rejected")


@dataclass
class FileOutcome:
    """One ledger row: what happened to one landed file."""

    feed: str
    table_name: str | None
    folder: str
    file: str
    status: str  # loaded | held (gate failed) | unchanged | duplicate | empty | rejected | waiting | refused
    file_md5: str | None = None
    size_bytes: int | None = None
    reason: str | None = None
    message: str | None = None
    duplicate_of: str | None = None
    flag_rows: int | None = None
    records_read: int | None = None
    rows_normalised: int | None = None
    rows_quarantined: int | None = None
    rows_skipped: int | None = None
    skipped_by_kind: str | None = None
    rows_person_flagged: int | None = None
    #: a versioned register snapshot (ingestion.versions): of rows_normalised, against the snapshot before it
    rows_unchanged: int | None = None
    rows_changed: int | None = None
    rows_new: int | None = None
    #: keys the snapshot before listed and this one does not (not rows of this file)
    rows_gone: int | None = None
    is_balanced: bool | None = None
    encoding: str | None = None
    is_encoding_switched: bool | None = None
    unknown_columns: str | None = None
    missing_optional: str | None = None
    id_valid_share: float | None = None
    placed_share: float | None = None
    seconds: float | None = None
    processed_at: datetime = field(default_factory=lambda: datetime.now(_CN))
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rel(self) -> str:
        return f"{self.feed}/{self.folder}/{self.file}"

    def ledger_row(self) -> dict:
        return {k: getattr(self, k) for k in LEDGER}


def _ledger_path(zones: Zones, outcome: FileOutcome) -> Path:
    if outcome.status in LOADED:
        return zones.ledger / f"{outcome.file_md5}.parquet"
    # other outcomes are keyed by where they landed, so repeating them rewrites one row
    digest = hashlib.sha1(outcome.rel.encode()).hexdigest()[:20]
    return zones.ledger / f"{outcome.status}-{digest}.parquet"


def write_ledger(zones: Zones, outcome: FileOutcome) -> None:
    write_parquet_atomic(pl.DataFrame([outcome.ledger_row()], schema=LEDGER), _ledger_path(zones, outcome))


def read_ledger(zones: Zones) -> pl.DataFrame:
    files = sorted(zones.ledger.glob("*.parquet")) if zones.ledger.exists() else []
    if not files:
        return pl.DataFrame(schema=LEDGER)
    # diagonal: a ledger file written before a column was added lacks it (null there)
    return conform(pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed"), LEDGER)


def loaded_files(zones: Zones, ledger: pl.DataFrame | None = None) -> dict[str, str]:
    """md5 -> rel path of every file loaded (or held) so far."""
    ledger = read_ledger(zones) if ledger is None else ledger
    loaded = ledger.filter(pl.col("status").is_in(LOADED))
    return {
        md5: f"{feed}/{folder}/{name}"
        for md5, feed, folder, name in loaded.select("file_md5", "feed", "folder", "file").iter_rows()
    }


def accounted(zones: Zones, ledger: pl.DataFrame | None = None) -> set[tuple[str, str]]:
    """``(feed/folder/file, md5)`` of every file whose bytes the ledger settles (:data:`FINAL`)."""
    ledger = read_ledger(zones) if ledger is None else ledger
    done = ledger.filter(pl.col("status").is_in(FINAL) & pl.col("file_md5").is_not_null())
    return {(f"{fe}/{fo}/{fi}", m) for fe, fo, fi, m in done.select("feed", "folder", "file", "file_md5").iter_rows()}


def scan_outcomes(scan: LandingScan) -> list[FileOutcome]:
    """Ledger rows for files that are waiting for their flag or were refused."""
    rows = []
    for path in scan.waiting:
        rows.append(
            FileOutcome(
                feed=path.parent.parent.name,
                table_name=None,
                folder=path.parent.name,
                file=path.name,
                status="waiting",
                reason="no_flag",
                message=f"{path.parent.parent.name}/{path.parent.name}/{path.name}: no .ok flag yet; still being transferred",
            )
        )
    for refusal in scan.refused:
        p = refusal.path
        rows.append(
            FileOutcome(
                feed=refusal.feed or p.parent.parent.name,
                table_name=None,
                folder=p.parent.name,
                file=p.name,
                status="refused",
                reason=refusal.reason,
                message=refusal.message,
            )
        )
    return rows
