"""Normalising a staged file, then committing it with its gate's verdict.

Owns the two halves of putting one file into the zones:

* :func:`normalise_file` normalises a :class:`~ingestion.staging.Staged` file
  (a register snapshot reuses what the previous snapshot's identical rows
  normalised to, when a fingerprint says the same code and key made them) and
  returns a :class:`Normalising`: the rows and the ledger row they would make,
  nothing written yet;
* :func:`commit` writes it where a gate's :class:`GateVerdict` says: the
  normalised zone and the restricted person records (a register snapshot's
  at its versions' grain: :mod:`ingestion.versions`), or ``held/`` when the
  gate failed; then the quarantine, then its ledger row, the commit marker.

Between the two a gate may judge the rows; :func:`normalise_staged` does all
three for one file, and a batch (:mod:`expectations.gate`) can judge several
files' rows in one validation before committing each. :func:`ingest_file`
is a whole file's way from the landing to its ledger row.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl

from ingestion.fields import USABLE_ID_STATUSES
from ingestion.fingerprint import normaliser_fingerprint
from ingestion.landing import LandedFile
from ingestion.ledger import FileOutcome, write_ledger
from ingestion.normalise import INCREMENTAL, Context, Normalised, Previous, normalise, placement_fingerprint
from ingestion.schemas import QUARANTINE, conform
from ingestion.staging import Staged, outcome_fields, stage_raw
from ingestion.versions import VERSIONED, judged_under, record_snapshot, rows_to_judge, write_version_records
from ingestion.zones import Zones, write_parquet_atomic, write_text_atomic

__all__ = ["Gate", "GateVerdict", "Normalising", "commit", "ingest_file", "normalise_file", "normalise_staged"]

log = logging.getLogger(__name__)


@dataclass
class GateVerdict:
    passed: bool
    summary: str = ""
    detail: object = None
    #: the digest of the suite that judged it (expectations.runner.suite_digest); None: not known
    suite: str | None = None


#: A gate inspects one file's normalised rows before anything downstream may read them.
Gate = Callable[[str, pl.DataFrame, str], GateVerdict]


@dataclass
class Normalising:
    """A file normalised and not yet committed: what a gate judges, and what :func:`commit` writes."""

    staged: Staged
    out: Normalised
    outcome: FileOutcome
    ctx: Context
    fingerprint: str | None
    started: float
    #: a versioned snapshot's rows a gate must judge row by row: new and changed against the snapshot
    #: before (ingestion.versions.rows_to_judge); None: every row
    judge: pl.Series | None = None
    #: the suite that passed the snapshot before (ingestion.versions.judged_under): a gate uses ``judge``
    #: only under that same suite, and judges every row otherwise
    judged_under: str | None = None

    @property
    def table(self) -> str:
        return self.staged.spec.table

    @property
    def frame(self) -> pl.DataFrame:
        return self.out.frame

    @property
    def label(self) -> str:
        """What the gate's page and verdict are named by: ``<folder>_<file>``."""
        return f"{self.staged.landed.folder}_{self.staged.landed.name}"


def _records(frame: pl.DataFrame) -> int:
    return frame.select(pl.struct("sheet", "record_no").n_unique()).item() if frame.height else 0


#: A person whose ID or name holds nothing usable (empty, 无, 匿名 ...): kept and flagged, never quarantined.
_ID_ABSENT = ("empty", "placeholder")
_NAME_ABSENT = ("empty", "anonymous")


def _rows_person_flagged(persons: pl.DataFrame) -> int:
    """Normalised records naming a person with no ID or no name: a part of rows_normalised, not beside it."""
    return _records(persons.filter(pl.col("id_status").is_in(_ID_ABSENT) | pl.col("name_status").is_in(_NAME_ABSENT)))


