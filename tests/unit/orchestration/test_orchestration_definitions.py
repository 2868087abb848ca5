"""The code location loads and has the shape the UI and `zhili run` rely on."""

from __future__ import annotations

import dagster as dg
import pytest

from ingestion.feeds import FEEDS


@pytest.fixture(scope="module")
def graph():
    from orchestration.definitions import defs

    dg.Definitions.validate_loadable(defs)
    return defs, defs.resolve_asset_graph()


def test_every_feed_has_raw_and_normalised_assets_partitioned_by_file(graph):
    _, g = graph
    for slug in FEEDS:
        for zone in ("raw", "normalised"):
            node = g.get(dg.AssetKey([zone, slug]))
            assert node.group_name == slug
            assert node.partitions_def.name == f"{slug}_files"
            assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_every_normalised_feed_has_a_blocking_gx_check(graph):
    _, g = graph
    specs = {key: g.get_check_spec(key) for key in g.asset_check_keys}
    for slug in FEEDS:
        key = dg.AssetCheckKey(dg.AssetKey(["normalised", slug]), f"gx_{slug}")
        assert key in specs, f"missing gx_{slug}"
        assert specs[key].blocking


def test_feeds_depend_on_the_grid_register(graph):
    _, g = graph
    for slug in FEEDS:
        parents = g.get(dg.AssetKey(["normalised", slug])).parent_keys
        assert dg.AssetKey(["raw", slug]) in parents
        if slug != "grid_registry":
            assert dg.AssetKey(["normalised", "grid_registry"]) in parents


def test_warehouse_reads_the_normalised_zone_and_serving_follows_the_marts(graph):
    _, g = graph
    keys = g.get_all_asset_keys()
    marts = [k for k in keys if k.path[0] == "marts"]
    if not marts:
        pytest.skip("dbt_project has no parseable manifest in this checkout")
    serving = g.get(dg.AssetKey(["serving", "zhili"]))
    assert set(marts) <= set(serving.parent_keys)
    assert serving.pools == {"warehouse"}
    assert all(g.get(k).pools == {"warehouse"} for k in marts)
    staging = g.get(dg.AssetKey(["staging", "stg_police_incidents"]))
    assert dg.AssetKey(["normalised", "police_incidents"]) in staging.parent_keys


def test_both_sensors_are_defined(graph):
    defs, _ = graph
    names = {s.name for s in defs.sensors}
    assert "landing_sensor" in names


def test_linkage_log_line_says_where_its_time_went():
    from types import SimpleNamespace

    from orchestration.defs.warehouse.assets import _linkage_summary

    stats = {
        "records": 120,
        "profiles": 80,
        "persons": 50,
        "accepted_links": 30,
        "review_pairs": 2,
        "ids_repaired": 1,
        "collapse_seconds": 1.26,
        "splink_seconds": 4.0,
        "expand_seconds": 0.7,
        "seconds": 6.0,
    }
    assert _linkage_summary(SimpleNamespace(stats=stats)) == (
        "records=120, profiles=80, persons=50, accepted_links=30, review_pairs=2, ids_repaired=1"
        " (collapse 1.3 s, splink 4.0 s, expand 0.7 s)"
    )
    assert _linkage_summary(SimpleNamespace(stats={})) == "done"
