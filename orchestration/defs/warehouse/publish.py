"""Publish the warehouse's marts as a read-only serving snapshot readers never wait for.

The working warehouse is attached read-only and its ``marts`` and ``ops``
tables (with table and column comments) are copied into a new file
``serving/zhili-<timestamp>.duckdb``. That file is hard-linked onto
``serving/zhili.duckdb`` with an atomic rename: a reader holding the old file
open keeps its inode, the next connection sees the new snapshot. The last
few older snapshots stay for rollback; Parquet copies of each mart go to
``serving/parquet/<mart>.parquet`` (written to a temporary name, then renamed).

Snapshot files are made read-only (0444), so DuckDB refuses a read-write open
(for every user but root). What a snapshot is -- the as-of date it was built
for, the delivered files (md5) it holds, the Dagster run and the newest
normalised materialisation it was built from -- is recorded beside it in
``serving/snapshot.json``, with the file's identity (size, mtime). The
freshness checks of ``zhili run`` and of the warehouse sensor read that record
and never open the DuckDB file, so a reader holding it (even read-write) cannot
make them fail or trigger a rebuild.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from ingestion.zones import Zones, write_text_atomic, write_with

__all__ = ["Published", "SnapshotRecord", "SCHEMAS", "publish_snapshot", "current_record", "staleness"]

#: schemas copied into the serving file; Parquet copies are made of the marts only
SCHEMAS = ("marts", "ops")


@dataclass(frozen=True)
class Published:
    path: Path
    snapshot: Path
    tables: dict[str, int]
    parquet_dir: Path
    kept: list[Path]
    removed: list[Path]
    record: SnapshotRecord | None = None


@dataclass(frozen=True)
class SnapshotRecord:
    """What the published snapshot holds, as recorded by the publish that swapped it in."""

    snapshot: str
    published_at: str
    #: the date the warehouse judged overdue/ages/active on (None: not recorded)
    as_of_date: date | None
    #: md5 of every delivered file the snapshot's ledger counts as loaded or held
    files: frozenset[str]
    #: the Dagster run that built the warehouse and the newest normalised materialisation it saw then
    run_id: str | None = None
    normalised_storage_id: int | None = None


def _zones_of(where: Zones | Path) -> Zones:
    """The home whose serving snapshot is meant: its :class:`Zones`, or its ``serving`` folder."""
    if isinstance(where, Zones):
        return where
    zones = Zones(Path(where).parent)
    if zones.serving != Path(where):
        raise ValueError(
            f"serving={str(where)!r} should be a home's serving folder ({zones.serving}), or pass the home's Zones"
        )
    return zones


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def publish_snapshot(
    warehouse: Path,
    serving: Zones | Path,
    *,
    keep: int = 3,
    now: datetime | None = None,
    memory_limit: str | None = None,
    build: dict | None = None,
) -> Published:
    """Copy marts/ops out of ``warehouse`` into a new snapshot and swap it in as ``serving/zhili.duckdb``.

    ``serving``: the home's :class:`Zones` (or its ``serving`` folder), which name the files written.

    ``memory_limit``: DuckDB's, e.g. ``5GB`` (it spills beyond it); None = DuckDB's default, 80 % of RAM.
    ``build``: what the warehouse build recorded (``as_of_date``, ``run_id``, ``normalised_storage_id``),
    written with the snapshot's files into ``serving/snapshot.json``.
    """
    import duckdb

    if not Path(warehouse).exists():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist; run dbt build first (zhili run does)")
    zones = _zones_of(serving)
    serving, current = zones.serving, zones.serving_db
    serving.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S%f")
    snapshot = serving / f"zhili-{stamp}.duckdb"
    tmp = serving / f".zhili-{stamp}.duckdb.tmp"
    parquet_dir = zones.serving_parquet
    parquet_dir.mkdir(exist_ok=True)
    # a publish killed part-way leaves its temporary files under names no later publish reuses
    # (they carry its timestamp): remove them. One writer, so none of them is in use now.
    for stale in [
        *serving.glob(".zhili-*.duckdb.tmp*"),
        *serving.glob(f".{current.name}.*.tmp"),
        *parquet_dir.glob(".*.parquet.*tmp"),
    ]:
        stale.unlink(missing_ok=True)
    tables: dict[str, int] = {}
    con = duckdb.connect(str(tmp), config={"memory_limit": memory_limit} if memory_limit else {})
    try:
        con.execute(f"attach {_lit(str(warehouse))} as wh (read_only)")
        found = con.execute(
            "select schema_name, table_name, comment from duckdb_tables() "
            f"where database_name = 'wh' and schema_name in ({', '.join(_lit(s) for s in SCHEMAS)}) order by all"
        ).fetchall()
        for schema, table, comment in found:
            name = f"{_q(schema)}.{_q(table)}"
            con.execute(f"create schema if not exists {_q(schema)}")
            con.execute(f"create table {name} as select * from wh.{name}")
            if comment:
                con.execute(f"comment on table {name} is {_lit(comment)}")
            for column, col_comment in con.execute(
                "select column_name, comment from duckdb_columns() where database_name = 'wh' "
                "and schema_name = ? and table_name = ? and comment is not null",
                [schema, table],
            ).fetchall():
                con.execute(f"comment on column {name}.{_q(column)} is {_lit(col_comment)}")
            tables[f"{schema}.{table}"] = con.execute(f"select count(*) from {name}").fetchone()[0]
        con.execute("detach wh")
        for schema, table, _ in found:
            if schema != "marts":
                continue
            write_with(
                parquet_dir / f"{table}.parquet",
                lambda part: con.execute(
                    f"copy {_q(schema)}.{_q(table)} to {_lit(str(part))} (format parquet, compression zstd)"
                ),
                mode=0o644,  # read by BI tools under other users, as the snapshot is
            )
        files = (
            sorted(
                {
                    m
                    for (m,) in con.execute(
                        "select file_md5 from ops.ops_ingest_ledger where status in ('loaded', 'held')"
                    ).fetchall()
                }
            )
            if "ops.ops_ingest_ledger" in tables
            else []
        )
        con.execute("checkpoint")
    finally:
        con.close()
    # read-only for everyone: a BI tool that opens it read-write is refused instead of locking it for readers
    os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    os.replace(tmp, snapshot)
    link = serving / f".{current.name}.{stamp}.tmp"
    try:
        os.link(snapshot, link)
    except OSError:
        shutil.copy2(snapshot, link)  # a filesystem without hard links: a copy, still swapped atomically
    os.replace(link, current)
    # recorded after the swap: a publish killed in between leaves a record naming another file's identity,
    # which reads as "no current record", so the next run publishes again
    build = build or {}
    record = SnapshotRecord(
        snapshot=snapshot.name,
        published_at=(now or datetime.now()).isoformat(timespec="seconds"),
        as_of_date=_date(build.get("as_of_date")),
        files=frozenset(files),
        run_id=build.get("run_id"),
        normalised_storage_id=build.get("normalised_storage_id"),
    )
    _record_snapshot(zones, record)
    snapshots = sorted(serving.glob("zhili-*.duckdb"))
    removed = snapshots[: max(0, len(snapshots) - (keep + 1))]
    for old in removed:
        old.unlink(missing_ok=True)
    return Published(
        current, snapshot, tables, parquet_dir, [p for p in snapshots if p not in removed], removed, record
    )


def _identity(path: Path) -> list[int]:
    """Size and modification time to the nanosecond: each publish writes a new file, and anything that
    writes into one changes its mtime. Not the inode, so a home copied with its times (cp -a) stays current."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _date(value) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return None