def _previous_snapshot(zones: Zones, staged: Staged, fingerprint: str) -> tuple[str, Previous] | None:
    """The loaded snapshot of the same table nearest before this one (else nearest after), normalised alike."""
    table = staged.spec.table
    candidates = []
    folder = zones.raw_meta(table)
    for path in folder.glob("*.normalised.json") if folder.exists() else []:
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        md5 = path.name.split(".", 1)[0]
        if md5 == staged.md5 or meta.get("fingerprint") != fingerprint:
            continue
        when = date.fromisoformat(meta["data_date"])
        candidates.append((when > staged.data_date, abs((when - staged.data_date).days), md5))
    for _, _, md5 in sorted(candidates):
        persons = zones.snapshot_persons(md5) if table in VERSIONED else zones.person_records(md5)
        if not persons.exists():  # a snapshot loaded before every row's record was kept aside held them all
            persons = zones.person_records(md5)
        paths = (zones.raw(table, md5), zones.normalised(table, md5), persons)
        if all(p.exists() for p in paths):
            raw, frame, people = (pl.read_parquet(p) for p in paths)
            placement = json.loads(zones.raw_meta(table, md5, "normalised.json").read_text()).get("placement")
            return md5, Previous(
                raw=raw.drop("data_date", strict=False), frame=frame, person_records=people, placement=placement
            )
    return None


def normalise_file(
    staged: Staged,
    zones: Zones,
    *,
    key: bytes,
    grid_index=None,
    address_prefixes: tuple[str, ...] = (),
) -> Normalising:
    """Normalise a staged file; nothing is written until :func:`commit`."""
    started = time.perf_counter()
    ctx = Context(key=key, data_date=staged.data_date, grid_index=grid_index, address_prefixes=address_prefixes)
    fingerprint = previous = None
    if staged.spec.table in INCREMENTAL:
        fingerprint = normaliser_fingerprint(key)
        previous = _previous_snapshot(zones, staged, fingerprint)
    out = normalise(staged.read.frame, staged.spec, ctx, previous=previous[1] if previous else None)
    if previous:
        log.info(
            "%s: %d of %d rows as in %s, %d normalised",
            staged.landed.rel,
            out.rows_reused,
            staged.read.frame.height,
            previous[0],
            staged.read.frame.height - out.rows_reused,
        )
    judge = trusted = None
    if staged.spec.table in VERSIONED:
        judge = rows_to_judge(
            zones, staged.spec.table, staged.md5, staged.data_date, out.frame, absent=staged.read.absent_columns
        )
        trusted = judged_under(zones, staged.spec.table, staged.data_date) if judge is not None else None
    return Normalising(staged, out, _record(staged, out), ctx, fingerprint, started, judge, trusted)


def commit(normalising: Normalising, zones: Zones, verdict: GateVerdict | None = None) -> FileOutcome:
    """Write a normalised file where ``verdict`` says, then its ledger row; returns that row.

    A file whose gate failed is written to ``held/`` instead of the normalised
    zone, so nothing downstream reads it; its ledger row says ``held``.
    """
    staged, out, outcome = normalising.staged, normalising.out, normalising.outcome
    table, md5 = staged.spec.table, staged.md5
    if verdict is not None and not verdict.passed:
        outcome.status, outcome.reason, outcome.message = (
            "held",
            "gate_failed",
            f"{staged.landed.rel}: {verdict.summary}",
        )
        write_parquet_atomic(out.frame, zones.held(table, md5))
    else:
        write_parquet_atomic(out.frame, zones.normalised(table, md5))
        if table in VERSIONED:  # every row's record aside; the versions' records are written from it below
            write_parquet_atomic(out.person_records, zones.snapshot_persons(md5))
        else:
            write_parquet_atomic(out.person_records, zones.person_records(md5))
        if table in VERSIONED:  # before the ledger row: a redone file finds its snapshot stored and adds nothing
            changes = record_snapshot(
                zones,
                table,
                md5,
                staged.data_date,
                out.frame,
                absent=staged.read.absent_columns,
                suite=verdict.suite if verdict is not None else None,
            )
            outcome.rows_unchanged, outcome.rows_changed = changes.unchanged, changes.changed
            outcome.rows_new, outcome.rows_gone = changes.new, changes.gone
            # after the store: the records of the versions it holds (a redone file's are there already)
            write_version_records(zones, table)
    write_parquet_atomic(_all_quarantine(staged, out), zones.quarantine(table, md5))
    outcome.seconds = time.perf_counter() - normalising.started
    write_ledger(zones, outcome)
    if normalising.fingerprint is not None and outcome.status == "loaded":
        # after the ledger row: only a committed file is offered to the next snapshot
        write_text_atomic(
            zones.raw_meta(table, md5, "normalised.json"),
            json.dumps(
                {
                    "fingerprint": normalising.fingerprint,
                    "data_date": staged.data_date.isoformat(),
                    "placement": placement_fingerprint(normalising.ctx),
                }
            ),
        )
    log.info(
        "%s %s: %d records, %d normalised, %d quarantined",
        outcome.status,
        staged.landed.rel,
        outcome.records_read,
        outcome.rows_normalised,
        outcome.rows_quarantined,
    )
    return outcome


