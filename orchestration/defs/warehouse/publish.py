"""Publish the warehouse's marts as a read-only serving snapshot readers never wait for, writing only what changed.

Every ``marts`` and ``ops`` table of the working warehouse is fingerprinted in
one scan (row count, sum and xor of each row's hash, its columns and types:
order-independent, so a rebuilt table with the same rows has the same
digest). A table whose digest has no version yet is written once as an
immutable Parquet file ``serving/tables/<schema>/<table>/<digest>.parquet``
(temporary name, then renamed; read-only); every other table reuses the
version it already has. A small DuckDB *catalogue*
``serving/zhili-<timestamp>.duckdb`` then holds one view per table over its
version, cast back to the warehouse's column types, with the table and column
comments BI tools and ``zhili sql`` show; ``zhili-<timestamp>.json`` beside it
names the versions it reads. The catalogue is hard-linked onto
``serving/zhili.duckdb`` with an atomic rename: a reader holding the old
catalogue keeps it (and the versions it names stay while that catalogue is
kept), the next connection sees the new one. A run that changed three tables
writes three Parquet files and a catalogue of a few hundred KB.

The last few older catalogues stay for rollback; a table version no kept
catalogue names is deleted. ``serving/parquet/<mart>.parquet`` is a hard link
to the mart's current version (swapped in by rename), for BI tools that read
Parquet. A table published in parts is versioned by part instead (one file per
part, the view reading them all) and has no such link; a model says so in its
dbt ``meta`` (``PARTS_META``). Views name their versions by absolute path, so
the serving folder the catalogue was written for is recorded: a home moved elsewhere reads as
"no current snapshot" and the next run publishes a catalogue for the new place
(reusing every version).

Catalogues and versions are read-only (0444), so DuckDB refuses a read-write
open (for every user but root). What a snapshot is -- the as-of date it was
built for, the delivered files (md5) it holds, the Dagster run and the newest
normalised materialisation it was built from -- is recorded beside it in
``serving/snapshot.json``, with the file's identity (size, mtime). The
freshness checks of ``zhili run`` and of the warehouse sensor read that record
and never open the DuckDB file, so a reader holding it (even read-write)
cannot make them fail or trigger a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from ingestion.zones import Zones, write_text_atomic, write_with

__all__ = [
    "Published",
    "SnapshotRecord",
    "SCHEMAS",
    "publish_snapshot",
    "parts_from_manifest",
    "current_record",
    "staleness",
    "recorded_staleness",
    "no_run_since",
]

#: schemas published; the ``serving/parquet`` links are made for the marts only
SCHEMAS = ("marts", "ops")
#: part of every digest: a change in how versions are written (or in DuckDB's row hash) makes new versions
_FORMAT = "zhili-serving-1"
#: where a model declares that it is published in parts: its dbt ``meta`` (``parts_from_manifest``)
PARTS_META = "zhili_publish_in_parts"
#: how a column is written to Parquet when Parquet cannot hold its type exactly (read back through the view's cast)
_PARQUET_AS = {"HUGEINT": "DECIMAL(38,0)", "UHUGEINT": "VARCHAR"}
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


@dataclass(frozen=True)
class Published:
    path: Path
    snapshot: Path
    tables: dict[str, int]
    parquet_dir: Path
    kept: list[Path]
    removed: list[Path]
    record: SnapshotRecord | None = None
    #: tables whose content had no published version yet (written now), and those that reused theirs
    written: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    #: table versions deleted because no kept catalogue names them
    versions_removed: int = 0
    #: parts written of the tables published in parts (``publish_snapshot``'s ``parts``)
    parts_written: int = 0


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
    #: the serving folder the catalogue's views read their versions in, when it is not this home's (a home
    #: copied or moved): its views read another folder's files, so the next run publishes for this one
    elsewhere: str | None = None


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


def _columns(con, database: str, schema: str, table: str) -> list[tuple[str, str, str | None]]:
    """(name, type, comment) of a table's columns, in order."""
    return con.execute(
        "select column_name, data_type, comment from duckdb_columns() "
        "where database_name = ? and schema_name = ? and table_name = ? order by column_index",
        [database, schema, table],
    ).fetchall()


def _row_alias(columns) -> str:
    """A name for the row as one struct that no column has (a column ``t`` would shadow an alias ``t``)."""
    return "zhili_row_" + hashlib.sha256("".join(c[0] for c in columns).encode()).hexdigest()[:8]


