"""The police register stored as versions (ingestion.versions) on a generated landing.

Weekly snapshots with the generator's mid-period grid reorganisation, loaded in date order, then newest
first one file at a time (each a late snapshot for the store) with a snapshot resent under a new name and
date (the same bytes: a duplicate, the same snapshot). The versions must be the same each time, each snapshot date's versions must be exactly what that
snapshot normalised to (a column its file lacked: the key's value on its last earlier snapshot), and every
ledger row must account for every row read with the new counts.
"""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ingestion.feeds import table_for_file
from ingestion.generator import generate
from ingestion.grid_index import address_prefixes, load_grid_index
from ingestion.landing import scan_landing
from ingestion.ledger import read_ledger
from ingestion.linkage.features import record_locator
from ingestion.normalise import Context, normalise
from ingestion.planner import ingest_landing
from ingestion.pseudonym import load_or_create_key
from ingestion.staging import data_date_of, load_staged
from ingestion.versions import (
    STATED_BY,
    adopt_version_records,
    load_store,
    resolve,
    snapshot_id,
    state_at,
    unstated_columns,
)
from ingestion.zones import Zones

TABLE = "police_population"
FEEDS = ["grid_registry", TABLE]


def _versions(zones: Zones) -> pl.DataFrame:
    return load_store(zones, TABLE).versions.sort("source_person_id", "valid_from")


def _district(tmp_path_factory, seed: int):
    out = tmp_path_factory.mktemp(f"versions{seed}")
    generate(out, residents=700, days=36, seed=seed)
    landing = out / "landing"
    zones = Zones(out / "in_order")
    key = load_or_create_key(zones.secret_file)
    outcomes = ingest_landing(landing, zones, key=key, feeds=FEEDS)
    return out, landing, key, zones, outcomes


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    return _district(tmp_path_factory, 4)


@pytest.fixture(scope="module")
def dropping(tmp_path_factory):
    """Seed 11: weeks whose exports leave out optional columns (所属派出所, 登记日期, 联系电话 ...)."""
    return _district(tmp_path_factory, 11)


@pytest.mark.parametrize("which", ["district", "dropping"])
def test_each_snapshot_date_is_what_a_full_read_of_its_file_gives(which, request):
    _, landing, key, zones, outcomes = request.getfixturevalue(which)
    loaded = [o for o in outcomes if o.feed == TABLE and o.status == "loaded"]
    assert len(loaded) >= 4
    store = load_store(zones, TABLE)
    landed = {f.name: f for f in scan_landing(landing).complete if f.feed == TABLE}
    dates = {o.file: data_date_of(landed[o.file], table_for_file(TABLE, o.file)) for o in loaded}
    assert store.snapshots == {snapshot_id(o.file_md5, dates[o.file]): dates[o.file] for o in loaded}
    versions = store.versions
    # fewer versions than snapshot rows: the point of storing changes
    rows = sum(o.rows_normalised for o in loaded)
    assert versions.height < rows / 2, (versions.height, rows)
    grid_index, prefixes = load_grid_index(zones), address_prefixes(zones)
    last = None  # per key, its row on the last snapshot date that listed it
    dropped = 0
    for o in sorted(loaded, key=lambda o: dates[o.file]):
        staged = load_staged(zones, landed[o.file], o.file_md5)
        ctx = Context(key=key, data_date=dates[o.file], grid_index=grid_index, address_prefixes=prefixes)
        full = normalise(staged.read.frame, staged.spec, ctx).frame
        expected = resolve(full, TABLE).drop("file", "file_md5", "record_no", "data_date", "sheet", "member_no")
        unstated = unstated_columns(TABLE, staged.read.absent_columns)
        dropped += bool(set(unstated) - set(STATED_BY[TABLE]["household_no"] + STATED_BY[TABLE]["relation_to_head"]))
        assert store.unstated.get(snapshot_id(o.file_md5, dates[o.file]), ()) == unstated
        if unstated and last is not None:
            expected = _carried(expected, last, unstated)
        got = state_at(versions, dates[o.file]).select(expected.columns)
        assert_frame_equal(got.sort("source_person_id"), expected.sort("source_person_id"))
        last = (
            expected if last is None else pl.concat([last.join(expected, on="source_person_id", how="anti"), expected])
        )
    # seed 11's weeks leave out optional columns: what is carried is tested
    assert dropped >= (3 if which == "dropping" else 0), dropped


def _carried(expected: pl.DataFrame, last: pl.DataFrame, unstated: tuple[str, ...]) -> pl.DataFrame:
    """``expected`` with the ``unstated`` columns of the keys ``last`` lists taken from it."""
    prev = last.select("source_person_id", *[pl.col(c).alias(f"_{c}") for c in unstated], pl.lit(True).alias("_has"))
    both = expected.join(prev, on="source_person_id", how="left", maintain_order="left")
    return both.select(
        pl.when(pl.col("_has")).then(pl.col(f"_{c}")).otherwise(pl.col(c)).alias(c) if c in unstated else pl.col(c)
        for c in expected.columns
    )


