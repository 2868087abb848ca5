"""From landing files to the raw and normalised zones, with the conservation ledger.

For each complete file (a file plus its ``.ok`` flag):

1. verify the flag's md5; a file whose bytes were already loaded is a no-op
   (recorded as a duplicate when it arrives under another name or folder);
2. read it (``ingestion.readers``), verify the flag's row count, write the
   raw zone (every cell as text);
3. normalise it (``ingestion.normalise``), write the normalised rows, the
   restricted person records and the quarantine; a register snapshot reuses
   what the previous snapshot's identical rows normalised to (when that one
   was normalised by the same code with the same key: a fingerprint beside
   the raw zone says so);
4. write its ledger row last: the ledger row is the commit marker, so a run
   killed part-way redoes that file next time and overwrites the same paths.

Every output is keyed by the file's md5 and written to a temporary name then
renamed, so rerunning changes nothing and a reader never sees half a file.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

import polars as pl

from ingestion.errors import FeedError
from ingestion.feeds import FEEDS, TableSpec, table_for_file
from ingestion.landing import (
    LandedFile,
    LandingScan,
    file_md5,
    scan_landing,
    unknown_name_error,
    verify_md5,
    verify_rows,
)
from ingestion.normalise import INCREMENTAL, Context, Normalised, Previous, normalise, placement_fingerprint
from ingestion.readers import ReadResult, read_file
from ingestion.schemas import LEDGER, PERSON_RECORDS, QUARANTINE, SCHEMAS, conform
from ingestion.zones import Zones

__all__ = [
    "FileOutcome",
    "ingest_landing",
    "ingest_file",
    "load_grid_index",
    "address_prefixes",
    "stage_raw",
    "normalise_staged",
    "Staged",
    "load_staged",
    "GateVerdict",
    "scan_outcomes",
    "write_ledger",
    "ensure_zones",
    "read_ledger",
    "loaded_files",
    "data_date_of",
    "normaliser_fingerprint",
    "ORDER",
]

log = logging.getLogger(__name__)
_CN = ZoneInfo("Asia/Shanghai")
_VALID = ("valid", "upgraded_15", "foreign_valid", "rescued_cert")

#: grid_registry first: every other feed is placed in the grids it defines.
ORDER: tuple[str, ...] = ("grid_registry", "police_population", "civil_affairs", "police_incidents", "petitions", "grid_events",
                          "grid_visits")


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


def ensure_zones(zones: Zones) -> None:
    """Create every zone folder with a zero-row ``_empty.parquet`` so readers' globs never fail.

    The empty file carries the current schema (readers take column names from it): rewritten when
    a home made by an earlier version lacks a column added since.
    """
    targets = [(zones.normalised(t), s) for t, s in SCHEMAS.items()]
    targets += [(zones.quarantine(t.table), QUARANTINE) for f in FEEDS.values() for t in f.tables]
    targets += [(zones.person_records(), PERSON_RECORDS), (zones.ledger, LEDGER)]
    for folder, schema in targets:
        empty = folder / "_empty.parquet"
        if not empty.exists() or dict(pl.read_parquet_schema(empty)) != dict(schema):
            folder.mkdir(parents=True, exist_ok=True)
            _write(pl.DataFrame(schema=schema), empty)


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(tmp, compression="zstd", statistics=True)
    tmp.replace(path)


def _ledger_path(zones: Zones, outcome: FileOutcome) -> Path:
    if outcome.status in ("loaded", "held"):
        return zones.ledger / f"{outcome.file_md5}.parquet"
    # other outcomes are keyed by where they landed, so repeating them rewrites one row
    digest = hashlib.sha1(outcome.rel.encode()).hexdigest()[:20]
    return zones.ledger / f"{outcome.status}-{digest}.parquet"


def write_ledger(zones: Zones, outcome: FileOutcome) -> None:
    _write(pl.DataFrame([outcome.ledger_row()], schema=LEDGER), _ledger_path(zones, outcome))


def read_ledger(zones: Zones) -> pl.DataFrame:
    files = sorted(zones.ledger.glob("*.parquet")) if zones.ledger.exists() else []
    if not files:
        return pl.DataFrame(schema=LEDGER)
    # diagonal: a ledger file written before a column was added lacks it (null there)
    return conform(pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed"), LEDGER)


def loaded_files(zones: Zones) -> dict[str, str]:
    """md5 -> rel path of every file loaded so far."""
    ledger = read_ledger(zones).filter(pl.col("status").is_in(["loaded", "held"]))
    return {md5: f"{feed}/{folder}/{name}" for md5, feed, folder, name in ledger.select("file_md5", "feed", "folder", "file").iter_rows()}


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


def load_grid_index(zones: Zones):
    """The grid index over every grid-register snapshot loaded so far, or None before the first."""
    from ingestion.placement import GridIndex

    units = _read_zone(zones.normalised("grid_units"))
    points = _read_zone(zones.normalised("address_points"))
    if units.is_empty():
        return None
    # every snapshot's boundaries with its date: a redrawn boundary holds from its snapshot on
    bounds = _read_zone(zones.normalised("grid_boundaries"))
    if not bounds.is_empty():
        bounds = bounds.sort("data_date", "file_md5", "record_no").select("grid_code", "geometry", "data_date")
    return GridIndex.from_snapshots(units, points, None if bounds.is_empty() else bounds)


def _read_zone(folder: Path) -> pl.DataFrame:
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed") if files else pl.DataFrame()


_ADMIN_PREFIX = re.compile(r"^(?P<province>.+?(?:省|自治区|市))?(?P<city>.+?(?:市|州|盟|地区))?")


def address_prefixes(zones: Zones) -> tuple[str, ...]:
    """The district's own province, city and county names, as its standard addresses start."""
    units = _read_zone(zones.normalised("grid_units"))
    points = _read_zone(zones.normalised("address_points"))
    if units.is_empty():
        return ()
    county = units.select(pl.col("county_name").drop_nulls().mode().first()).item()
    if not county:
        return ()
    sample = points.select(pl.col("standard_address").drop_nulls().first()).item() if points.height else None
    if not sample or county not in sample:
        return (county,)
    head = _ADMIN_PREFIX.match(sample[: sample.index(county)])
    return tuple(p for p in (head["province"], head["city"], county) if p) if head else (county,)


