"""Staging: one complete landed file verified and read into the raw zone.

Owns :class:`Staged` (a file read, its rows and what the reader learnt) and
:func:`stage_raw`: verify the flag's md5, recognise bytes loaded before
(unchanged, duplicate, empty), read the file, verify the flag's row count,
write ``raw/<table>/<md5>.parquet`` and the reader's facts beside it
(``Zones.raw_meta``). :func:`load_staged` brings a staged file back, in
this process or another. Bad input never raises here: it becomes a
``rejected`` :class:`~ingestion.ledger.FileOutcome`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from datetime import date, datetime

import polars as pl

from ingestion.errors import FeedError
from ingestion.feeds import TableSpec, normalise_header, table_for_file
from ingestion.landing import LandedFile, file_md5, unknown_name_error, verify_md5, verify_rows
from ingestion.ledger import FileOutcome, loaded_files
from ingestion.readers import ReadResult, read_file
from ingestion.schemas import QUARANTINE, conform
from ingestion.zones import Zones, write_parquet_atomic, write_text_atomic

__all__ = ["Staged", "data_date_of", "load_staged", "outcome_fields", "stage_raw"]

log = logging.getLogger(__name__)


@dataclass
class Staged:
    """A file read into the raw zone, waiting to be normalised."""

    landed: LandedFile
    spec: TableSpec
    md5: str
    size: int
    read: ReadResult
    data_date: date

    def without_rows(self) -> Staged:
        """The same file's facts (records, skips, encoding, drift) without its rows: what a report keeps of it
        while the next file is staged (a county's weekly register is a million rows a file)."""
        read = replace(self.read, frame=self.read.frame.clear(), quarantine=self.read.quarantine.clear())
        return replace(self, read=read)

    def meta(self) -> dict:
        r = self.read
        return {
            "size": self.size,
            "data_date": self.data_date.isoformat(),
            "records": r.records,
            "skipped": r.skipped,
            "encoding": r.encoding,
            "encoding_switched": r.encoding_switched,
            "unknown_columns": r.unknown_columns,
            "missing_optional": r.missing_optional,
            "sheets": r.sheets,
            "failed_sheets": r.failed_sheets,
            "unknown_sheets": r.unknown_sheets,
            "absent_columns": r.absent_columns,
        }


def data_date_of(landed: LandedFile, spec: TableSpec) -> date:
    """The day a file's records belong to: its name's date, else its delivery folder's."""
    match = spec.pattern.match(landed.name)
    groups = match.groupdict() if match else {}
    if groups.get("data_date"):
        return datetime.strptime(groups["data_date"], "%Y%m%d").date()
    if groups.get("data_month"):
        return datetime.strptime(groups["data_month"] + "01", "%Y%m%d").date()
    if landed.delivery_date is None:
        raise ValueError(f"{landed.rel}: no data date in the name and the folder is not a date")
    return landed.delivery_date


def outcome_fields(landed: LandedFile, spec: TableSpec | None) -> dict:
    """The fields of a :class:`FileOutcome` that say which file it is."""
    return dict(
        feed=landed.feed,
        table_name=spec.table if spec else None,
        folder=landed.folder,
        file=landed.name,
        flag_rows=landed.flag_rows,
    )


def stage_raw(landed: LandedFile, zones: Zones, *, loaded: dict[str, str] | None = None) -> Staged | FileOutcome:
    """Verify and read one complete file into the raw zone.

    Returns a :class:`FileOutcome` instead when there is nothing more to do:
    the bytes were loaded before (unchanged/duplicate) or the file is rejected.
    Never raises for bad input.
    """
    started = time.perf_counter()
    spec = table_for_file(landed.feed, landed.name)
    base = outcome_fields(landed, spec)
    loaded = loaded_files(zones) if loaded is None else loaded
    md5 = size = None
    try:
        md5 = file_md5(landed.path)
        size = landed.path.stat().st_size
        verify_md5(landed, md5)
        if md5 in loaded:
            if loaded[md5] == landed.rel:
                return FileOutcome(**base, status="unchanged", file_md5=md5, size_bytes=size)
            if landed.flag_rows == 0:
                # every empty delivery of a feed has the same bytes; it is not a resend of the first
                return FileOutcome(
                    **base,
                    status="empty",
                    file_md5=md5,
                    size_bytes=size,
                    records_read=0,
                    rows_normalised=0,
                    rows_quarantined=0,
                    is_balanced=True,
                    reason="no_records",
                    message=f"{landed.rel}: an empty delivery (rows=0); nothing to load",
                )
            return FileOutcome(
                **base,
                status="duplicate",
                file_md5=md5,
                size_bytes=size,
                duplicate_of=loaded[md5],
                reason="same_bytes",
                message=f"{landed.rel}: the same bytes were already loaded as {loaded[md5]}; nothing to do",
            )
        if spec is None:
            # the scan let it through as a resend of bytes delivered under a proper name, but they were not loaded
            raise unknown_name_error(landed, "the file with the same bytes was not loaded (see its own ledger row)")
        read = read_file(landed.path, spec, file_md5=md5, file_name=landed.name)
        verify_rows(landed, read.records)
        data_date = data_date_of(landed, spec)
    except FeedError as err:
        log.warning("rejected %s: %s", landed.rel, err.reason)
        return FileOutcome(
            **base,
            status="rejected",
            file_md5=md5,
            size_bytes=size,
            reason=err.reason,
            message=str(err),
            seconds=time.perf_counter() - started,
        )
    staged = Staged(landed, spec, md5, size, read, data_date)
    write_parquet_atomic(read.frame.with_columns(pl.lit(data_date).alias("data_date")), zones.raw(spec.table, md5))
    write_parquet_atomic(conform(read.quarantine, QUARANTINE), zones.raw_meta(spec.table, md5, "quarantine.parquet"))
    write_text_atomic(zones.raw_meta(spec.table, md5, "json"), json.dumps(staged.meta(), ensure_ascii=False, indent=1))
    return staged


def load_staged(zones: Zones, landed: LandedFile, md5: str) -> Staged:
    """A file staged earlier (possibly by another process), back from the raw zone."""
    spec = table_for_file(landed.feed, landed.name)
    if spec is None:
        raise KeyError(f"{landed.rel}: fits no table of feed {landed.feed}")
    meta = json.loads(zones.raw_meta(spec.table, md5, "json").read_text())
    frame = pl.read_parquet(zones.raw(spec.table, md5)).drop("data_date")
    read = ReadResult(
        frame=frame,
        quarantine=pl.read_parquet(zones.raw_meta(spec.table, md5, "quarantine.parquet")),
        records=meta["records"],
        skipped=meta["skipped"],
        encoding=meta["encoding"],
        encoding_switched=meta["encoding_switched"],
        unknown_columns=meta["unknown_columns"],
        missing_optional=meta["missing_optional"],
        sheets=meta["sheets"],
        failed_sheets=meta["failed_sheets"],
        unknown_sheets=meta.get("unknown_sheets", []),
        # staged before absent columns were kept: the optional ones it reported missing
        absent_columns=meta.get(
            "absent_columns", [spec.header_map().get(normalise_header(h), h) for h in meta["missing_optional"]]
        ),
    )
    return Staged(landed, spec, md5, meta["size"], read, date.fromisoformat(meta["data_date"]))