def _row_hashes(row: str) -> str:
    """The aggregates a digest is made of, over the rows aliased ``row``: count, sum and xor of their hashes."""
    return f"count(*), coalesce(sum(hash({row})::hugeint), 0)::varchar, coalesce(bit_xor(hash({row})), 0)::varchar"


def _digest(con, name: str, columns: list[tuple[str, str, str | None]]) -> tuple[str, int]:
    """A content digest of ``wh.<name>`` from one scan, independent of row order, and its row count.

    The sum of the rows' 64-bit hashes (as HUGEINT, so duplicates add up instead of cancelling) and their xor,
    with the count, the columns and their types: equal tables give equal digests, and a changed row changes
    the sum and the xor together with a chance of ~2^-64 of both landing on the old values.
    """
    row = _row_alias(columns)
    count, total, xor = con.execute(f"select {_row_hashes(row)} from wh.{name} as {row}").fetchone()
    import duckdb

    body = json.dumps([_FORMAT, duckdb.__version__, [c[:2] for c in columns], count, total, xor])
    return hashlib.sha256(body.encode()).hexdigest()[:32], count


def _parquet_select(columns) -> str:
    """The select list that writes ``columns`` to Parquet (a cast where Parquet cannot hold the type exactly)."""
    return ", ".join(
        f"cast({_q(c)} as {_PARQUET_AS[t]}) as {_q(c)}" if t in _PARQUET_AS else _q(c) for c, t, _ in columns
    )


def _write_version(con, name: str, columns, path: Path) -> None:
    """Write ``wh.<name>`` to its immutable version file (temporary name, then renamed; read-only)."""
    select = _parquet_select(columns)
    write_with(
        path,
        lambda part: con.execute(
            f"copy (select {select} from wh.{name}) to {_lit(str(part))} (format parquet, compression zstd)"
        ),
        mode=_READ_ONLY,  # never written again; read by BI tools under other users, as the catalogue is
    )


def _view_sql(con, name: str, columns, paths: Path | list[Path], lifted: dict[str, str | None] | None = None) -> str:
    """A view over a version file (or a table's part files) with the warehouse's column types (a cast only where
    Parquet's type differs); a ``lifted`` column is the one value it held in the whole table."""
    files = ", ".join(_lit(str(p)) for p in paths) if isinstance(paths, list) else None
    source = f"read_parquet([{files}])" if files else f"read_parquet({_lit(str(paths))})"
    stored = dict(con.execute(f"select column_name, column_type from (describe select * from {source})").fetchall())
    lifted = lifted or {}
    select = ", ".join(
        f"cast({'null' if lifted[c] is None else _lit(lifted[c])} as {t}) as {_q(c)}"
        if c in lifted
        else f"cast({_q(c)} as {t}) as {_q(c)}"
        if stored.get(c) != t
        else _q(c)
        for c, t, _ in columns
    )
    return f"create view {name} as select {select} from {source}"


def _publish_parts(con, zones: Zones, schema: str, table: str, columns, part_sql: str, lift: tuple[str, ...]):
    """Publish ``wh.<schema>.<table>`` as one version per part (``publish_snapshot``'s ``parts``): the part
    files (written where their content has no version yet), the row count, how many parts were written, and
    the view's SQL.

    One grouped scan fingerprints every part as :func:`_digest` does a table, over the columns that are not
    lifted. A lifted column is lifted only when it holds one value (or only nulls) in the whole table; else it
    stays in the parts, and the digest says which, so a file never changes meaning."""
    name = f"{_q(schema)}.{_q(table)}"
    names = [c[0] for c in columns]
    lifted: dict[str, str | None] = {}
    for column in (c for c in lift if c in names):
        values, nulls, value = con.execute(
            f"select count(distinct {_q(column)}), count(*) - count({_q(column)}), "
            f"cast(min({_q(column)}) as varchar) from wh.{name}"
        ).fetchone()
        if values + (nulls > 0) <= 1:
            lifted[column] = value
    kept = [c for c in columns if c[0] not in lifted]
    row = _row_alias(columns)
    fields = ", ".join(_q(c[0]) for c in kept)
    import duckdb

    head = [_FORMAT, "parts", duckdb.__version__, [c[:2] for c in kept], sorted(lifted), part_sql]
    parts = con.execute(
        f"select part, {_row_hashes(row)} "
        f"from (select coalesce(cast(({part_sql}) as varchar), '') as part, struct_pack({fields}) as {row} "
        f"from wh.{name}) group by part order by part"
    ).fetchall()
    if not parts:  # an empty table: one empty part, so the view has a file to read its columns from
        parts = [(None, 0, "0", "0")]
    select = _parquet_select(kept)
    paths, new, total = [], [], 0
    for part, count, sum_, xor in parts:
        body = json.dumps([*head, part, count, sum_, xor])
        version = zones.serving_version(schema, table, hashlib.sha256(body.encode()).hexdigest()[:32])
        if not version.exists():
            new.append((part, version))
        paths.append(version)
        total += count
    if new == [(None, paths[0])]:  # the empty table's one part
        write_with(
            paths[0],
            lambda out: con.execute(
                f"copy (select {select} from wh.{name} where false) to {_lit(str(out))} (format parquet)"
            ),
            mode=_READ_ONLY,
        )
    elif new:
        _write_parts(con, name, select, part_sql, new)
    return paths, total, len(new), _view_sql(con, name, columns, paths, lifted)