def _records(frame: pl.DataFrame) -> int:
    return frame.select(pl.struct("sheet", "record_no").n_unique()).item() if frame.height else 0


#: A person whose ID or name holds nothing usable (empty, 无, 匿名 ...): kept and flagged, never quarantined.
_ID_ABSENT = ("empty", "placeholder")
_NAME_ABSENT = ("empty", "anonymous")


def _rows_person_flagged(persons: pl.DataFrame) -> int:
    """Normalised records naming a person with no ID or no name: a part of rows_normalised, not beside it."""
    return _records(persons.filter(pl.col("id_status").is_in(_ID_ABSENT) | pl.col("name_status").is_in(_NAME_ABSENT)))


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
        }


def stage_raw(landed: LandedFile, zones: Zones, *, loaded: dict[str, str] | None = None) -> Staged | FileOutcome:
    """Verify and read one complete file into the raw zone.

    Returns a :class:`FileOutcome` instead when there is nothing more to do:
    the bytes were loaded before (unchanged/duplicate) or the file is rejected.
    Never raises for bad input.
    """
    started = time.perf_counter()
    spec = table_for_file(landed.feed, landed.name)
    base = _base(landed, spec)
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
                return FileOutcome(**base, status="empty", file_md5=md5, size_bytes=size, records_read=0, rows_normalised=0,
                                   rows_quarantined=0, is_balanced=True, reason="no_records",
                                   message=f"{landed.rel}: an empty delivery (rows=0); nothing to load")
            return FileOutcome(**base, status="duplicate", file_md5=md5, size_bytes=size, duplicate_of=loaded[md5],
                               reason="same_bytes", message=f"{landed.rel}: the same bytes were already loaded as {loaded[md5]}; nothing to do")
        if spec is None:
            # the scan let it through as a resend of bytes delivered under a proper name, but they were not loaded
            raise unknown_name_error(landed, "the file with the same bytes was not loaded (see its own ledger row)")
        read = read_file(landed.path, spec, file_md5=md5, file_name=landed.name)
        verify_rows(landed, read.records)
        data_date = data_date_of(landed, spec)
    except FeedError as err:
        log.warning("rejected %s: %s", landed.rel, err.reason)
        return FileOutcome(**base, status="rejected", file_md5=md5, size_bytes=size, reason=err.reason, message=str(err),
                           seconds=time.perf_counter() - started)
    staged = Staged(landed, spec, md5, size, read, data_date)
    _write(read.frame.with_columns(pl.lit(data_date).alias("data_date")), zones.raw(spec.table, md5))
    _write(conform(read.quarantine, QUARANTINE), _meta(zones, spec.table, md5, "quarantine.parquet"))
    _meta(zones, spec.table, md5, "json").write_text(json.dumps(staged.meta(), ensure_ascii=False, indent=1))
    return staged


def _meta(zones: Zones, table: str, md5: str, suffix: str) -> Path:
    # beside the raw zone, not in its glob: what the reader learnt about the file
    return zones.raw(table) / "_meta" / f"{md5}.{suffix}"


#: What a normalised row is a function of besides its cells: this code, its libraries, the key.
_NORMALISING_MODULES = ("normalise", "fields", "pseudonym", "schemas", "feeds", "placement", "addresses")
_NORMALISING_PACKAGES = ("polars", "opencc", "python-stdnum")


