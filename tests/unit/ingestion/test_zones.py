"""ensure_zones: every zone readable by a glob, with the current schema even in an older home."""

from __future__ import annotations

import os

import polars as pl
import pytest

from ingestion.schemas import PERSON_RECORDS
from ingestion.zones import Zones, ensure_zones, write_text_atomic


def test_empty_file_of_an_older_home_gets_the_columns_added_since(tmp_path):
    zones = Zones(tmp_path / "home")
    ensure_zones(zones)
    empty = zones.person_records() / "_empty.parquet"
    pl.DataFrame(schema={k: v for k, v in PERSON_RECORDS.items() if k != "phones"}).write_parquet(empty)

    ensure_zones(zones)

    assert dict(pl.read_parquet_schema(empty)) == dict(PERSON_RECORDS)


def test_current_empty_files_are_left_alone(tmp_path):
    zones = Zones(tmp_path / "home")
    ensure_zones(zones)
    empty = zones.person_records() / "_empty.parquet"
    before = empty.stat().st_mtime_ns
    ensure_zones(zones)
    assert empty.stat().st_mtime_ns == before


def test_write_text_atomic_replaces_whole_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "state" / "warehouse_code.sha256"
    write_text_atomic(path, "old")
    write_text_atomic(path, "新的")
    assert path.read_text(encoding="utf-8") == "新的"

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_text_atomic(path, "half")
    assert path.read_text(encoding="utf-8") == "新的"
    assert sorted(p.name for p in path.parent.iterdir()) == ["warehouse_code.sha256"]
