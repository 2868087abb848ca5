"""A small, young district links and builds: dbt's mart_link_review on a review file the linkage wrote
without a model trained here (issue 19: it failed with 'Referenced column "gamma_name" not found')."""

from __future__ import annotations

import duckdb
import pytest
from dbt_fixtures import run_dbt

from ingestion.linkage import run_linkage
from ingestion.linkage.priors import PRIORS_VERSION

KEY = b"k" * 32


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    from ingestion.generator import generate
    from ingestion.pipeline import ingest_landing
    from ingestion.zones import Zones

    base = tmp_path_factory.mktemp("small_district")
    generate(base, residents=1000, days=2, seed=3)
    zones = Zones(base / "home")
    ingest_landing(base / "landing", zones, key=KEY)
    return base / "home"


def test_mart_link_review_builds_on_a_district_linked_with_the_shipped_priors(home):
    from ingestion.zones import Zones

    result = run_linkage(Zones(home), key=KEY)
    assert result.stats["model_source"] == f"shipped:{PRIORS_VERSION}"
    built = run_dbt(home, "build", "--select", "mart_link_review")
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-2000:]
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        columns = [c[0] for c in con.execute("select * from marts.mart_link_review limit 0").description]
        rows = con.execute("select count(*) from marts.mart_link_review").fetchone()[0]
    finally:
        con.close()
    assert {"name_level", "birth_date_level", "id_head_level", "phone_level", "place_level", "sex_level"} <= set(columns)
    assert rows == result.review.height