@functools.cache
def _code_digest() -> bytes:
    # once per process: the code this process runs, even if the files change under it
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for module in _NORMALISING_MODULES:
        digest.update((here / f"{module}.py").read_bytes())
    for package in _NORMALISING_PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())
    return digest.digest()


def normaliser_fingerprint(key: bytes) -> str:
    """A digest that changes whenever reusing an earlier file's normalised rows could give other values."""
    # the pseudonym key enters as a keyed digest, so the fingerprint tells nothing about it
    return hashlib.sha256(_code_digest() + hmac.digest(key, b"zhili normaliser fingerprint", "sha256")).hexdigest()


def _previous_snapshot(zones: Zones, staged: Staged, fingerprint: str) -> tuple[str, Previous] | None:
    """The loaded snapshot of the same table nearest before this one (else nearest after), normalised alike."""
    table = staged.spec.table
    folder = zones.raw(table) / "_meta"
    candidates = []
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
        paths = (zones.raw(table, md5), zones.normalised(table, md5), zones.person_records(md5))
        if all(p.exists() for p in paths):
            raw, frame, people = (pl.read_parquet(p) for p in paths)
            placement = json.loads((folder / f"{md5}.normalised.json").read_text()).get("placement")
            return md5, Previous(raw=raw.drop("data_date", strict=False), frame=frame, person_records=people, placement=placement)
    return None


def load_staged(zones: Zones, landed: LandedFile, md5: str) -> Staged:
    """A file staged earlier (possibly by another process), back from the raw zone."""
    spec = table_for_file(landed.feed, landed.name)
    if spec is None:
        raise KeyError(f"{landed.rel}: fits no table of feed {landed.feed}")
    meta = json.loads(_meta(zones, spec.table, md5, "json").read_text())
    frame = pl.read_parquet(zones.raw(spec.table, md5)).drop("data_date")
    read = ReadResult(
        frame=frame,
        quarantine=pl.read_parquet(_meta(zones, spec.table, md5, "quarantine.parquet")),
        records=meta["records"],
        skipped=meta["skipped"],
        encoding=meta["encoding"],
        encoding_switched=meta["encoding_switched"],
        unknown_columns=meta["unknown_columns"],
        missing_optional=meta["missing_optional"],
        sheets=meta["sheets"],
        failed_sheets=meta["failed_sheets"],
        unknown_sheets=meta.get("unknown_sheets", []),
    )
    return Staged(landed, spec, md5, meta["size"], read, date.fromisoformat(meta["data_date"]))


def _base(landed: LandedFile, spec: TableSpec | None) -> dict:
    return dict(feed=landed.feed, table_name=spec.table if spec else None, folder=landed.folder, file=landed.name, flag_rows=landed.flag_rows)


#: A gate inspects one file's normalised rows before anything downstream may read them.
Gate = Callable[[str, pl.DataFrame, str], "GateVerdict"]


@dataclass
class GateVerdict:
    passed: bool
    summary: str = ""
    detail: object = None


def normalise_staged(
    staged: Staged,
    zones: Zones,
    *,
    key: bytes,
    grid_index=None,
    address_prefixes: tuple[str, ...] = (),
    gate: Gate | None = None,
) -> tuple[FileOutcome, Normalised, GateVerdict | None]:
    """Normalise a staged file, gate it, and write the zones and its ledger row.

    A file whose gate fails is written to ``held/`` instead of the normalised
    zone, so nothing downstream reads it; its ledger row says ``held``.
    """
    started = time.perf_counter()
    ctx = Context(key=key, data_date=staged.data_date, grid_index=grid_index, address_prefixes=address_prefixes)
    fingerprint = previous = None
    if staged.spec.table in INCREMENTAL:
        fingerprint = normaliser_fingerprint(key)
        previous = _previous_snapshot(zones, staged, fingerprint)
    out = normalise(staged.read.frame, staged.spec, ctx, previous=previous[1] if previous else None)
    if previous:
        log.info("%s: %d of %d rows as in %s, %d normalised", staged.landed.rel, out.rows_reused,
                 staged.read.frame.height, previous[0], staged.read.frame.height - out.rows_reused)
    outcome = _record(staged, out)
    verdict = gate(staged.spec.table, out.frame, f"{staged.landed.folder}_{staged.landed.name}") if gate else None
    table, md5 = staged.spec.table, staged.md5
    if verdict is not None and not verdict.passed:
        outcome.status, outcome.reason, outcome.message = "held", "gate_failed", f"{staged.landed.rel}: {verdict.summary}"
        _write(out.frame, zones.home / "held" / table / f"{md5}.parquet")
    else:
        _write(out.frame, zones.normalised(table, md5))
        _write(out.person_records, zones.person_records(md5))
    _write(_all_quarantine(staged, out), zones.quarantine(table, md5))
    outcome.seconds = time.perf_counter() - started
    write_ledger(zones, outcome)
    if fingerprint is not None and outcome.status == "loaded":
        # after the ledger row: only a committed file is offered to the next snapshot
        _meta(zones, table, md5, "normalised.json").write_text(
            json.dumps({"fingerprint": fingerprint, "data_date": staged.data_date.isoformat(), "placement": placement_fingerprint(ctx)})
        )
    log.info("%s %s: %d records, %d normalised, %d quarantined", outcome.status, staged.landed.rel,
             outcome.records_read, outcome.rows_normalised, outcome.rows_quarantined)
    return outcome, out, verdict


