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

**A column a file lacks is not stated.** A week's export may leave out optional columns (feeds README: a
missing column is not an empty value); :data:`STATED_BY` says which content columns a source column
determines, and a snapshot's rows take those from the key's previous version (the last snapshot, before its
date, that listed the key) instead of the nulls the normaliser gives a column it never saw. So a version
changes only on a stated change, and the carried values follow the same rule in any arrival order: a late
snapshot's stated values reach on into the later snapshots that did not state them (:func:`_propagate`).
The store keeps each snapshot's unstated columns beside its date.

**A person record per version.** Linkage and the warehouse's person tables see a register at the version's
grain, not the snapshot row's (a person listed unchanged for a year is one record, not 52): a snapshot's
``restricted/person_records/<md5>.parquet`` holds the person records of its rows that a version of the store
is located at, and every row's record is kept aside in ``restricted/snapshot_persons/<md5>.parquet``
(:func:`write_version_records`). A late snapshot that splits a version re-points its later part at the next
snapshot's row: that row's record is then added to the next snapshot's file. Records are only ever added, so
a row that once began a version keeps its record (it is still a true row of the register, and a file's rows
only grow: the warehouse notices a grown file by its row count).

Per snapshot it also keeps a thin key index (key, content hash, locator) in
``<home>/versions/<table>/keys/<md5>@<date>.parquet``: enough to re-point a split version and to count
what a snapshot changed (:func:`count_changes`) without its full rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from ingestion.schemas import SCHEMAS, VERSION_LOCATOR, VERSIONED, key_index_schema, version_schema
from ingestion.zones import Zones, write_parquet_atomic, write_text_atomic

__all__ = [
    "VERSIONED",
    "Changes",
    "STATED_BY",
    "Store",
    "apply_snapshot",
    "key_index_schema",
    "count_changes",
    "load_store",
    "record_snapshot",
    "judged_under",
    "rows_to_judge",
    "snapshot_id",
    "state_at",
    "unstated_columns",
    "versions_dir",
    "write_version_records",
    "adopt_version_records",
]

#: Where a row was read from and when: not part of a version's content.
_LOCATOR = VERSION_LOCATOR


#: Per versioned table: a source column (snake_case, ingestion.feeds) -> the content columns it determines.
#: A file without that column states none of them (they carry the previous version's values). A column not
#: named here (the key, the required ones) is always in the file; one mapped to () reaches no content column.
STATED_BY: dict[str, dict[str, tuple[str, ...]]] = {
    "police_population": {
        "sex": ("sex",),
        "ethnicity": ("ethnicity",),
        "birth_date": ("birth_date",),
        "population_type": ("population_type",),
        "hukou_address": (),
        "address": (
            "address_canonical",
            "address_code",
            "grid_code",
            "community_code",
            "street_code",
            "placement_method",
        ),
        "phone": ("phone_masked", "phone_kind"),
        "police_station": ("police_station",),
        "registered_date": ("registered_date",),
        "status_changed_date": ("status_changed_date",),
        "household_no": ("household_key", "household_no_masked", "household_no_status"),
        "relation_to_head": ("relation_to_head", "is_relation_known"),
    },
}