def normalise_staged(
    staged: Staged,
    zones: Zones,
    *,
    key: bytes,
    grid_index=None,
    address_prefixes: tuple[str, ...] = (),
    gate: Gate | None = None,
) -> tuple[FileOutcome, Normalised, GateVerdict | None]:
    """Normalise a staged file, gate it, and write the zones and its ledger row (see :func:`commit`)."""
    pending = normalise_file(staged, zones, key=key, grid_index=grid_index, address_prefixes=address_prefixes)
    judging = (
        {"judge": pending.judge, "judged_under": pending.judged_under}
        if pending.judge is not None and getattr(gate, "judges_changes", False)
        else {}
    )
    verdict = gate(pending.table, pending.frame, pending.label, **judging) if gate else None
    return commit(pending, zones, verdict), pending.out, verdict


def ingest_file(
    landed: LandedFile,
    zones: Zones,
    *,
    key: bytes,
    grid_index=None,
    address_prefixes: tuple[str, ...] = (),
    loaded: dict[str, str] | None = None,
    gate: Gate | None = None,
) -> FileOutcome:
    """Load one complete file through the raw and normalised zones; never raises for bad input."""
    staged = stage_raw(landed, zones, loaded=loaded)
    if isinstance(staged, FileOutcome):
        if staged.status in ("rejected", "duplicate", "empty"):
            write_ledger(zones, staged)
        return staged
    return normalise_staged(
        staged, zones, key=key, grid_index=grid_index, address_prefixes=address_prefixes, gate=gate
    )[0]


def _all_quarantine(staged: Staged, out: Normalised) -> pl.DataFrame:
    return pl.concat([conform(staged.read.quarantine, QUARANTINE), out.quarantine], how="vertical_relaxed")


def _record(staged: Staged, out: Normalised) -> FileOutcome:
    read = staged.read
    quarantine = _all_quarantine(staged, out)
    normalised = _records(out.frame)
    quarantined = _records(quarantine)
    persons = out.person_records
    id_share = persons.select(pl.col("id_status").is_in(USABLE_ID_STATUSES).mean()).item() if persons.height else None
    placed = None
    if "placement_method" in out.frame.columns and out.frame.height:
        placed = out.frame.select(pl.col("grid_code").is_not_null().mean()).item()
    reasons = dict(quarantine.group_by("reason").len().iter_rows()) if quarantine.height else {}
    return FileOutcome(
        **outcome_fields(staged.landed, staged.spec),
        status="loaded",
        file_md5=staged.md5,
        size_bytes=staged.size,
        records_read=read.records,
        rows_normalised=normalised,
        rows_quarantined=quarantined,
        rows_skipped=sum(read.skipped.values()),
        skipped_by_kind=json.dumps(dict(sorted(read.skipped.items())), ensure_ascii=False),
        rows_person_flagged=_rows_person_flagged(persons),
        is_balanced=read.records == normalised + quarantined,
        encoding=read.encoding,
        is_encoding_switched=read.encoding_switched,
        unknown_columns=json.dumps(sorted(read.unknown_columns), ensure_ascii=False),
        missing_optional=json.dumps(sorted(read.missing_optional), ensure_ascii=False),
        id_valid_share=id_share,
        placed_share=placed,
        quarantine_reasons=reasons,
    )