def ingest_file(landed: LandedFile, zones: Zones, *, key: bytes, grid_index=None, address_prefixes: tuple[str, ...] = (),
                loaded: dict[str, str] | None = None, gate: Gate | None = None) -> FileOutcome:
    """Load one complete file through the raw and normalised zones; never raises for bad input."""
    staged = stage_raw(landed, zones, loaded=loaded)
    if isinstance(staged, FileOutcome):
        if staged.status in ("rejected", "duplicate", "empty"):
            write_ledger(zones, staged)
        return staged
    return normalise_staged(staged, zones, key=key, grid_index=grid_index, address_prefixes=address_prefixes, gate=gate)[0]


def _all_quarantine(staged: Staged, out: Normalised) -> pl.DataFrame:
    return pl.concat([conform(staged.read.quarantine, QUARANTINE), out.quarantine], how="vertical_relaxed")


def _record(staged: Staged, out: Normalised) -> FileOutcome:
    read = staged.read
    quarantine = _all_quarantine(staged, out)
    normalised = _records(out.frame)
    quarantined = _records(quarantine)
    persons = out.person_records
    id_share = persons.select(pl.col("id_status").is_in(_VALID).mean()).item() if persons.height else None
    placed = None
    if "placement_method" in out.frame.columns and out.frame.height:
        placed = out.frame.select(pl.col("grid_code").is_not_null().mean()).item()
    reasons = dict(quarantine.group_by("reason").len().iter_rows()) if quarantine.height else {}
    return FileOutcome(
        **_base(staged.landed, staged.spec),
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


def scan_outcomes(scan: LandingScan) -> list[FileOutcome]:
    """Ledger rows for files that are waiting for their flag or were refused."""
    rows = []
    for path in scan.waiting:
        rows.append(FileOutcome(feed=path.parent.parent.name, table_name=None, folder=path.parent.name, file=path.name,
                                status="waiting", reason="no_flag", message=f"{path.parent.parent.name}/{path.parent.name}/{path.name}: no .ok flag yet; still being transferred"))
    for refusal in scan.refused:
        p = refusal.path
        rows.append(FileOutcome(feed=refusal.feed or p.parent.parent.name, table_name=None, folder=p.parent.name, file=p.name,
                                status="refused", reason=refusal.reason, message=refusal.message))
    return rows


def ingest_landing(
    landing: Path,
    zones: Zones,
    *,
    key: bytes,
    feeds: Iterable[str] | None = None,
    on_file: Callable[[FileOutcome], None] | None = None,
    gate: Gate | None = None,
) -> list[FileOutcome]:
    """Load every complete file under ``landing`` that is not loaded yet, grid register first."""
    ensure_zones(zones)
    wanted = set(feeds) if feeds is not None else set(FEEDS)
    loaded = loaded_files(zones)
    scan = scan_landing(landing, loaded=loaded)
    outcomes = [o for o in scan_outcomes(scan) if o.feed in wanted or o.feed not in FEEDS]
    for o in outcomes:
        write_ledger(zones, o)
    by_feed: dict[str, list[LandedFile]] = {}
    resends: list[LandedFile] = []  # names that fit no table: after every feed, when their bytes are loaded
    for landed in scan.complete:
        if table_for_file(landed.feed, landed.name) is None:
            resends.append(landed)
        else:
            by_feed.setdefault(landed.feed, []).append(landed)
    grid_index, prefixes = None, ()
    for slug in ORDER:
        if slug != "grid_registry" and grid_index is None:
            grid_index, prefixes = load_grid_index(zones), address_prefixes(zones)
        if slug not in wanted:
            continue
        for landed in by_feed.get(slug, []):
            outcome = ingest_file(landed, zones, key=key, grid_index=grid_index, address_prefixes=prefixes, loaded=loaded, gate=gate)
            if outcome.status in ("loaded", "held"):
                loaded[outcome.file_md5] = landed.rel
            outcomes.append(outcome)
            if on_file:
                on_file(outcome)
    for landed in resends:
        if landed.feed in wanted:
            outcome = ingest_file(landed, zones, key=key, loaded=loaded)
            outcomes.append(outcome)
            if on_file:
                on_file(outcome)
    return outcomes