def _record_snapshot(zones: Zones, record: SnapshotRecord) -> None:
    body = {
        "snapshot": record.snapshot,
        "identity": _identity(zones.serving_db),
        "published_at": record.published_at,
        "as_of_date": record.as_of_date.isoformat() if record.as_of_date else None,
        "run_id": record.run_id,
        "normalised_storage_id": record.normalised_storage_id,
        "files": sorted(record.files),
    }
    write_text_atomic(zones.snapshot_record, json.dumps(body, indent=1))


def current_record(serving: Zones | Path) -> SnapshotRecord | None:
    """The record of the snapshot now at ``serving/zhili.duckdb`` (``serving``: the home's Zones or its serving
    folder); None when there is none or it describes another file (a publish killed between the swap and the
    record, a snapshot from an older zhili)."""
    zones = _zones_of(serving)
    try:
        body = json.loads(zones.snapshot_record.read_text())
        if body.get("identity") != _identity(zones.serving_db):
            return None
        return SnapshotRecord(
            snapshot=body["snapshot"],
            published_at=body.get("published_at") or "",
            as_of_date=_date(body.get("as_of_date")),
            files=frozenset(body.get("files") or ()),
            run_id=body.get("run_id"),
            normalised_storage_id=body.get("normalised_storage_id"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


_ANY = object()


def staleness(
    record: SnapshotRecord | None,
    *,
    files: set[str],
    as_of=_ANY,
    latest_normalised: int | None = None,
    run_known: bool = False,
) -> str | None:
    """Why the published snapshot is not what a build now would publish; None when it is current.

    ``files``: md5 of every file the ledger counts as loaded or held; ``as_of``: the as-of date a build now
    would use (left out: any as-of will do, as for the sensor, which reacts to data, not to dates);
    ``latest_normalised``: the newest normalised materialisation's storage id, compared with the one the
    snapshot was built after when ``run_known`` (the record's run is in this Dagster instance).
    """
    if record is None:
        return "no serving snapshot recorded"
    if as_of is not _ANY and as_of != record.as_of_date:
        was = record.as_of_date.isoformat() if record.as_of_date else "unknown"
        return f"the snapshot is as of {was}, this run as of {as_of.isoformat() if as_of else 'no date'}"
    missing = set(files) - record.files
    if missing:
        return f"{len(missing)} loaded file(s) not in the snapshot"
    if run_known and latest_normalised is not None and latest_normalised > (record.normalised_storage_id or 0):
        return "normalised data materialised after the snapshot was built"
    return None