def unstated_columns(table: str, absent: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The content columns a file lacking the source columns ``absent`` does not state, in schema order."""
    by = STATED_BY.get(table, {})
    hit = {c for a in absent or () for c in by.get(a, ())}
    return tuple(c for c in SCHEMAS[table] if c in hit)


def versions_dir(zones: Zones, table: str) -> Path:
    return zones.versions(table)


def snapshot_id(md5: str, data_date: date) -> str:
    """A snapshot: its bytes (the ledger's loaded file) on its date."""
    return f"{md5}@{data_date.isoformat()}"


def _key_index_path(zones: Zones, table: str, snap: str) -> Path:
    return versions_dir(zones, table) / "keys" / f"{snap}.parquet"


def _suite_path(zones: Zones, table: str, snap: str) -> Path:
    """The digest of the gate's suite that passed a snapshot (expectations.runner.suite_digest), beside its keys."""
    return versions_dir(zones, table) / "keys" / f"{snap}.suite"


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
    #: snapshot id -> the content columns its file did not state (only snapshots that lacked some)
    unstated: dict[str, tuple[str, ...]] = field(default_factory=dict)

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
    listed = json.loads(gens[-1].with_suffix(".snapshots.json").read_text())
    versions = pl.read_parquet(gens[-1])
    # {snapshot: date}, or (since columns a file lacks are not stated) {"snapshots": ..., "unstated": ...}
    snapshots, unstated = (listed["snapshots"], listed["unstated"]) if "unstated" in listed else (listed, {})
    return Store(
        table,
        versions,
        {m: date.fromisoformat(d) for m, d in snapshots.items()},
        {m: tuple(cols) for m, cols in unstated.items()},
    )


def save_store(zones: Zones, store: Store) -> None:
    """Write the next generation: its snapshot list, then its parquet (atomically: from then on it is current);
    then drop the older ones. A reader (the loader, dbt) takes the greatest generation with a parquet."""
    folder = versions_dir(zones, store.table) / "store"
    folder.mkdir(parents=True, exist_ok=True)
    gens = _generations(zones, store.table)
    gen = folder / f"gen-{int(gens[-1].stem.split('-')[1]) + 1 if gens else 1:08d}.parquet"
    listed = {
        "snapshots": {m: d.isoformat() for m, d in sorted(store.snapshots.items())},
        "unstated": {m: list(cols) for m, cols in sorted(store.unstated.items()) if cols},
    }
    write_text_atomic(gen.with_suffix(".snapshots.json"), json.dumps(listed, sort_keys=True))
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


def _previous(versions: pl.DataFrame, key: str, when: date) -> pl.DataFrame:
    """Per key, its last version starting before ``when``: its content is the key's on the last earlier
    snapshot that listed it (a version spanning ``when`` has one content throughout)."""
    return versions.filter(pl.col("valid_from") < when).sort(key, "valid_from").unique(subset=key, keep="last")


def _carry(rows: pl.DataFrame, previous: pl.DataFrame, table: str, unstated: tuple[str, ...]) -> pl.DataFrame:
    """``rows`` (schema columns and ``content_hash``) with the ``unstated`` columns taken from ``previous``
    where it has the key (a carried null included), rehashed; a key seen first keeps what it normalised to."""
    if not unstated or rows.height == 0 or previous.height == 0:
        return rows
    key = VERSIONED[table]
    prev = previous.select(key, *[pl.col(c).alias(f"_prev_{c}") for c in unstated], pl.lit(True).alias("_has"))
    filled = rows.join(prev, on=key, how="left", maintain_order="left").with_columns(
        pl.when(pl.col("_has")).then(pl.col(f"_prev_{c}")).otherwise(pl.col(c)).alias(c) for c in unstated
    )
    return with_hash(filled.select(list(SCHEMAS[table])), table)


def _put(versions: pl.DataFrame, rows: pl.DataFrame, when: date, after: date | None, locate_after) -> pl.DataFrame:
    """``versions`` with ``rows`` valid on ``[when, after)``: every version spanning ``when`` is cut there (a key
    not in ``rows`` has none valid on ``when``: gone), and what was valid past ``after`` stays so from
    ``after``, re-pointed at the row ``locate_after()`` gives (key and locator of that date's snapshot)."""
    spans = (pl.col("valid_from") <= when) & (pl.col("valid_to").is_null() | (pl.col("valid_to") > when))
    covering, rest = versions.filter(spans), versions.filter(~spans)
    before = covering.filter(pl.col("valid_from") < when).with_columns(pl.lit(when).alias("valid_to"))
    pieces = [rest, before]
    if after is not None:
        # what was valid past the next snapshot stays so from there, on that snapshot's row
        tail = covering.filter(pl.col("valid_to").is_null() | (pl.col("valid_to") > after))
        if tail.height:
            loc = locate_after()
            moved = tail.drop(*[c for c in _LOCATOR if c != "feed"]).join(loc, on=loc.columns[0], how="left")
            if moved["file_md5"].null_count():
                raise AssertionError(f"a version valid on {after} is not in that date's snapshots")
            pieces.append(moved.with_columns(pl.lit(after).alias("valid_from")))
    pieces.append(rows.with_columns(pl.lit(when).alias("valid_from"), pl.lit(after, pl.Date).alias("valid_to")))
    columns = list(versions.columns)
    return pl.concat([p.select(columns) for p in pieces], how="vertical_relaxed")


def _locator_of(index_of, snaps: list[str], key: str) -> pl.DataFrame:
    """Per key, the locator of the row that lists it on a date whose snapshots are ``snaps``."""
    return _owners(index_of, snaps, key).select(key, *[c for c in _LOCATOR if c != "feed"])


def apply_snapshot(
    store: Store, frame: pl.DataFrame, md5: str, data_date: date, index_of, unstated: tuple[str, ...] = ()
) -> Store:
    """``store`` with the snapshot ``frame`` (file ``md5``, dated ``data_date``) inserted at its date.

    ``index_of(snapshot_id)`` gives an already stored snapshot's key index (:func:`key_index`); ``unstated``
    are the content columns the file did not state (:func:`unstated_columns`). The result is the same
    whatever order the snapshots come in.
    """
    table, key = store.table, VERSIONED[store.table]
    snap = snapshot_id(md5, data_date)
    if snap in store.snapshots:
        return store
    schema = SCHEMAS[table]
    unstated = tuple(unstated)
    versions = store.versions
    rows = with_hash(resolve(frame.select(list(schema)), table), table)
    if unstated:  # the key's last version before the date: only when the file lacks a column
        rows = _carry(rows, _previous(versions, key, data_date), table, unstated)
    same_day = [m for m, d in store.snapshots.items() if d == data_date]
    if same_day:
        # the date's listing is every file of that date, a key from the greatest md5 that lists it
        owner = _owners(index_of, same_day, key).select(key, pl.col("file_md5").alias("_owner"))
        wins = rows.join(owner, on=key, how="left").filter(pl.col("_owner").is_null() | (pl.col("_owner") < md5))
        old = state_at(versions, data_date).select(*schema, "content_hash").join(wins, on=key, how="anti")
        rows = pl.concat([old, wins.drop("_owner")], how="vertical_relaxed")
    later = [d for d in store.dates() if d > data_date]
    after = later[0] if later else None

    def locate_after() -> pl.DataFrame:
        return _locator_of(index_of, [m for m, d in store.snapshots.items() if d == after], key)

    placed = _put(versions.select(list(version_schema(table))), rows, data_date, after, locate_after)
    updated = Store(
        table,
        _coalesce(placed, key).select(list(version_schema(table))),
        {**store.snapshots, snap: data_date},
        {**store.unstated, **({snap: unstated} if unstated else {})},
    )
    if not any(cols for m, cols in store.unstated.items() if store.snapshots[m] > data_date):
        return updated  # no later snapshot carries a value from before it
    return _propagate(updated, data_date, rows.select(key), index_of)


def _propagate(store: Store, when: date, keys: pl.DataFrame, index_of) -> Store:
    """Carry what ``keys`` are on ``when`` on into the later snapshots that did not state some columns.

    A later snapshot listing a key takes its unstated columns from the key's row on the last date before it
    that lists it; when that row changed (a late snapshot inserted before it), so does the later one, and so on
    until a snapshot states the columns or the carried row is what it was already.
    """
    table, key = store.table, VERSIONED[store.table]
    content = content_columns(table)
    versions = store.versions
    frontier = state_at(versions, when).join(keys, on=key, how="semi").select(content)
    dates = [d for d in store.dates() if d > when]
    touched = False
    for i, day in enumerate(dates):
        if frontier.height == 0:
            break
        snaps = sorted(m for m, d in store.snapshots.items() if d == day)
        present = state_at(versions, day).join(frontier.select(key), on=key, how="semi")
        if not any(store.unstated.get(m) for m in snaps):
            frontier = frontier.join(present.select(key), on=key, how="anti")
            continue
        schema = [*SCHEMAS[table], "content_hash"]
        owners = _owners(index_of, snaps, key).select(key, "file_md5")
        changed = []
        for m in snaps:
            mine = present.join(owners.filter(pl.col("file_md5") == m.split("@")[0]), on=key, how="semi")
            unstated = store.unstated.get(m, ())
            if not unstated or mine.height == 0:
                continue
            new = _carry(mine.select(schema), frontier, table, unstated)
            changed.append(new.join(mine.select(key, pl.col("content_hash").alias("_old")), on=key))
        moved = (
            pl.concat(changed, how="vertical_relaxed").filter(pl.col("content_hash") != pl.col("_old")).drop("_old")
            if changed
            else pl.DataFrame(schema={**SCHEMAS[table], "content_hash": pl.UInt64})
        )
        frontier = pl.concat(
            [frontier.join(present.select(key), on=key, how="anti"), moved.select(content)],
            how="vertical_relaxed",
        )
        if moved.height == 0:
            continue
        # the restated rows are that date's own rows: its snapshot's locators
        here = _locator_of(index_of, snaps, key)
        moved = moved.drop(*[c for c in _LOCATOR if c != "feed"]).join(here, on=key, how="left")
        after = dates[i + 1] if i + 1 < len(dates) else None

        def locate_after(after=after) -> pl.DataFrame:
            return _locator_of(index_of, [m for m, d in store.snapshots.items() if d == after], key)

        mine = versions.join(moved.select(key), on=key, how="semi")
        others = versions.join(moved.select(key), on=key, how="anti")
        placed = _put(mine, moved.select(schema), day, after, locate_after)
        versions = pl.concat([others, _coalesce(placed, key).select(versions.columns)], how="vertical_relaxed")
        touched = True
    if not touched:
        return store
    return Store(table, versions.sort([key, "valid_from"]), store.snapshots, store.unstated)


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


def count_changes(
    store: Store, frame: pl.DataFrame, md5: str, data_date: date, unstated: tuple[str, ...] = ()
) -> Changes:
    """Every normalised row is unchanged, changed or new (a null key is new); keys listed before and not now
    are gone. Against the nearest earlier snapshot date, so a redone file counts the same; a column the file
    did not state (``unstated``) is the key's previous value, so it changes nothing."""
    key = VERSIONED[store.table]
    joined = _against_before(store, frame, data_date, unstated)
    present = joined["_before"].is_not_null()
    unchanged = int((present & (joined["content_hash"] == joined["_before"])).sum())
    changed = int(present.sum()) - unchanged
    earlier = [d for d in store.snapshots.values() if d < data_date]
    gone = (
        state_at(store.versions, max(earlier)).join(joined.filter(pl.col(key).is_not_null()), on=key, how="anti").height
        if earlier
        else 0
    )
    return Changes(unchanged=unchanged, changed=changed, new=joined.height - int(present.sum()), gone=gone)


def _against_before(store: Store, frame: pl.DataFrame, data_date: date, unstated: tuple[str, ...]) -> pl.DataFrame:
    """Per row of ``frame`` (in its order): its key, its content hash (unstated columns carried) and
    ``_before``, the key's content hash on the nearest earlier snapshot date (null: not listed then)."""
    table, key = store.table, VERSIONED[store.table]
    earlier = [d for d in store.snapshots.values() if d < data_date]
    before = (
        state_at(store.versions, max(earlier)).select(key, pl.col("content_hash").alias("_before"))
        if earlier
        else pl.DataFrame(schema={key: pl.String, "_before": pl.UInt64})
    )
    rows = with_hash(frame.select(list(SCHEMAS[table])), table)
    if unstated:
        rows = _carry(rows, _previous(store.versions, key, data_date), table, tuple(unstated))
    return rows.select(key, "content_hash").join(before, on=key, how="left", maintain_order="left")


def rows_to_judge(
    zones: Zones, table: str, md5: str, data_date: date, frame: pl.DataFrame, absent: list[str] | None = None
) -> pl.Series | None:
    """Per row of a normalised snapshot: True when a gate must judge it row by row, being new (or keyless) or
    changed against the snapshot date before; None when no snapshot is stored before it (every row is new).

    An unchanged row is, in every content column, the row the snapshot before listed (or what a column the
    file lacks carries), and that snapshot passed the gate: only held files stay out of the versions.
    """
    store = load_store(zones, table)
    if not any(d < data_date for d in store.snapshots.values()):
        return None
    joined = _against_before(store, frame, data_date, unstated_columns(table, absent))
    return (joined["_before"].is_null() | (joined["content_hash"] != joined["_before"])).fill_null(True).alias("judge")


def judged_under(zones: Zones, table: str, data_date: date) -> str | None:
    """The gate's suite that passed every snapshot of the nearest date before ``data_date``, when they agree.

    A snapshot judged by its changes trusts its unchanged rows to what the snapshot before passed; that holds
    only under the same suite. None (judge every row) when no snapshot is before it, when one of that date's
    snapshots was loaded without a gate, or when they were passed by different suites.
    """
    store = load_store(zones, table)
    earlier = [d for d in store.snapshots.values() if d < data_date]
    if not earlier:
        return None
    digests = set()
    for snap in (m for m, d in store.snapshots.items() if d == max(earlier)):
        path = _suite_path(zones, table, snap)
        digests.add(path.read_text().strip() if path.exists() else None)
    return digests.pop() if len(digests) == 1 else None


def record_snapshot(
    zones: Zones,
    table: str,
    md5: str,
    data_date: date,
    frame: pl.DataFrame,
    absent: list[str] | None = None,
    suite: str | None = None,
) -> Changes:
    """Store a loaded snapshot: its key index, then the table's versions with it; returns what it changed.

    ``absent`` are the source columns the file lacked (ingestion.readers ``absent_columns``): not stated.
    ``suite`` is the digest of the gate's suite that passed it (None: loaded without a gate); the next
    snapshot's gate trusts this one's rows only under the same suite (:func:`judged_under`).
    Called before the file's ledger row (the commit marker): a run killed in between redoes the file, and a
    snapshot already in the store is not inserted twice.
    """
    store = load_store(zones, table)
    unstated = unstated_columns(table, absent)
    changes = count_changes(store, frame, md5, data_date, unstated)

    def index_of(m: str) -> pl.DataFrame:
        return pl.read_parquet(_key_index_path(zones, table, m))

    updated = apply_snapshot(store, frame, md5, data_date, index_of, unstated)
    if updated is not store:
        save_store(zones, updated)
    snap = snapshot_id(md5, data_date)
    # before the key index: a run killed between them redoes the file, and writes both again
    suite_file = _suite_path(zones, table, snap)
    if suite is None:
        suite_file.unlink(missing_ok=True)
    else:
        write_text_atomic(suite_file, suite)
    # after the store: a key index names a snapshot the versions hold (dbt lists each snapshot's keys from them)
    write_parquet_atomic(key_index(frame, table), _key_index_path(zones, table, snap))
    return changes


def _locator() -> pl.Expr:
    from ingestion.linkage.features import record_locator

    return record_locator().alias("record_locator")


def write_version_records(zones: Zones, table: str) -> int:
    """Give every version of ``table``'s store its person record in ``restricted/person_records``: the record of
    the row the version is located at, taken from that snapshot's ``restricted/snapshot_persons`` file and added
    to its ``person_records`` file when missing (a snapshot no version is located at gets an empty one); returns
    how many records were added.

    Idempotent (a redone file adds nothing more), and monotone: a record is never taken out.
    """
    store = load_store(zones, table)
    files = sorted({snap.split("@", 1)[0] for snap in store.snapshots})
    if not files:
        return 0
    wanted = store.versions.select("file_md5", _locator()).unique()
    held = [zones.person_records(m) for m in files if zones.person_records(m).exists()]
    if held:
        recorded = pl.scan_parquet(held, missing_columns="insert").select(_locator()).collect()
        wanted = wanted.join(recorded, on="record_locator", how="anti")
    added = 0
    for md5 in files:
        source, target = zones.snapshot_persons(md5), zones.person_records(md5)
        missing = wanted.filter(pl.col("file_md5") == md5)
        if not source.exists() or (missing.is_empty() and target.exists()):
            continue  # nothing to add (or a snapshot loaded before its rows' records were kept aside)
        rows = (
            pl.read_parquet(source)
            .with_columns(_locator())
            .join(missing.select("record_locator"), on="record_locator", how="semi", maintain_order="left")
            .drop("record_locator")
        )
        if target.exists():
            rows = pl.concat([pl.read_parquet(target), rows], how="vertical_relaxed")
        write_parquet_atomic(rows.sort("record_no", maintain_order=True), target)
        added += missing.height
    return added


def adopt_version_records(zones: Zones) -> int:
    """Bring a home whose register kept a person record per snapshot row to the version's grain (``zhili run``
    and ``ingest_landing`` call it first): each stored snapshot's ``person_records`` file moves aside to
    ``snapshot_persons`` and :func:`write_version_records` writes its versions' records. Cheap when there is
    nothing to do (the snapshot list, and a look for each file); safe to stop anywhere and call again. Returns
    how many records it wrote. Until it has run, linkage reads a record per row, which links the same."""
    return sum(_adopt(zones, table) for table in VERSIONED)


def _adopt(zones: Zones, table: str) -> int:
    gens = _generations(zones, table)
    if not gens:
        return 0
    listed = json.loads(gens[-1].with_suffix(".snapshots.json").read_text())
    md5s = {snap.split("@", 1)[0] for snap in (listed["snapshots"] if "unstated" in listed else listed)}
    pending = False
    for md5 in sorted(md5s):
        records, aside = zones.person_records(md5), zones.snapshot_persons(md5)
        if records.exists() and not aside.exists():
            aside.parent.mkdir(parents=True, exist_ok=True)
            records.rename(aside)
        pending = pending or not records.exists()
    return write_version_records(zones, table) if pending else 0