def _write_parts(con, name: str, select: str, part_sql: str, new: list[tuple[str, Path]]) -> None:
    """Write the ``new`` parts (part value, version path) of ``wh.<name>`` in one scan: DuckDB's partitioned
    COPY into a temporary folder beside the versions, each part's file then made read-only and renamed onto
    its version. A publish killed part-way leaves only the temporary folder, which the next one removes."""
    folder = new[0][1].parent / f".parts-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    folder.parent.mkdir(parents=True, exist_ok=True)
    index = ", ".join(f"({i}, {_lit(part)})" for i, (part, _) in enumerate(new))
    try:
        con.execute(
            f"copy (select {select}, zhili_wanted.zhili_i as zhili_part from wh.{name} join (values {index}) "
            f"as zhili_wanted(zhili_i, zhili_value) on coalesce(cast(({part_sql}) as varchar), '') = zhili_value) "
            f"to {_lit(str(folder))} (format parquet, compression zstd, partition_by (zhili_part))"
        )
        for i, (_, version) in enumerate(new):
            (written,) = (folder / f"zhili_part={i}").glob("*.parquet")  # one file per part
            os.chmod(written, _READ_ONLY)
            os.replace(written, version)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish_snapshot(
    warehouse: Path,
    serving: Zones | Path,
    *,
    keep: int = 3,
    now: datetime | None = None,
    memory_limit: str | None = None,
    build: dict | None = None,
    parts: dict[str, tuple[str, tuple[str, ...]]] | None = None,
) -> Published:
    """Publish marts/ops of ``warehouse``: write a version of each changed table, a catalogue of views over
    every table's version, and swap the catalogue in as ``serving/zhili.duckdb``.

    ``serving``: the home's :class:`Zones` (or its ``serving`` folder), which name the files written.
    ``keep``: older catalogues kept for rollback (and every version they name).

    ``memory_limit``: DuckDB's, e.g. ``5GB`` (it spills beyond it); None = DuckDB's default, 80 % of RAM.
    ``build``: what the warehouse build recorded (``as_of_date``, ``run_id``, ``normalised_storage_id``),
    written with the snapshot's files into ``serving/snapshot.json``.
    ``parts``: the tables published in parts, ``"schema.table"`` -> (the SQL expression naming a row's part,
    the columns lifted out of the parts), as ``parts_from_manifest`` reads them. Each part -- the rows sharing
    the expression's value -- is a version of its own, so a run that touches a few periods writes those parts,
    not the table. A lifted column holds one value for the whole table (the as-of date a build restamps on
    every row): the parts are written without it and the view adds it back, so a new as-of date alone
    rewrites no part. Such a mart has no ``serving/parquet`` copy (no one file holds it): its view, or the
    part files the catalogue's manifest names, are how it is read.
    """
    import duckdb

    if not Path(warehouse).exists():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist; run dbt build first (zhili run does)")
    zones = _zones_of(serving)
    serving, current = zones.serving, zones.serving_db
    serving.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S%f")
    snapshot = serving / f"zhili-{stamp}.duckdb"
    manifest_path = snapshot.with_suffix(".json")
    tmp = serving / f".zhili-{stamp}.duckdb.tmp"
    parquet_dir = zones.serving_parquet
    parquet_dir.mkdir(exist_ok=True)
    # a publish killed part-way leaves its temporary files under names no later publish reuses
    # (they carry its timestamp or a random part): remove them. One writer, so none of them is in use now.
    for stale in [
        *serving.glob(".zhili-*.duckdb.tmp*"),
        *serving.glob(".zhili-*.json.*tmp"),
        *serving.glob(f".{current.name}.*.tmp"),
        *parquet_dir.glob(".*.parquet.*tmp"),
        *zones.serving_tables.glob("*/*/.*.tmp"),
    ]:
        if stale.is_dir():  # a partitioned write's folder (_write_parts)
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    tables: dict[str, int] = {}
    versions: dict[str, str] = {}
    written: list[str] = []
    reused: list[str] = []
    parts_written = 0
    stale_links: list[Path] = []  # the Parquet copies of marts now published in parts (no one file holds them)
    # the catalogue holds no data: the work (fingerprints, new versions) is done in memory, spilling to serving/
    con = duckdb.connect(str(tmp), config={"memory_limit": memory_limit} if memory_limit else {})
    try:
        con.execute(f"attach {_lit(str(warehouse))} as wh (read_only)")
        found = con.execute(
            "select schema_name, table_name, comment from duckdb_tables() "
            f"where database_name = 'wh' and schema_name in ({', '.join(_lit(s) for s in SCHEMAS)}) order by all"
        ).fetchall()
        # the catalogue's hundreds of statements (views, comments) in one transaction: one commit, not one each
        con.execute("begin")
        for schema, table, comment in found:
            name = f"{_q(schema)}.{_q(table)}"
            columns = _columns(con, "wh", schema, table)
            if f"{schema}.{table}" in (parts or {}):
                part_sql, lift = parts[f"{schema}.{table}"]
                paths, count, wrote, view = _publish_parts(con, zones, schema, table, columns, part_sql, lift)
                (written if wrote else reused).append(f"{schema}.{table}")
                parts_written += wrote
                stale_links.append(parquet_dir / f"{table}.parquet")
            else:
                digest, count = _digest(con, name, columns)
                version = zones.serving_version(schema, table, digest)
                if version.exists():
                    reused.append(f"{schema}.{table}")
                else:
                    _write_version(con, name, columns, version)
                    written.append(f"{schema}.{table}")
                paths, view = version, _view_sql(con, name, columns, version)
            con.execute(f"create schema if not exists {_q(schema)}")
            con.execute(view)
            if comment:
                con.execute(f"comment on view {name} is {_lit(comment)}")
            for column, _, col_comment in columns:
                if col_comment:
                    con.execute(f"comment on column {name}.{_q(column)} is {_lit(col_comment)}")
            tables[f"{schema}.{table}"] = count
            versions[f"{schema}.{table}"] = (
                [str(p.relative_to(serving)) for p in paths]
                if isinstance(paths, list)
                else str(paths.relative_to(serving))
            )
        con.execute("commit")
        con.execute("detach wh")
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
    # the versions the catalogue reads, named before the catalogue exists: cleanup never removes a version a
    # catalogue on disk reads
    write_with(
        manifest_path, lambda part: Path(part).write_text(json.dumps({"tables": versions}, indent=1)), mode=0o644
    )
    # read-only for everyone: a BI tool that opens it read-write is refused instead of locking it for readers
    os.chmod(tmp, _READ_ONLY)
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
    for key, rel in versions.items():
        schema, table = key.split(".", 1)
        if schema == "marts" and isinstance(rel, str):
            _link_parquet(serving / rel, parquet_dir / f"{table}.parquet", stamp)
    for link in stale_links:
        link.unlink(missing_ok=True)
    kept, removed, versions_removed = _clean(zones, keep)
    return Published(
        current,
        snapshot,
        tables,
        parquet_dir,
        kept,
        removed,
        record,
        written=written,
        reused=reused,
        versions_removed=versions_removed,
        parts_written=parts_written,
    )


