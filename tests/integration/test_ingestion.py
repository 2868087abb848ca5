"""Ingestion end to end on a generated landing: conservation, idempotency, truth, corruption."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import shutil

import polars as pl
import pytest

from ingestion.feeds import normalise_header, table_for_file
from ingestion.generator import corrupt_landing, generate
from ingestion.ledger import read_ledger
from ingestion.planner import ingest_landing
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
    return (
        pl.read_parquet(sorted(folder.glob("*.parquet")), missing_columns="insert")
        if folder.exists()
        else pl.DataFrame()
    )


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
    bad = ledger.filter(
        (pl.col("status") == "loaded")
        & (pl.col("records_read") != pl.col("rows_normalised") + pl.col("rows_quarantined"))
    )
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
    share = records.select(
        pl.col("id_status").is_in(["valid", "upgraded_15", "foreign_valid", "rescued_cert"]).mean()
    ).item()
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
    joined = placed.join(
        events.select("feed", "file", "record_no", pl.col("grid_code").alias("true_grid"), "placement_hint"),
        on=["feed", "file", "record_no"],
        how="inner",
    )
    locatable = joined.filter(pl.col("placement_hint").is_in(["address_point", "coordinate"]))
    share = locatable.select((pl.col("grid_code") == pl.col("true_grid")).mean()).item()
    assert share >= 0.99, f"only {share:.3%} of locatable events in their true grid"


def test_logs_carry_no_personal_values(generated, tmp_path, caplog):
    zones = Zones(tmp_path / "home")
    with caplog.at_level(logging.DEBUG):
        ingest_landing(
            generated / "landing",
            zones,
            key=load_or_create_key(zones.secret_file),
            feeds=["grid_registry", "police_incidents"],
        )
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


def _blank_cells(path, blanks: dict[int, list[str]], key: str) -> dict[int, str]:
    """Empty the named cells of data records (1-based) in a delivered CSV; rewrite its flag (rows, md5).
    Returns record_no -> the record's key (column ``key``). Headers are found as the reader finds them
    (the generator shuffles columns and adds noise to header text)."""
    data = path.read_bytes()
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = data.decode("gb18030"), "gb18030"
    records = list(csv.reader(io.StringIO(text, newline="")))
    header = [normalise_header(h) for h in records[0]]
    for n, columns in blanks.items():
        for column in columns:
            records[n][header.index(normalise_header(column))] = ""
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(records)
    body = (b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b"") + out.getvalue().encode(encoding)
    path.write_bytes(body)
    path.with_name(path.name + ".ok").write_text(f"rows={len(records) - 1}\nmd5={hashlib.md5(body).hexdigest()}\n")
    return {n: records[n][header.index(normalise_header(key))] for n in blanks}


def _with_rows(landing, pattern: str, at_least: int):
    for path in sorted(landing.glob(pattern)):
        if int(path.with_name(path.name + ".ok").read_text().split("rows=")[1].split()[0]) >= at_least:
            return path
    raise AssertionError(f"no {pattern} with {at_least} rows in the generated landing")


def test_empty_required_values_other_than_key_and_time_keep_their_rows(generated, tmp_path):
    # feeds README, "Required is about columns": only the key and the dating time quarantine a row
    landing = tmp_path / "landing"
    for feed_slug in ("grid_registry", "police_incidents", "grid_events"):
        shutil.copytree(generated / "landing" / feed_slug, landing / feed_slug)
    calls = _with_rows(landing, "police_incidents/*/JQ_*.csv", 5)
    events = _with_rows(landing, "grid_events/*/SB_*.csv", 5)
    blanked = {
        ("police_incidents", calls.name): _blank_cells(
            calls,
            {1: ["警情类别"], 2: ["处警结果"], 3: ["反馈时间"], 4: ["警情类别", "处警结果", "反馈时间"]},
            "警情编号",
        ),
        ("grid_events", events.name): _blank_cells(
            events,
            {
                1: ["网格编码"],
                2: ["事件大类"],
                3: ["当前状态"],
                4: ["状态时间"],
                5: ["网格编码", "事件大类", "当前状态"],
            },
            "事件编号",
        ),
    }
    zones = Zones(tmp_path / "home")
    outcomes = ingest_landing(landing, zones, key=load_or_create_key(zones.secret_file))
    for o in outcomes:
        if o.status in ("loaded", "held"):
            assert o.is_balanced, o.rel
    by_file = {o.file: o for o in outcomes}
    for (feed_slug, file), keys in blanked.items():
        assert by_file[file].status == "loaded", (file, by_file[file].status, by_file[file].message)
        rows = _zone(zones.normalised(feed_slug)).filter(pl.col("file") == file)
        kept = dict(
            rows.select("record_no", "incident_id" if feed_slug == "police_incidents" else "event_id").iter_rows()
        )
        assert {n: kept.get(n) for n in keys} == keys
    calls_kept = _zone(zones.normalised("police_incidents")).filter(pl.col("file") == calls.name).sort("record_no")
    assert calls_kept.filter(pl.col("record_no") == 4).select("category", "outcome", "feedback_at").row(0) == (
        None,
        None,
        None,
    )
    events_kept = _zone(zones.normalised("grid_events")).filter(pl.col("file") == events.name).sort("record_no")
    # without the app's grid the event is placed by its address or coordinate, never "as reported"
    for n in (1, 5):
        row = events_kept.filter(pl.col("record_no") == n).select("grid_code_reported", "placement_method").row(0)
        assert row[0] is None and row[1] != "grid_code_reported"
    # what still quarantines is a key or a dating time, by name
    quarantine = pl.concat([_zone(p) for p in (zones.home / "quarantine").iterdir()], how="vertical_relaxed")
    missing = quarantine.filter(pl.col("reason") == "missing_required_field")
    for feed_slug, file, message in missing.select("feed", "file", "message").iter_rows():
        spec = table_for_file(feed_slug, file)
        assert any(f"({name}) is empty" in message for name in spec.stands_on), message
