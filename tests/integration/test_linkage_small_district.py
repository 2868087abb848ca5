"""A small, young district links and builds: dbt's mart_link_review on the review file the linkage wrote
without a model trained here (issue 19: the build failed with 'Referenced column "gamma_name" not found'
when linkage fell back to exact IDs and wrote a review file without the comparison columns)."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from dbt_fixtures import run_dbt
from ingestion.linkage.core import link_files, links_folder
from ingestion.linkage.features import VALID_ID_STATUSES
from ingestion.linkage.priors import PRIORS_VERSION
from ingestion.zones import Zones

KEY = b"k" * 32


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    from ingestion.generator import generate
    from ingestion.planner import ingest_landing

    base = tmp_path_factory.mktemp("small_district")
    generate(base, residents=600, days=2, seed=3)
    ingest_landing(base / "landing", Zones(base / "home"), key=KEY)
    return base / "home"


def _records(home, tmp_path, path: str) -> list:
    files = sorted(Zones(home).person_records().glob("*.parquet"))
    if path == "priors":
        return files
    # nothing for Splink to compare: every record has a valid ID (the deterministic pass alone links them)
    only = tmp_path / "valid_ids_only.parquet"
    pl.read_parquet(files, missing_columns="insert").filter(pl.col("id_status").is_in(VALID_ID_STATUSES)).write_parquet(
        only
    )
    return [only]


@pytest.mark.parametrize(
    ("path", "source"), [("priors", f"shipped:{PRIORS_VERSION}"), ("no_pairs", "none:no_candidate_pairs")]
)
def test_mart_link_review_builds_whichever_path_the_linkage_took(home, tmp_path, path, source):
    result = link_files(_records(home, tmp_path, path), links_folder(Zones(home)), key=KEY)
    assert result.stats["model_source"] == source
    built = run_dbt(home, "build", "--select", "mart_link_review")
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-2000:]
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        columns = [c[0] for c in con.execute("select * from marts.mart_link_review limit 0").description]
        rows = con.execute("select count(*) from marts.mart_link_review").fetchone()[0]
    finally:
        con.close()
    assert {"name_level", "birth_date_level", "id_head_level", "phone_level", "place_level", "sex_level"} <= set(
        columns
    )
    assert rows == result.review.height