def test_the_ledger_accounts_for_every_row_with_the_change_counts(district):
    _, _, _, zones, outcomes = district
    ledger = read_ledger(zones).filter((pl.col("feed") == TABLE) & (pl.col("status") == "loaded"))
    assert ledger.height == len([o for o in outcomes if o.feed == TABLE and o.status == "loaded"])
    for row in ledger.iter_rows(named=True):
        versioned = row["rows_unchanged"] + row["rows_changed"] + row["rows_new"]
        assert versioned == row["rows_normalised"]
        assert versioned + row["rows_quarantined"] == row["records_read"]
    first = ledger.sort("file").row(0, named=True)
    assert first["rows_new"] == first["rows_normalised"] and first["rows_gone"] == 0
    later = ledger.sort("file").slice(1)
    # a weekly register mostly repeats itself (a week without an optional column, or the grid reorganisation,
    # changes many rows at once), and some persons change, arrive and leave
    assert later["rows_unchanged"].sum() > later["rows_changed"].sum() + later["rows_new"].sum()
    assert later["rows_changed"].sum() > 0 and later["rows_new"].sum() > 0 and later["rows_gone"].sum() > 0


@pytest.mark.parametrize("which", ["district", "dropping"])
def test_late_snapshots_and_a_resend_give_the_same_versions(which, request):
    out, landing, key, zones, outcomes = request.getfixturevalue(which)
    late = out / "late_landing"
    shutil.copytree(landing / "grid_registry", late / "grid_registry")
    other = Zones(out / "late")
    ingest_landing(late, other, key=key, feeds=FEEDS)
    # the snapshots as loaded (a week that repeats the week before's bytes is that file's resend, not a snapshot)
    loaded = {(o.folder, o.file) for o in outcomes if o.feed == TABLE and o.status == "loaded"}
    folders = sorted((p for p in (landing / TABLE).iterdir() if any(f[0] == p.name for f in loaded)), reverse=True)
    # newest first: every snapshot after the first to arrive is earlier than all the store holds
    for folder in folders:
        shutil.copytree(folder, late / TABLE / folder.name)
        ingest_landing(late, other, key=key, feeds=FEEDS)
    # and one resent under a new name and a later date: the same bytes are the same snapshot
    sent = next(p for p in folders[-1].iterdir() if p.suffix == ".csv")
    again = late / TABLE / "2099-01-01"
    again.mkdir()
    shutil.copy(sent, again / sent.name.replace(sent.stem.split("_")[1], "20990101"))
    shutil.copy(
        sent.with_name(sent.name + ".ok"), again / (sent.name.replace(sent.stem.split("_")[1], "20990101") + ".ok")
    )
    resent = ingest_landing(late, other, key=key, feeds=FEEDS)
    assert [o.status for o in resent if o.feed == TABLE] == ["duplicate"]
    assert_frame_equal(_versions(other), _versions(zones))
    assert load_store(other, TABLE).snapshots == load_store(zones, TABLE).snapshots
    # in date order a snapshot's person records are exactly its rows that begin a version; newest first, a
    # split version's later part is re-pointed at a row whose record is then added: never one missing
    in_order, newest_first = _version_records(zones), _version_records(other)
    assert in_order["record_locator"].sort().to_list() == _version_locators(zones)
    assert set(_version_locators(other)) <= set(newest_first["record_locator"])
    # (every snapshot arriving before all the others re-points every version: at worst a record per row)
    assert in_order.height < sum(o.rows_normalised for o in outcomes if o.feed == TABLE and o.status == "loaded") / 2


def _version_locators(zones: Zones) -> list[str]:
    return load_store(zones, TABLE).versions.select(record_locator()).to_series().sort().to_list()


def _version_records(zones: Zones) -> pl.DataFrame:
    """The register's person records (restricted/person_records), each checked to be its snapshot row's."""
    md5s = {snap.split("@")[0] for snap in load_store(zones, TABLE).snapshots}
    records = pl.concat([pl.read_parquet(zones.person_records(m)) for m in sorted(md5s)])
    every_row = pl.concat([pl.read_parquet(zones.snapshot_persons(m)) for m in sorted(md5s)])
    assert records.join(every_row, on=list(records.columns), how="anti", nulls_equal=True).is_empty()
    located = records.with_columns(record_locator().alias("record_locator"))
    assert located["record_locator"].is_unique().all(), "a register row has two person records"
    return located


def test_a_home_with_a_record_per_snapshot_row_is_brought_to_the_versions_grain(district, tmp_path):
    _, _, _, zones, _ = district
    copy = Zones(tmp_path / "home")
    shutil.copytree(zones.home, copy.home)
    md5s = sorted({snap.split("@")[0] for snap in load_store(copy, TABLE).snapshots})
    # as a home made before the register kept its records per version: every row's record in person_records
    for md5 in md5s:
        copy.snapshot_persons(md5).replace(copy.person_records(md5))
    assert _version_records(zones).height < pl.read_parquet([copy.person_records(m) for m in md5s]).height
    adopt_version_records(copy)
    assert_frame_equal(_version_records(copy), _version_records(zones))
    for md5 in md5s:  # and every row's record kept aside, as a new home keeps it
        assert_frame_equal(pl.read_parquet(copy.snapshot_persons(md5)), pl.read_parquet(zones.snapshot_persons(md5)))
    assert adopt_version_records(copy) == 0  # again: nothing more to do
    assert_frame_equal(_version_records(copy), _version_records(zones))
