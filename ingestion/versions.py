"""A register snapshot stored as versions: what it changed against the snapshot before it.

Owns the versions store of the full-snapshot tables in :data:`VERSIONED`
(``<home>/versions/<table>/store/gen-<n>.parquet``, the greatest generation
current; dbt reads it as ``source('versions', <table>)``): one row per version of a key (a person of the
police register), the normalised row of the snapshot that first showed it, a
hash of its content and its validity ``[valid_from, valid_to)`` (``valid_to``
null: still current). A key absent from a snapshot has no version valid on
that snapshot's date (gone); a key whose content changes gets a new version.

The versions are a function of the *set* of loaded snapshots, ordered by data
date, never of the order they arrived in (the same bytes delivered again, under
any name or date, are a resend: the ledger's duplicate, not another snapshot): :func:`apply_snapshot` inserts a
snapshot at its date (splitting the versions that span it, re-pointing the
part after it at the next snapshot's row) and then merges adjacent versions
of equal content. Within one date the rule every reader of these feeds has
always used decides a key listed twice: the greater ``file_md5``, then the
later ``record_no``. A snapshot already in the store (a crashed run redone)
changes nothing.

Per snapshot it also keeps a thin key index (key, content hash, locator) in
``<home>/versions/<table>/keys/<md5>@<date>.parquet``: enough to re-point a split version and to count
what a snapshot changed (:func:`count_changes`) without its full rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from ingestion.schemas import SCHEMAS, VERSION_LOCATOR, VERSIONED, key_index_schema, version_schema
from ingestion.zones import Zones, write_parquet_atomic, write_text_atomic

__all__ = [
    "VERSIONED",
    "Changes",
    "Store",
    "apply_snapshot",
    "key_index_schema",
    "count_changes",
    "load_store",
    "record_snapshot",
    "snapshot_id",
    "state_at",
    "versions_dir",
]

#: Where a row was read from and when: not part of a version's content.
_LOCATOR = VERSION_LOCATOR


def versions_dir(zones: Zones, table: str) -> Path:
    return zones.versions(table)


def snapshot_id(md5: str, data_date: date) -> str:
    """A snapshot: its bytes (the ledger's loaded file) on its date."""
    return f"{md5}@{data_date.isoformat()}"


def _key_index_path(zones: Zones, table: str, snap: str) -> Path:
    return versions_dir(zones, table) / "keys" / f"{snap}.parquet"


def content_columns(table: str) -> list[str]:
    return [c for c in SCHEMAS[table] if c not in _LOCATOR]


def with_hash(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """``frame`` with ``content_hash``: a hash of every column but the locator (same content, same hash)."""
    return frame.with_columns(pl.struct(content_columns(table)).hash(seed=0).alias("content_hash"))


def resolve(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """One row per key (rows with a null key dropped): the greater file_md5, then the later record_no."""
    key = VERSIONED[table]
    return (
        frame.filter(pl.col(key).is_not_null())
        .sort(["file_md5", "record_no"], descending=True, maintain_order=True)
        .unique(subset=key, keep="first", maintain_order=True)
    )


@dataclass
class Store:
    """The versions of one table and the snapshots (:func:`snapshot_id` -> data date) they were built from."""

    table: str
    versions: pl.DataFrame
    snapshots: dict[str, date]

    def dates(self) -> list[date]:
        return sorted(set(self.snapshots.values()))


def empty_store(table: str) -> Store:
    return Store(table, pl.DataFrame(schema=version_schema(table)), {})


def _generations(zones: Zones, table: str) -> list[Path]:
    """The store's complete generations, oldest first (a generation's parquet is written last)."""
    return sorted((versions_dir(zones, table) / "store").glob("gen-*.parquet"))


def load_store(zones: Zones, table: str) -> Store:
    gens = _generations(zones, table)
    if not gens:
        return empty_store(table)
    snapshots = json.loads(gens[-1].with_suffix(".snapshots.json").read_text())
    versions = pl.read_parquet(gens[-1])
    return Store(table, versions, {m: date.fromisoformat(d) for m, d in snapshots.items()})


def save_store(zones: Zones, store: Store) -> None:
    """Write the next generation: its snapshot list, then its parquet (atomically: from then on it is current);
    then drop the older ones. A reader (the loader, dbt) takes the greatest generation with a parquet."""
    folder = versions_dir(zones, store.table) / "store"
    folder.mkdir(parents=True, exist_ok=True)
    gens = _generations(zones, store.table)
    gen = folder / f"gen-{int(gens[-1].stem.split('-')[1]) + 1 if gens else 1:08d}.parquet"
    snapshots = {m: d.isoformat() for m, d in sorted(store.snapshots.items())}
    write_text_atomic(gen.with_suffix(".snapshots.json"), json.dumps(snapshots, sort_keys=True))
    write_parquet_atomic(store.versions, gen)
    for old in gens:
        old.unlink(missing_ok=True)
        old.with_suffix(".snapshots.json").unlink(missing_ok=True)


def state_at(versions: pl.DataFrame, when: date) -> pl.DataFrame:
    """The versions valid on ``when``: the register as its snapshot of that date (or the one before) lists it."""
    return versions.filter(
        (pl.col("valid_from") <= when) & (pl.col("valid_to").is_null() | (pl.col("valid_to") > when))
    )


def _owners(index_of, md5s: list[str], key: str) -> pl.DataFrame:
    """Per key, the row of the greatest md5 among ``md5s`` (files of one date) that lists it."""
    frames = [index_of(m) for m in md5s]
    both = pl.concat(frames, how="vertical_relaxed") if frames else None
    if both is None or both.height == 0:
        return pl.DataFrame(schema={key: pl.String, "file_md5": pl.String})
    return both.sort("file_md5", descending=True).unique(subset=key, keep="first")


def apply_snapshot(store: Store, frame: pl.DataFrame, md5: str, data_date: date, index_of) -> Store:
    """``store`` with the snapshot ``frame`` (file ``md5``, dated ``data_date``) inserted at its date.

    ``index_of(snapshot_id)`` gives an already stored snapshot's key index (:func:`key_index`). The result is
    the same whatever order the snapshots come in.
    """
    table, key = store.table, VERSIONED[store.table]
    snap = snapshot_id(md5, data_date)
    if snap in store.snapshots:
        return store
    schema = SCHEMAS[table]
    rows = with_hash(resolve(frame.select(list(schema)), table), table)
    versions = store.versions
    same_day = [m for m, d in store.snapshots.items() if d == data_date]
    if same_day:
        # the date's listing is every file of that date, a key from the greatest md5 that lists it
        owner = _owners(index_of, same_day, key).select(key, pl.col("file_md5").alias("_owner"))
        wins = rows.join(owner, on=key, how="left").filter(pl.col("_owner").is_null() | (pl.col("_owner") < md5))
        old = state_at(versions, data_date).select(*schema, "content_hash").join(wins, on=key, how="anti")
        rows = pl.concat([old, wins.drop("_owner")], how="vertical_relaxed")
    later = [d for d in store.dates() if d > data_date]
    after = later[0] if later else None
    spans = (pl.col("valid_from") <= data_date) & (pl.col("valid_to").is_null() | (pl.col("valid_to") > data_date))
    covering, rest = versions.filter(spans), versions.filter(~spans)
    before = covering.filter(pl.col("valid_from") < data_date).with_columns(pl.lit(data_date).alias("valid_to"))
    pieces = [rest, before]
    if after is not None:
        # what was valid past the next snapshot stays so from there, on that snapshot's row
        tail = covering.filter(pl.col("valid_to").is_null() | (pl.col("valid_to") > after))
        if tail.height:
            at_next = [m for m, d in store.snapshots.items() if d == after]
            loc = _owners(index_of, at_next, key).select(key, *[c for c in _LOCATOR if c != "feed"])
            moved = tail.drop(*[c for c in _LOCATOR if c != "feed"]).join(loc, on=key, how="left")
            if moved["file_md5"].null_count():
                raise AssertionError(f"{table}: a version valid on {after} is not in that date's snapshots")
            pieces.append(moved.with_columns(pl.lit(after).alias("valid_from")))
    pieces.append(rows.with_columns(pl.lit(data_date).alias("valid_from"), pl.lit(after, pl.Date).alias("valid_to")))
    schema_v = version_schema(table)
    merged = pl.concat([p.select(list(schema_v)) for p in pieces], how="vertical_relaxed")
    return Store(table, _coalesce(merged, key).select(list(schema_v)), {**store.snapshots, snap: data_date})


def _coalesce(versions: pl.DataFrame, key: str) -> pl.DataFrame:
    """Adjacent versions of a key with equal content become one (the first one's row, the last one's end)."""
    if versions.height == 0:
        return versions
    ordered = versions.sort([key, "valid_from"])
    new_run = (
        (pl.col(key) != pl.col(key).shift(1))
        | (pl.col("content_hash") != pl.col("content_hash").shift(1))
        | pl.col("valid_to").shift(1).is_null()
        | (pl.col("valid_to").shift(1) != pl.col("valid_from"))
    ).fill_null(True)
    ordered = ordered.with_columns(new_run.cum_sum().alias("_run"))
    ends = ordered.group_by("_run").agg(pl.col("valid_to").last().alias("_end"))
    firsts = ordered.filter(new_run).join(ends, on="_run", how="left")
    return firsts.with_columns(pl.col("_end").alias("valid_to")).drop("_run", "_end").sort([key, "valid_from"])


def key_index(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """A snapshot's keys with their content hash and locator: one row per key."""
    key = VERSIONED[table]
    resolved = with_hash(resolve(frame.select(list(SCHEMAS[table])), table), table)
    return resolved.select(key, "content_hash", *[c for c in _LOCATOR if c != "feed"])


@dataclass(frozen=True)
class Changes:
    """A snapshot's rows against the register's state on the snapshot date before it."""

    unchanged: int
    changed: int
    new: int
    gone: int


def count_changes(store: Store, frame: pl.DataFrame, md5: str, data_date: date) -> Changes:
    """Every normalised row is unchanged, changed or new (a null key is new); keys listed before and not now
    are gone. Against the nearest earlier snapshot date, so a redone file counts the same."""
    table, key = store.table, VERSIONED[store.table]
    earlier = [d for d in store.snapshots.values() if d < data_date]
    before = (
        state_at(store.versions, max(earlier)).select(key, pl.col("content_hash").alias("_before"))
        if earlier
        else pl.DataFrame(schema={key: pl.String, "_before": pl.UInt64})
    )
    rows = with_hash(frame.select(list(SCHEMAS[table])), table).select(key, "content_hash")
    joined = rows.join(before, on=key, how="left")
    present = joined["_before"].is_not_null()
    unchanged = int((present & (joined["content_hash"] == joined["_before"])).sum())
    changed = int(present.sum()) - unchanged
    gone = before.join(rows.filter(pl.col(key).is_not_null()), on=key, how="anti").height
    return Changes(unchanged=unchanged, changed=changed, new=rows.height - int(present.sum()), gone=gone)


def record_snapshot(zones: Zones, table: str, md5: str, data_date: date, frame: pl.DataFrame) -> Changes:
    """Store a loaded snapshot: its key index, then the table's versions with it; returns what it changed.

    Called before the file's ledger row (the commit marker): a run killed in between redoes the file, and a
    snapshot already in the store is not inserted twice.
    """
    store = load_store(zones, table)
    changes = count_changes(store, frame, md5, data_date)

    def index_of(m: str) -> pl.DataFrame:
        return pl.read_parquet(_key_index_path(zones, table, m))

    updated = apply_snapshot(store, frame, md5, data_date, index_of)
    if updated is not store:
        save_store(zones, updated)
    # after the store: a key index names a snapshot the versions hold (dbt lists each snapshot's keys from them)
    write_parquet_atomic(key_index(frame, table), _key_index_path(zones, table, snapshot_id(md5, data_date)))
    return changes
