"""The kept linkage model on Spark (``ingestion.linkage.spark``) links the same profiles as on DuckDB.

A small generated district is ingested and linked on DuckDB (which keeps the home's model and its name term
frequencies); the same profiles are then linked again with that kept model on DuckDB and on a local Spark:
the scored pairs (match weights to 1e-9, every comparison level), each profile's person key and link, the
review queue and the golden records must be the same. Skipped only where no Java runtime is installed.
"""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ingestion.linkage.spark import java_available

pytestmark = pytest.mark.skipif(java_available() is not None, reason=str(java_available()))

KEY = b"s" * 32


@pytest.fixture(scope="module")
def linked(generated_district, tmp_path_factory) -> tuple:
    from ingestion.linkage import run_linkage
    from ingestion.linkage.core import collapse
    from ingestion.linkage.model_store import current_model
    from ingestion.planner import ingest_landing
    from ingestion.zones import Zones

    district = generated_district(2000, 7, 4)
    zones = Zones(tmp_path_factory.mktemp("spark_linkage") / "home")
    ingest_landing(district / "landing", zones, key=KEY)
    run_linkage(zones, key=KEY)
    kept = current_model(zones)
    files = sorted(zones.person_records().glob("*.parquet"))
    profiles = collapse(pl.scan_parquet(files, missing_columns="insert", schema=None))
    return zones, kept, profiles


@pytest.fixture(scope="module")
def spark(linked):
    from ingestion.linkage.spark import spark_session

    session = spark_session(linked[0].home, shuffle_partitions=2)
    yield session
    session.stop()


def test_the_kept_model_links_the_same_pairs_and_persons_on_spark_as_on_duckdb(linked, spark):
    from ingestion.linkage.core import link_profiles
    from ingestion.linkage.spark import SparkScorer

    _, kept, profiles = linked
    assert kept is not None and kept.tf_name is not None
    duck = link_profiles(profiles, key=KEY, kept=kept)
    on_spark = link_profiles(profiles, key=KEY, kept=kept, scorer=SparkScorer(spark))

    pairs = duck.scored.pairs.sort("unit_l", "unit_r")
    assert pairs.height > 50, "too few scored pairs for the comparison to mean anything"
    assert (pairs["match_probability"] >= kept.accept_threshold).sum() > 10
    assert_frame_equal(
        on_spark.scored.pairs.select(pairs.columns).sort("unit_l", "unit_r"), pairs, check_exact=False, abs_tol=1e-9
    )
    # clusters: every profile's person key, link method and rule the same; the weights to 1e-9
    assert_frame_equal(
        on_spark.profiles.sort("profile"), duck.profiles.sort("profile"), check_exact=False, abs_tol=1e-9
    )
    assert duck.profiles["person_key"].n_unique() < duck.profiles.height  # some profiles were linked together
    assert_frame_equal(on_spark.golden.sort("person_key"), duck.golden.sort("person_key"))
    by = [c for c in duck.review.columns if duck.review[c].dtype == pl.String]
    assert_frame_equal(on_spark.review.sort(by), duck.review.sort(by), check_exact=False, abs_tol=1e-9)
    for stat in ("accepted_links", "persons", "review_pairs", "guard_refused", "scored_pairs"):
        assert on_spark.stats[stat] == duck.stats[stat], stat


def test_a_day_scored_only_for_its_new_units_on_spark_reuses_the_pairs_as_on_duckdb(linked, spark):
    # the incremental path (only_new): yesterday's pairs reused, only pairs touching a new unit scored
    from ingestion.linkage.core import link_profiles
    from ingestion.linkage.spark import SparkScorer

    _, kept, profiles = linked
    first = profiles.head(profiles.height * 2 // 3)
    before = link_profiles(first, key=KEY, kept=kept)
    scored = before.scored
    duck = link_profiles(profiles, key=KEY, kept=kept, scored=scored)
    on_spark = link_profiles(profiles, key=KEY, kept=kept, scored=scored, scorer=SparkScorer(spark))
    assert duck.stats["splink_new_units"] > 0
    pairs = duck.scored.pairs.sort("unit_l", "unit_r")
    assert_frame_equal(
        on_spark.scored.pairs.select(pairs.columns).sort("unit_l", "unit_r"), pairs, check_exact=False, abs_tol=1e-9
    )
    assert_frame_equal(
        on_spark.profiles.sort("profile"), duck.profiles.sort("profile"), check_exact=False, abs_tol=1e-9
    )


def test_a_model_for_other_comparisons_is_refused_before_spark_sees_it(linked):
    from ingestion.linkage.spark import SparkPortError, spark_settings

    _, kept, _ = linked
    ported = spark_settings(kept.settings)
    assert ported["sql_dialect"] == "spark"
    assert ported["probability_two_random_records_match"] == kept.settings["probability_two_random_records_match"]
    for k, p in zip(kept.settings["comparisons"], ported["comparisons"], strict=True):
        for kl, pl_ in zip(k["comparison_levels"], p["comparison_levels"], strict=True):
            assert (kl.get("m_probability"), kl.get("u_probability")) == (
                pl_.get("m_probability"),
                pl_.get("u_probability"),
            )
            assert '"' not in pl_["sql_condition"]  # DuckDB's quoted identifiers are string literals to Spark
    other = {**kept.settings, "comparisons": kept.settings["comparisons"][:-1]}
    with pytest.raises(SparkPortError, match="retrain"):
        spark_settings(other)
    relabelled = dict(kept.settings)
    relabelled["comparisons"] = [dict(c) for c in kept.settings["comparisons"]]
    relabelled["comparisons"][0]["comparison_levels"] = [
        {**level, "label_for_charts": "x"} for level in relabelled["comparisons"][0]["comparison_levels"]
    ]
    with pytest.raises(SparkPortError, match="'name'"):
        spark_settings(relabelled)


def test_spark_scores_only_a_kept_model(linked, spark):
    from ingestion.linkage.spark import SparkScorer

    with pytest.raises(ValueError, match="kept model only"):
        SparkScorer(spark)(pl.DataFrame({"unique_id": [1]}), min_probability=0.5)
