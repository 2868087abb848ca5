"""The one map of a home (``Zones``) and the one way files in it are written (``write_atomic``).

```
home/
  state/secret.key                      HMAC key for person pseudonyms (0600)
  state/zhili_run.lock                  held by the one ``zhili run`` at a time
  state/warehouse_build.json            what the last warehouse build read (files, dbt digest, linkage model)
  state/linkage/model-<n>.json          the kept Splink model every run links with (+ .provenance.json)
  raw/<table>/<md5>.parquet             every cell as text + locator
  raw/<table>/_meta/<md5>.json          what the reader learnt (records, encoding, drift), its quarantine, reuse fingerprint
  normalised/<table>/<md5>.parquet      typed rows (ingestion.schemas.SCHEMAS)
  held/<table>/<md5>.parquet            typed rows of a file its quality gate held back
  restricted/person_records/<md5>.parquet   normalised identifiers, linkage only (a register snapshot's: the
                                        rows that begin a version, ingestion.versions.write_version_records)
  restricted/snapshot_persons/<md5>.parquet  a register snapshot's identifiers, every row (what the next
                                        snapshot reuses, and where a version's record is taken from)
  restricted/person_links/              linkage output (links, review, golden; the collapsed profiles it reuses)
  quarantine/<table>/<md5>.parquet      rows that could not be normalised, with reasons
  ledger/<key>.parquet                  one ledger row per file outcome
  warehouse.duckdb                      the dbt warehouse (one writer)
  serving/zhili.duckdb                  read-only catalogue readers and BI tools open: views over serving/tables
  serving/zhili-<ts>.duckdb (+ .json)   that catalogue and the older ones kept for rollback (+ the versions each names)
  serving/tables/<schema>/<table>/<digest>.parquet   immutable published table versions, named by content
  serving/snapshot.json                 what that snapshot holds (files, as-of date, run)
  serving/parquet/<mart>.parquet        the current version of each mart (a hard link), for BI tools
  docs/validations/                     GX results as HTML
  gates/last_run.json                   the last run's gate results, for ``zhili status``
  logs/                                 dbt's log of the last build
  briefings/                            rendered daily briefings
  dagster/                              the Dagster instance (event log, runs)
```

Everything is keyed by the file's md5, so the same bytes delivered twice
write the same paths and change nothing. Every file is written through
``write_atomic``: a reader, or a run killed half-way, sees the old file or the
new one, whole.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

__all__ = ["Zones", "ensure_zones", "write_atomic", "write_with", "write_text_atomic", "write_parquet_atomic"]


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` so that a reader or a killed run sees the old file or the new one, whole."""
    write_with(path, lambda tmp: Path(tmp).write_bytes(data.encode("utf-8") if isinstance(data, str) else data))


def write_text_atomic(path: Path, text: str) -> None:
    """``write_atomic`` for text (UTF-8)."""
    write_atomic(path, text)


