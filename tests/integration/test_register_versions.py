"""The police register stored as versions (ingestion.versions) on a generated landing.

Weekly snapshots with the generator's mid-period grid reorganisation, loaded in date order, then newest
first one file at a time (each a late snapshot for the store) with a snapshot resent under a new name and
date (the same bytes: a duplicate, the same snapshot). The versions must be the same each time, each snapshot date's versions must be exactly what that
snapshot normalised to, and every ledger row must account for every row read with the new counts.
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
from ingestion.normalise import Context, normalise
from ingestion.planner import ingest_landing
from ingestion.pseudonym import load_or_create_key
from ingestion.staging import data_date_of, load_staged
from ingestion.versions import load_store, resolve, snapshot_id, state_at
from ingestion.zones import Zones

TABLE = "police_population"
FEEDS = ["grid_registry", TABLE]


def _versions(zones: Zones) -> pl.DataFrame:
    return load_store(zones, TABLE).versions.sort("source_person_id", "valid_from")


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    out = tmp_path_factory.mktemp("versions")
    generate(out, residents=700, days=36, seed=4)
    landing = out / "landing"
    zones = Zones(out / "in_order")
    key = load_or_create_key(zones.secret_file)
    outcomes = ingest_landing(landing, zones, key=key, feeds=FEEDS)
    return out, landing, key, zones, outcomes


def test_each_snapshot_date_is_what_a_full_read_of_its_file_gives(district):
    _, landing, key, zones, outcomes = district
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
    for o in loaded:
        staged = load_staged(zones, landed[o.file], o.file_md5)
        ctx = Context(key=key, data_date=dates[o.file], grid_index=grid_index, address_prefixes=prefixes)
        full = normalise(staged.read.frame, staged.spec, ctx).frame
        expected = resolve(full, TABLE).drop("file", "file_md5", "record_no", "data_date", "sheet", "member_no")
        got = state_at(versions, dates[o.file]).select(expected.columns)
        assert_frame_equal(got.sort("source_person_id"), expected.sort("source_person_id"))


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


def test_late_snapshots_and_a_resend_give_the_same_versions(district):
    out, landing, key, zones, outcomes = district
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
