"""The zones' schema copies for Spark (``ingestion.spark_sources``): one visible copy per empty marker, with the
marker's schema and no rows, rewritten only when the marker's schema changes, the zones untouched."""

from __future__ import annotations

import polars as pl

from ingestion.spark_sources import MARKER, prepare_spark_sources, schema_folder
from ingestion.zones import Zones, ensure_zones


def _files(home):
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_every_marker_gets_a_visible_copy_with_its_schema(tmp_path):
    zones = Zones(tmp_path / "home")
    ensure_zones(zones)
    before = _files(zones.home)
    markers = sorted(zones.home.rglob(MARKER))
    assert markers, "ensure_zones writes the empty markers"

    written = prepare_spark_sources(zones.home)

    assert len(written) == len(markers)
    for marker in markers:
        copy = schema_folder(zones.home) / marker.parent.relative_to(zones.home) / "schema.parquet"
        assert not copy.name.startswith(("_", "."))  # Spark's file index would skip it
        assert dict(pl.read_parquet_schema(copy)) == dict(pl.read_parquet_schema(marker))
        assert pl.read_parquet(copy).height == 0
    # nothing outside <home>/spark/ was written
    assert [f for f in _files(zones.home) if not f.startswith("spark/")] == before
    # and the file that always exists, for the dbt macro asking Spark whether a path does (zhili_path_exists)
    assert (schema_folder(zones.home) / "anchor").is_file()


def test_a_copy_is_rewritten_only_when_its_marker_changes(tmp_path):
    zones = Zones(tmp_path / "home")
    ensure_zones(zones)
    prepare_spark_sources(zones.home)
    assert prepare_spark_sources(zones.home) == []

    marker = zones.ledger / MARKER
    schema = dict(pl.read_parquet_schema(marker)) | {"added_later": pl.String}
    pl.DataFrame(schema=schema).write_parquet(marker)
    rewritten = prepare_spark_sources(zones.home)

    assert rewritten == [schema_folder(zones.home) / "ledger" / "schema.parquet"]
    assert "added_later" in pl.read_parquet_schema(rewritten[0])
    # the copies themselves are never taken for markers
    assert not list(schema_folder(zones.home).rglob(MARKER))
