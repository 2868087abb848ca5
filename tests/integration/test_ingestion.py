"""Ingestion end to end on a generated landing: conservation, idempotency, truth, corruption."""

from __future__ import annotations

import logging
import polars as pl
import pytest

from ingestion.generator import corrupt_landing, generate
from ingestion.pipeline import ingest_landing, read_ledger
from ingestion.pseudonym import load_or_create_key
from ingestion.zones import Zones
from tests.pii import citizen_ids, mobiles


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    generate(out, residents=2000, days=14, seed=7)
    return out


@pytest.fixture(scope="module")
def ingested(generated, tmp_path_factory):
    zones = Zones(tmp_path_factory.mktemp("home"))
    key = load_or_create_key(zones.secret_file)
    outcomes = ingest_landing(generated / "landing", zones, key=key)
    return zones, key, outcomes


def _zone(folder):
    return pl.read_parquet(sorted(folder.glob("*.parquet")), missing_columns="insert") if folder.exists() else pl.DataFrame()


def test_every_complete_file_is_loaded_and_balances(ingested, generated):
    zones, _, outcomes = ingested
    flagged = {p.with_suffix("") if p.suffix == ".ok" else p for p in (generated / "landing").rglob("*.ok")}
    loaded = [o for o in outcomes if o.status == "loaded"]
    assert {o.status for o in outcomes} <= {"loaded", "duplicate", "empty"}
    assert len(outcomes) == len(flagged)
    for o in outcomes:
        if o.status == "empty":
            assert o.flag_rows == 0 and o.message
    for o in loaded:
        assert o.is_balanced, f"{o.rel}: {o.records_read} != {o.rows_normalised} + {o.rows_quarantined}"
        assert o.records_read == o.flag_rows


def test_ledger_is_a_table_with_one_row_per_file(ingested):
    zones, _, outcomes = ingested
    ledger = read_ledger(zones)
    assert ledger.filter(pl.col("status") == "loaded").height == sum(o.status == "loaded" for o in outcomes)
    bad = ledger.filter((pl.col("status") == "loaded") & (pl.col("records_read") != pl.col("rows_normalised") + pl.col("rows_quarantined")))
    assert bad.is_empty()


def test_every_quarantined_row_says_why(ingested):
    zones, _, _ = ingested
    quarantine = pl.concat([_zone(p) for p in (zones.home / "quarantine").iterdir()], how="vertical_relaxed")
    assert quarantine.filter(pl.col("reason").is_null() | pl.col("message").is_null()).is_empty()


def test_running_again_changes_nothing(ingested, generated):
    zones, key, _ = ingested
    before = {p: p.stat().st_mtime_ns for p in zones.home.rglob("*.parquet")}
    again = ingest_landing(generated / "landing", zones, key=key)
    assert {o.status for o in again} <= {"unchanged", "duplicate", "empty"}
    after = {p: p.stat().st_mtime_ns for p in zones.home.rglob("*.parquet") if "ledger" not in p.parts}
    assert all(before.get(p) == m for p, m in after.items())


def test_main_tables_carry_no_raw_identifiers(ingested):
    zones, _, _ = ingested
    for folder in (zones.home / "normalised").iterdir():
        frame = _zone(folder)
        for name, dtype in frame.schema.items():
            if dtype == pl.String and name not in ("file", "file_md5", "geometry"):
                values = frame[name].drop_nulls().unique().to_list()
                assert not [v for v in values if citizen_ids(v)], f"{folder.name}.{name} holds citizen IDs"
                assert not [v for v in values if mobiles(v)], f"{folder.name}.{name} holds mobile numbers"


def test_valid_ids_match_truth(ingested, generated):
    zones, key, _ = ingested
    records = _zone(zones.person_records())
    truth = pl.read_parquet(generated / "truth" / "person_records.parquet")
    persons = pl.read_parquet(generated / "truth" / "persons.parquet")
    joined = records.join(truth, on=["feed", "file", "sheet", "record_no", "member_no"], how="left")
    assert joined["person_id"].null_count() < joined.height  # the locator joins the truth
    valid = joined.filter(pl.col("id_status").is_in(["valid", "upgraded_15"]) & pl.col("person_id").is_not_null())
    checked = valid.join(persons.select("person_id", pl.col("id_number").alias("true_id")), on="person_id")
    wrong = checked.filter(pl.col("id_number") != pl.col("true_id"))
    assert wrong.height == 0, f"{wrong.height} valid normalised IDs differ from the truth"
    share = records.select(pl.col("id_status").is_in(["valid", "upgraded_15", "foreign_valid", "rescued_cert"]).mean()).item()
    assert share > 0.8


def test_events_are_placed_in_their_true_grid(ingested, generated):
    zones, _, _ = ingested
    events = pl.read_parquet(generated / "truth" / "events.parquet")
    placed = pl.concat(
        [
            _zone(zones.normalised(t)).select("feed", "file", "record_no", "grid_code", "placement_method")
            for t in ("police_incidents", "grid_events")
        ]
    )
    joined = placed.join(events.select("feed", "file", "record_no", pl.col("grid_code").alias("true_grid"), "placement_hint"),
                         on=["feed", "file", "record_no"], how="inner")
    locatable = joined.filter(pl.col("placement_hint").is_in(["address_point", "coordinate"]))
    share = locatable.select((pl.col("grid_code") == pl.col("true_grid")).mean()).item()
    assert share >= 0.99, f"only {share:.3%} of locatable events in their true grid"


def test_logs_carry_no_personal_values(generated, tmp_path, caplog):
    zones = Zones(tmp_path / "home")
    with caplog.at_level(logging.DEBUG):
        ingest_landing(generated / "landing", zones, key=load_or_create_key(zones.secret_file), feeds=["grid_registry", "police_incidents"])
    assert caplog.records
    assert not citizen_ids(caplog.text)
    assert not mobiles(caplog.text)


@pytest.fixture(scope="module")
def corrupted(generated, tmp_path_factory):
    dst = tmp_path_factory.mktemp("bad") / "landing"
    done = corrupt_landing(generated / "landing", dst, seed=3)
    zones = Zones(tmp_path_factory.mktemp("badhome"))
    outcomes = ingest_landing(dst, zones, key=load_or_create_key(zones.secret_file))
    return done, zones, outcomes


def test_corrupted_landing_finishes_and_balances(corrupted):
    done, zones, outcomes = corrupted
    assert done
    for o in outcomes:
        if o.status in ("loaded", "held"):
            assert o.is_balanced, o.rel
        if o.status in ("rejected", "refused", "waiting", "duplicate", "held"):
            assert o.reason and o.message, o
    statuses = {o.status for o in outcomes}
    assert {"rejected", "refused", "waiting"} <= statuses


def test_rejections_name_the_file_and_never_a_value(corrupted):
    _, zones, outcomes = corrupted
    for o in outcomes:
        if o.status == "rejected":
            assert o.file in o.message
            assert not citizen_ids(o.message) and not mobiles(o.message)