def parts_from_manifest(manifest: Path | None) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The tables published in parts, as ``publish_snapshot`` takes them, from dbt's manifest: every model whose
    ``meta`` has ``zhili_publish_in_parts: {part: <SQL over its columns>, lift: [<column>, ...]}``."""
    try:
        nodes = json.loads(Path(manifest).read_text())["nodes"].values() if manifest else []
    except (OSError, ValueError, KeyError):
        return {}
    found = {}
    for node in nodes:
        declared = (node.get("config", {}).get("meta") or node.get("meta") or {}).get(PARTS_META)
        if node.get("resource_type") == "model" and declared:
            found[f"{node['schema']}.{node.get('alias') or node['name']}"] = (
                declared["part"],
                tuple(declared.get("lift") or ()),
            )
    return found


def _link_parquet(version: Path, target: Path, stamp: str) -> None:
    """Point ``serving/parquet/<mart>.parquet`` at the mart's current version: a hard link swapped in by rename
    (a copy where the filesystem has no hard links); nothing is done when it already is that version."""
    try:
        if target.exists() and os.path.samefile(version, target):
            return
    except OSError:
        pass
    part = target.with_name(f".{target.name}.{stamp}.tmp")
    try:
        os.link(version, part)
    except OSError:
        shutil.copy2(version, part)
    os.replace(part, target)


def _clean(zones: Zones, keep: int) -> tuple[list[Path], list[Path], int]:
    """Remove catalogues older than the ``keep`` before the newest, and every table version no kept catalogue
    names. The catalogue ``zhili.duckdb`` is (a link to) is always kept, even when a crash left newer ones."""
    serving = zones.serving
    catalogues = sorted(serving.glob("zhili-*.duckdb"))
    removed = catalogues[: max(0, len(catalogues) - (keep + 1))]
    try:
        removed = [c for c in removed if not os.path.samefile(c, zones.serving_db)]
    except OSError:
        pass
    for old in removed:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    kept = [c for c in catalogues if c not in removed]
    named: set[Path] = set()
    for catalogue in kept:
        try:
            for rel in json.loads(catalogue.with_suffix(".json").read_text())["tables"].values():
                named |= {serving / r for r in ([rel] if isinstance(rel, str) else rel)}
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a catalogue from before versions (its tables inside it), or a manifest a crash never wrote
    versions_removed = 0
    for version in zones.serving_tables.glob("*/*/*.parquet"):
        if version not in named:
            version.unlink(missing_ok=True)
            versions_removed += 1
    return kept, removed, versions_removed


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
        # the views name their versions by absolute path (DuckDB resolves a relative one against the reader's
        # working directory): where they point
        "serving": str(zones.serving.resolve()),
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
            elsewhere=body["serving"]
            if body.get("serving", str(zones.serving.resolve())) != str(zones.serving.resolve())
            else None,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


_ANY = object()


def recorded_staleness(
    settings, record: SnapshotRecord | None, *, latest_normalised=None, run_known=False, check_as_of=True
) -> str | None:
    """:func:`staleness` against the ledger's loaded files and the as-of date of ``settings``, then whether
    ``zhili linkage train`` kept a model whose links are not published yet, then whether the dbt code changed
    since the build. Reads no Dagster instance (the caller passes what it knows of one), so ``zhili run`` can
    tell a current snapshot before starting Dagster."""
    import polars as pl

    from ingestion.ledger import LOADED, read_ledger

    zones = settings.zones
    ledger = read_ledger(zones)
    files = set(ledger.filter(pl.col("status").is_in(LOADED))["file_md5"].to_list()) if not ledger.is_empty() else set()
    extra = {"as_of": settings.as_of_date()} if check_as_of else {}
    why = staleness(record, files=files, latest_normalised=latest_normalised, run_known=run_known, **extra)
    if why is None and record is not None:  # zhili linkage train kept a new model: its links are not published yet
        from ingestion.linkage.model_store import retrained_since

        try:
            built = json.loads(zones.build_record.read_text()).get("linkage_model_version")
        except (OSError, ValueError):
            built = None
        why = retrained_since(zones, built)
    if why is None and record is not None:  # a new Zhili brought other dbt code: the marts it builds may differ
        from orchestration.lib.dbt_code import built_code_file, project_digest

        built_by = built_code_file(zones.state)
        if built_by.exists() and built_by.read_text().strip() != project_digest():
            why = "the dbt project's code changed since the warehouse was built"
    return why


def no_run_since(zones: Zones, run_id: str | None) -> bool:
    """True when the Dagster instance of the home holds the run ``run_id`` and no run created after it, read
    from its SQLite run storage without starting Dagster (whose import and instance cost a run with no new file
    most of its time). Every materialisation happens in a run, so nothing was materialised since that run;
    False whenever that cannot be told (no such run, another storage, an unreadable file)."""
    import sqlite3
    from contextlib import closing

    runs = zones.dagster / "history" / "runs.db"
    if not run_id or not runs.exists():
        return False
    try:
        with closing(sqlite3.connect(f"file:{runs}?mode=ro", uri=True, timeout=5)) as con:
            built = con.execute("select id, start_time from runs where run_id = ?", [run_id]).fetchone()
            if built is None or built[1] is None:
                return False
            # a run made after it, one still going, or one that ended after it started (a run the daemon
            # started beside it) may have materialised what the build did not see
            others = con.execute(
                "select count(*) from runs where run_id <> ? and (id > ? or end_time is null or end_time > ? "
                "or status not in ('SUCCESS', 'FAILURE', 'CANCELED'))",
                [run_id, built[0], built[1]],
            ).fetchone()
            return others[0] == 0
    except sqlite3.Error:
        return False


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
    if record.elsewhere:
        return f"the snapshot's views read the tables published in {record.elsewhere}, not this home's"
    return None