def write_parquet_atomic(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` as zstd Parquet with statistics, atomically; a LazyFrame is streamed."""
    if isinstance(frame, pl.LazyFrame):
        write_with(path, lambda tmp: frame.sink_parquet(tmp, compression="zstd", statistics=True, engine="streaming"))
    else:
        write_with(path, lambda tmp: frame.write_parquet(tmp, compression="zstd", statistics=True))


def write_with(path: Path, write, *, mode: int | None = None) -> None:
    """Let ``write(tmp)`` write a temporary file beside ``path`` (any writer: Polars, DuckDB's COPY, text), then
    swap it in. The file is private (0600) unless ``mode`` says otherwise (a briefing people share: 0644)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Zones:
    home: Path

    # restricted and internal state
    @property
    def state(self) -> Path:
        return self.home / "state"

    @property
    def secret_file(self) -> Path:
        return self.state / "secret.key"

    @property
    def run_lock(self) -> Path:
        return self.state / "zhili_run.lock"

    @property
    def build_record(self) -> Path:
        return self.state / "warehouse_build.json"

    @property
    def linkage_models(self) -> Path:
        return self.state / "linkage"

    # file zones, keyed by table and md5
    def raw(self, table: str, md5: str | None = None) -> Path:
        return _leaf(self.home / "raw" / table, md5)

    def raw_meta(self, table: str, md5: str | None = None, suffix: str = "json") -> Path:
        """What the reader learnt about a file (``json``, ``quarantine.parquet``, ``normalised.json``): beside the
        raw zone, not in its glob; the folder when ``md5`` is None."""
        folder = self.home / "raw" / table / "_meta"
        return folder if md5 is None else folder / f"{md5}.{suffix}"

    def normalised(self, table: str | None = None, md5: str | None = None) -> Path:
        folder = self.home / "normalised"
        return folder if table is None else _leaf(folder / table, md5)

    def held(self, table: str, md5: str | None = None) -> Path:
        return _leaf(self.home / "held" / table, md5)

    def person_records(self, md5: str | None = None) -> Path:
        return _leaf(self.home / "restricted" / "person_records", md5)

    def snapshot_persons(self, md5: str | None = None) -> Path:
        """Every row's person record of a snapshot of a versioned table (``person_records`` holds its versions')."""
        return _leaf(self.home / "restricted" / "snapshot_persons", md5)

    @property
    def person_links(self) -> Path:
        return self.home / "restricted" / "person_links"

    def quarantine(self, table: str, md5: str | None = None) -> Path:
        return _leaf(self.home / "quarantine" / table, md5)

    @property
    def ledger(self) -> Path:
        return self.home / "ledger"

    # the warehouse and what readers see
    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def serving(self) -> Path:
        return self.home / "serving"

    @property
    def serving_db(self) -> Path:
        return self.serving / "zhili.duckdb"

    @property
    def snapshot_record(self) -> Path:
        return self.serving / "snapshot.json"

    @property
    def serving_parquet(self) -> Path:
        return self.serving / "parquet"

    @property
    def serving_tables(self) -> Path:
        return self.serving / "tables"

    def serving_version(self, schema: str, table: str, digest: str) -> Path:
        """One published version of a table, named by its content digest: written once, never changed."""
        return self.serving_tables / schema / table / f"{digest}.parquet"

    # reports and logs
    @property
    def validations(self) -> Path:
        return self.home / "docs" / "validations"

    @property
    def gates_record(self) -> Path:
        return self.home / "gates" / "last_run.json"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def briefings(self) -> Path:
        return self.home / "briefings"

    @property
    def dagster(self) -> Path:
        return self.home / "dagster"

    def versions(self, table: str) -> Path:
        """A register kept as versions (ingestion/versions.py): ``store/`` its generations, ``keys/`` who each
        snapshot listed."""
        return self.home / "versions" / table


def ensure_zones(zones: Zones) -> None:
    """Create every zone folder with a zero-row ``_empty.parquet`` so readers' globs never fail.

    The empty file carries the current schema (readers take column names from it): rewritten when
    a home made by an earlier version lacks a column added since.
    """
    from ingestion.feeds import FEEDS
    from ingestion.schemas import (
        LEDGER,
        PERSON_RECORDS,
        QUARANTINE,
        SCHEMAS,
        VERSIONED,
        key_index_schema,
        version_schema,
    )

    targets = [(zones.normalised(t), s) for t, s in SCHEMAS.items()]
    targets += [(zones.quarantine(t.table), QUARANTINE) for f in FEEDS.values() for t in f.tables]
    targets += [(zones.person_records(), PERSON_RECORDS), (zones.ledger, LEDGER)]
    targets += [(zones.versions(t) / "store", version_schema(t)) for t in VERSIONED]
    targets += [(zones.versions(t) / "keys", key_index_schema(t)) for t in VERSIONED]
    for folder, schema in targets:
        empty = folder / "_empty.parquet"
        if not empty.exists() or dict(pl.read_parquet_schema(empty)) != dict(schema):
            write_parquet_atomic(pl.DataFrame(schema=schema), empty)


def _leaf(folder: Path, md5: str | None) -> Path:
    return folder if md5 is None else folder / f"{md5}.parquet"
