"""Visible schema copies of the zones' empty markers, for reading the zones on Spark (issue 25; docs/spark.md).

Every zone folder holds a zero-row ``_empty.parquet`` with the current schema (``zones.ensure_zones``), so a
reader's glob never fails and an older file lacking a column still reads. Spark's file index skips names
starting with ``_``: a folder whose only file is its marker (a feed not delivered yet) has no schema on Spark.
``prepare_spark_sources`` copies each marker to ``<home>/spark/schemas/<folder>/schema.parquet``, which the dbt
source macro's Spark glob reads beside the folder's files (dbt_project/macros/portable/sources.sql). The zones
themselves are not touched, so DuckDB's readers and file trackers see the same files as before.

Run it before a dbt build on Spark: ``python -m ingestion.spark_sources <home>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from ingestion.zones import write_parquet_atomic

MARKER = "_empty.parquet"


def schema_folder(home: Path) -> Path:
    """Where the copies go: under the home's Spark folder, beside Spark's warehouse and metastore."""
    return home / "spark" / "schemas"


def prepare_spark_sources(home: Path) -> list[Path]:
    """Copy every zone folder's empty marker to its visible schema copy; return the copies written.

    A copy is rewritten only when its schema differs from the marker's (a column added since), so the call
    is cheap on every run.
    """
    home = Path(home)
    out = schema_folder(home)
    written = []
    # a file that always exists, for the dbt macro that asks Spark whether a path exists (zhili_path_exists)
    anchor = out / "anchor"
    if not anchor.exists():
        out.mkdir(parents=True, exist_ok=True)
        anchor.write_bytes(b"")
    for marker in sorted(home.rglob(MARKER)):
        folder = marker.parent.relative_to(home)
        if folder.parts and folder.parts[0] == "spark":
            continue
        copy = out / folder / "schema.parquet"
        schema = pl.read_parquet_schema(marker)
        if copy.exists() and dict(pl.read_parquet_schema(copy)) == dict(schema):
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(pl.DataFrame(schema=schema), copy)
        written.append(copy)
    return written


if __name__ == "__main__":  # pragma: no cover - a command-line convenience
    if len(sys.argv) != 2:
        sys.exit("usage: python -m ingestion.spark_sources <home>")
    copies = prepare_spark_sources(Path(sys.argv[1]))
    print(f"{len(copies)} schema copies written under {schema_folder(Path(sys.argv[1]))}")
