"""The published marts against the generator's truth, after one real `zhili run` on a generated landing.

Exact where the truth allows it; where it does not, the tolerance and its reason are stated beside
the assertion. The pipeline never reads the truth; only these tests do.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion.generator import generate
from ingestion.generator.truth import residents_per_grid_against
from tests.runs import zhili_run

SHEET_PROGRAMME = {  # civil_affairs sheet -> the programme code the warehouse uses (seeds/benefit_programmes.csv)
    "城乡低保": "low_income",
    "特困供养": "extreme_poverty",
    "高龄津贴": "aged_allowance",
    "残疾人两项补贴": "disability_subsidy",
    "独居空巢老人": "elderly_alone",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    # 35 days from 2024-11-01 cross a month boundary: two civil-affairs rolls (November, December)
    generate(out, residents=2000, days=35, seed=7)
    home = out / "home"
    proc = zhili_run(out / "landing", home)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    serving = home / "serving" / "zhili.duckdb"
    assert serving.exists(), "no serving snapshot published:\n" + proc.stdout[-3000:]
    con = duckdb.connect(str(serving), read_only=True)
    yield out / "truth", home, con
    con.close()


def _mart(con, sql: str) -> pl.DataFrame:
    return con.sql(sql).pl()


def _normalised(home: Path, table: str) -> pl.DataFrame:
    files = [p for p in sorted((home / "normalised" / table).glob("*.parquet")) if not p.name.startswith("_")]
    return pl.concat([pl.read_parquet(p) for p in files], how="diagonal_relaxed")


# ---------------------------------------------------------------- residents per grid


def test_residents_per_grid_match_truth(built):
    truth, _, con = built
    # dim_resident is one row per person_key; linkage (issue 6) merges one person's duplicate register
    # entries (two 人员编号) and ID-less records into one key, so the count is of persons, not rows
    both = residents_per_grid_against(truth, con)
    total_truth, total_mart = both["truth"].sum(), both["mart"].sum()
    # tolerance: the issue-6 target, 0.5% of the register. Linkage of records without a valid ID is
    # probabilistic (a missed link is one person counted twice, a false one two counted once).
    assert abs(total_mart - total_truth) <= 0.005 * total_truth, both.sort("grid_code")
    for row in both.iter_rows(named=True):
        # per grid the same 0.5%, at least one person: a resident whose address cannot be placed lands
        # in no grid or the community's nearest point
        assert abs(row["mart"] - row["truth"]) <= max(1, 0.005 * row["truth"]), both.sort("grid_code")


def test_every_register_row_finds_its_person_through_its_versions_record(built):
    _, home, _ = built
    # the register's person records are one per version (ingestion.versions), not one per weekly row
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        orphans, records, rows = con.execute(
            """
            select
                (select count(*) from staging.stg_police_population as listed
                 anti join restricted.restricted_person_records as records
                    on records.record_locator = listed.version_record_locator),
                (select count(*) from restricted.restricted_person_records where feed = 'police_population'),
                (select count(*) from staging.stg_police_population_listings)
            """
        ).fetchone()
    assert orphans == 0
    assert 0 < records < rows / 2, (records, rows)


# ---------------------------------------------------------------- people on each roll per month


def test_people_on_each_roll_per_month_match_truth(built):
    truth, _, con = built
    records = pl.read_parquet(truth / "person_records.parquet").filter(pl.col("feed") == "civil_affairs")
    # the roll file name carries the month: ..._YYYYMM.xlsx
    expected = (
        records.with_columns(
            pl.col("sheet").replace_strict(SHEET_PROGRAMME).alias("programme"),
            pl.col("file").str.extract(r"(\d{6})\.\w+$").alias("ym"),
        )
        .group_by("programme", "ym")
        .agg(pl.col("person_id").n_unique().alias("truth"))
    )
    assert expected["ym"].null_count() == 0
    got = _mart(
        con,
        "select programme, strftime(month_date, '%Y%m') as ym, count(distinct person_key)::int as mart "
        "from marts.fct_benefit_membership where is_member group by all",
    )
    both = expected.join(got, on=["programme", "ym"], how="full", coalesce=True).fill_null(0).sort("programme", "ym")
    assert both["ym"].n_unique() >= 2, "the fixture should cover two roll months"
    # exact: every roll row is a person record; linkage must resolve Excel-damaged IDs too
    assert (both["mart"] == both["truth"]).all(), both


# ---------------------------------------------------------------- incidents per grid and category


def _latest(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    order = [c for c in ("data_date", "file", "record_no") if c in frame.columns]
    return frame.sort(order).unique(subset=[key], keep="last")


@pytest.mark.parametrize(
    "feed,key,category",
    [
        ("police_incidents", "incident_id", "category"),
        ("grid_events", "event_id", "category"),
    ],
)
def test_incidents_per_grid_and_category_match_truth(built, feed, key, category):
    truth, home, con = built
    events = pl.read_parquet(truth / "events.parquet").filter(pl.col("feed") == feed)
    # the truth grid of an event does not change with its updates: one row per event key
    true_grid = events.select(
        pl.col("event_key").alias("source_id"),
        pl.col("grid_code").alias("true_grid"),
        pl.col("community_code").alias("true_community"),
        "placement_hint",
    ).unique()
    assert true_grid["source_id"].is_unique().all(), "an event with two true grids"
    normalised = _normalised(home, feed)
    source = _latest(normalised.filter(pl.col(key).is_not_null()), key).select(
        pl.col(key).alias("source_id"), pl.col(category).alias("source_category")
    )
    expected = true_grid.join(source, on="source_id", how="inner")
    got = _mart(
        con,
        f"select source_id, grid_code, community_code, source_category as mart_category "
        f"from marts.fct_incident where source_feed = '{feed}'",
    )
    # every event the truth knows and the feed delivered is one incident, exactly
    assert set(got["source_id"]) == set(expected["source_id"])
    joined = expected.join(got, on="source_id")
    assert (joined["source_category"] == joined["mart_category"]).all()
    # exact for events whose record locates them (an address point or coordinates): incidents per
    # true grid x category == incidents per mart grid x category
    placeable = joined.filter(pl.col("placement_hint") != "community_only")
    cells = (
        placeable.group_by(pl.col("true_grid").alias("grid_code"), "source_category")
        .len("truth")
        .join(
            placeable.group_by("grid_code", "source_category").len("mart"),
            on=["grid_code", "source_category"],
            how="full",
            coalesce=True,
        )
        .fill_null(0)
        .sort("grid_code", "source_category")
    )
    assert (cells["truth"] == cells["mart"]).all(), (
        cells,
        placeable.filter(pl.col("grid_code") != pl.col("true_grid")),
    )
    # a call or report naming only its community cannot be placed in a grid: it must sit in its true
    # community with no grid (never a guessed grid)
    community_only = joined.filter(pl.col("placement_hint") == "community_only")
    assert (community_only["community_code"] == community_only["true_community"]).all(), community_only
    assert (
        community_only.filter(pl.col("grid_code").is_not_null() & (pl.col("grid_code") != pl.col("true_grid"))).height
        == 0
    )


# ---------------------------------------------------------------- petitions closed on time


def test_petitions_closed_on_time_match_the_normalised_feed(built):
    _, home, con = built
    raw = _normalised(home, "petitions").filter(pl.col("case_id").is_not_null())
    # the current version of a case: the latest status move, ties to the later delivery
    current = raw.sort("last_moved_at", "data_date", "file", "record_no", nulls_last=False).unique(
        "case_id", keep="last"
    )
    terminal = ["已办结", "不予受理", "已转送"]
    # a due date counts to its end (China time): closed on the due date is on time
    due_end = (pl.col("due_date").cast(pl.Datetime("us")) + pl.duration(days=1)).dt.replace_time_zone("Asia/Shanghai")
    expected = current.with_columns(
        (
            pl.col("status").is_in(terminal)
            & pl.col("closed_at").is_not_null()
            & pl.col("due_date").is_not_null()
            & (pl.col("closed_at").dt.convert_time_zone("Asia/Shanghai") <= due_end)
        ).alias("truth_on_time"),
    ).select("case_id", "truth_on_time", "status", "due_date", "closed_at")
    got = _mart(con, "select case_id, is_closed_on_time from marts.fct_petition")
    assert got["case_id"].is_unique().all()
    assert set(got["case_id"]) == set(expected["case_id"])
    joined = expected.join(got, on="case_id")
    # petitions without a due date get one from the time-limit seed in the mart; the feed has no truth for them
    with_due = joined.filter(pl.col("due_date").is_not_null())
    diff = with_due.filter(pl.col("truth_on_time") != pl.col("is_closed_on_time"))
    assert diff.height == 0, diff
    assert with_due["truth_on_time"].sum() == with_due["is_closed_on_time"].sum()
