"""What the generator's truth says the warehouse should show: for tests and benchmarks, never the pipeline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

__all__ = [
    "household_members",
    "household_members_against",
    "register_rows_linked",
    "residents_per_grid",
    "residents_per_grid_against",
]


def register_rows_linked(home: Path, con) -> pl.DataFrame:
    """``file``, ``record_no``, ``source_key``, ``person_key``: every register row a home loaded (its normalised
    zone) with the person linkage gave it, read from ``marts.person_source_links`` on an open serving connection.

    The register's person records are one per version (ingestion.versions), not one per weekly row: a row's
    person is its 人员编号's latest record on or before the row's snapshot date (the version valid then).
    """
    rows = (
        pl.scan_parquet(home / "normalised" / "police_population" / "*.parquet")
        .select("file", "record_no", "source_person_id", "data_date")
        .filter(pl.col("source_person_id").is_not_null())
        .collect()
        .sort("data_date")
    )
    links = (
        con.sql(
            "select source_key, data_date, person_key from marts.person_source_links "
            "where feed = 'police_population' and source_key is not null"
        )
        .pl()
        .sort("data_date")
    )
    return rows.join_asof(
        links,
        on="data_date",
        by_left="source_person_id",
        by_right="source_key",
        strategy="backward",
        check_sortedness=False,  # both sorted by data_date above
    ).select("file", "record_no", pl.col("source_person_id").alias("source_key"), "person_key")


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
        .group_by("grid_code")
        .agg(pl.len().alias("truth"))
    )


def residents_per_grid_against(truth: Path, con) -> pl.DataFrame:
    """``grid_code``, ``truth``, ``mart``: the truth's residents per grid beside ``marts.dim_resident``'s
    (register persons, one row per ``person_key``) on an open DuckDB connection to a serving file."""
    got = con.sql(
        "select grid_code, count(*)::int as mart from marts.dim_resident where is_in_police_register group by grid_code"
    ).pl()
    return residents_per_grid(truth).join(got, on="grid_code", how="full", coalesce=True).fill_null(0).sort("grid_code")


# --- households (户号) ------------------------------------------------------------------------------


def household_members(truth: Path) -> pl.DataFrame:
    """``household_no``, ``person_id``, ``file``, ``record_no``, ``household_entity_no`` (the household followed
    across a move: the 户号 it was first seen with): who is in each 户号 household as of the latest
    register snapshot: register persons with a 户口簿 household who are listed in it and have not left by its
    date (one row per register entry, so a person entered twice has two rows). Empty when the register never
    exported household columns in the period."""
    hh = pl.read_parquet(truth / "households.parquet")
    records = pl.scan_parquet(truth / "person_records.parquet").filter(pl.col("feed") == "police_population")
    latest_file = records.select(pl.col("file").max()).collect().item()
    snapshot = datetime.strptime(latest_file.split("_")[1][:8], "%Y%m%d").date()
    if hh.height == 0 or hh["exported_from"][0] is None or hh["exported_from"][0] > snapshot:
        return pl.DataFrame(
            schema={
                "household_no": pl.String,
                "person_id": pl.Int64,
                "file": pl.String,
                "record_no": pl.Int64,
                "household_entity_no": pl.String,
            }
        )
    persons = pl.read_parquet(truth / "persons.parquet").select("person_id", "left_on")
    listed = records.filter(pl.col("file") == latest_file).select("person_id", "file", "record_no").collect()
    return (
        hh.join(persons, on="person_id")
        .filter(pl.col("left_on").is_null() | (pl.col("left_on") > snapshot))
        .join(listed, on="person_id")
        .select("household_no", "person_id", "file", "record_no", "household_entity_no")
    )


def household_members_against(truth: Path, home: Path, con, key: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The truth's current (household, member) pairs and ``marts.bridge_household_member``'s, both as
    ``household_key``, ``member_id`` (person_key, else ``register:<人员编号>``), on an open connection to
    ``home``'s serving file; ``key`` is the home's pseudonym key (household keys are keyed like person keys)."""
    from ingestion.pseudonym import person_key

    links = register_rows_linked(home, con)
    want = (
        household_members(truth)
        .join(links, on=["file", "record_no"], how="left")
        .select(
            # the household followed across its numbers: keyed by the 户号 it was first seen with
            person_key(pl.concat_str(pl.lit("户号:"), pl.col("household_entity_no")), key).alias("household_key"),
            pl.coalesce("person_key", pl.concat_str(pl.lit("register:"), pl.col("source_key"))).alias("member_id"),
        )
        .unique()
    )
    got = con.sql("select household_key, member_id from marts.bridge_household_member where is_current").pl().unique()
    return want, got
