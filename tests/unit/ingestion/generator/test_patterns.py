"""Injected patterns: recorded in the truth, present in the feeds, deterministic, and switchable off."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from ingestion.generator import generate
from ingestion.generator.patterns import PATTERN_SCHEMA

PATTERNS = {"repeat_petitioner", "collective_forming", "grid_spike", "escalated_dispute", "vulnerable_police"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    generate(out, residents=2000, days=14, seed=5)
    return out


def _truth(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "truth" / "patterns.parquet")


def _petition_lines(out: Path) -> list[dict]:
    lines = []
    for p in sorted((out / "landing" / "petitions").glob("*/*.jsonl")):
        data = p.read_bytes()
        try:
            text_all = data.decode("utf-8")
        except UnicodeDecodeError:  # the seed may have switched a file to GB18030 (truth/faults.parquet)
            text_all = data.decode("gb18030")
        for text in text_all.splitlines():
            try:
                lines.append(json.loads(text))
            except json.JSONDecodeError:
                pass
    return lines


def test_every_pattern_is_recorded_with_the_truth_schema(run):
    t = _truth(run)
    assert dict(t.schema) == PATTERN_SCHEMA
    assert set(t["pattern"]) == PATTERNS
    assert t.filter(pl.col("grid_code").is_null()).height == 0


def test_repeat_petitioner_is_one_person_three_times_within_90_days_on_one_matter(run):
    t = _truth(run).filter(pl.col("pattern") == "repeat_petitioner")
    assert t["record_key"].n_unique() >= 3
    assert t["person_id"].n_unique() == 1
    assert t["category"].n_unique() == 1
    assert (t["last_date"][0] - t["first_date"][0]) <= dt.timedelta(days=90)


def test_collective_petition_is_five_petitions_one_category_one_community_within_7_days(run):
    t = _truth(run).filter(pl.col("pattern") == "collective_forming")
    assert t["record_key"].n_unique() >= 5
    assert t["community_code"].n_unique() == 1 and t["category"].n_unique() == 1
    assert (t["last_date"][0] - t["first_date"][0]) < dt.timedelta(days=7)


def test_spike_is_one_grid_one_day_one_category(run):
    t = _truth(run).filter(pl.col("pattern") == "grid_spike")
    assert t.height >= 10
    assert t["grid_code"].n_unique() == 1 and t["record_date"].n_unique() == 1 and t["category"].n_unique() == 1
    # the grid has at least 7 days of history before the spike
    assert (t["record_date"][0] - dt.date(2024, 11, 1)).days >= 7


def test_escalated_dispute_reappears_with_the_same_people(run):
    t = _truth(run).filter(pl.col("pattern") == "escalated_dispute")
    dispute = t.filter(pl.col("feed") == "grid_events")
    later = t.filter(pl.col("feed") != "grid_events")
    assert dispute.height >= 1 and later.height >= 1
    assert set(later["person_id"]) <= set(dispute["person_id"])
    assert later["record_date"].min() > dispute["record_date"].max()


def test_vulnerable_resident_is_80_plus_and_on_the_living_alone_roll(run):
    t = _truth(run).filter(pl.col("pattern") == "vulnerable_police")
    persons = pl.read_parquet(run / "truth" / "persons.parquet")
    who = persons.filter(pl.col("person_id") == t["person_id"][0])
    age = (t["record_date"][0] - who["birth_date"][0]).days / 365.25
    assert age >= 80
    records = pl.read_parquet(run / "truth" / "person_records.parquet").filter(
        (pl.col("sheet") == "独居空巢老人") & (pl.col("person_id") == t["person_id"][0])
    )
    assert records.height >= 1 and set(records["id_fault"]) == {"none"}


def test_injected_petitions_are_in_the_landing_with_clean_ids(run):
    keys = set(_truth(run).filter(pl.col("feed") == "petitions")["record_key"])
    seen = {line["xfjbh"]: line for line in _petition_lines(run) if line["xfjbh"] in keys}
    assert set(seen) == keys
    assert all(len(p["zjhm"]) == 18 for line in seen.values() for p in line["xfr"])


def test_patterns_can_be_switched_off_and_nothing_is_injected(tmp_path):
    out = tmp_path / "plain"
    generate(out, residents=2000, days=14, seed=5, patterns=False)
    assert _truth(out).height == 0
    assert not any(line["xfjbh"][-4:].startswith("90") for line in _petition_lines(out))


def test_small_runs_get_no_patterns(tmp_path):
    generate(tmp_path / "small", residents=500, days=14, seed=5)
    assert _truth(tmp_path / "small").height == 0


def test_patterns_are_deterministic(run, tmp_path):
    again = tmp_path / "again"
    generate(again, residents=2000, days=14, seed=5)
    assert _truth(again).equals(_truth(run))
