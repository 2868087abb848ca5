"""What the generator's truth says the warehouse should show: for tests and benchmarks, never the pipeline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

__all__ = ["residents_per_grid", "residents_per_grid_against"]


def residents_per_grid(truth: Path) -> pl.DataFrame:
    """``grid_code``, ``truth``: residents in the latest police snapshot still 在册 on its date, by current true grid.

    A person's current grid is the grid their address point lies in after the reorganisation
    (address_points.grid_after): a split grid sends its people to either successor, and a building
    reassigned between two existing grids moves its people with no retired code at all, so
    grids.merged_into alone cannot say where they are now. (An event's true grid is the one of its
    day: events.grid_code, from ``district.grid_at``.)
    """
    persons = pl.read_parquet(truth / "persons.parquet")
    points = pl.read_parquet(truth / "address_points.parquet").select("address_code", "grid_after")
    records = pl.scan_parquet(truth / "person_records.parquet").filter(pl.col("feed") == "police_population")
    latest_file = records.select(pl.col("file").max()).collect().item()
    snapshot = datetime.strptime(latest_file.split("_")[1][:8], "%Y%m%d").date()
    in_snapshot = records.filter(pl.col("file") == latest_file).select("person_id").unique().collect()
    return (
        persons.join(in_snapshot, on="person_id")
        .filter(pl.col("left_on").is_null() | (pl.col("left_on") > snapshot))
        .join(points, on="address_code", how="left")
        .with_columns(pl.coalesce("grid_after", "grid_code").alias("grid_code"))
        .group_by("grid_code").agg(pl.len().alias("truth"))
    )


def residents_per_grid_against(truth: Path, con) -> pl.DataFrame:
    """``grid_code``, ``truth``, ``mart``: the truth's residents per grid beside ``marts.dim_resident``'s
    (register persons, one row per ``person_key``) on an open DuckDB connection to a serving file."""
    got = con.sql("select grid_code, count(*)::int as mart from marts.dim_resident "
                  "where is_in_police_register group by grid_code").pl()
    return (
        residents_per_grid(truth).join(got, on="grid_code", how="full", coalesce=True)
        .fill_null(0).sort("grid_code")
    )
