"""Linkage is its own Dagster asset, declared to dbt as the ``person_links`` source (meta.dagster.asset_key),
so the models that read its files sit downstream of it in the lineage (Dagster's assets_dbt_python example)."""

from __future__ import annotations

import pytest

from orchestration.defs.warehouse.assets import PERSON_LINKS_KEYS, build_warehouse_assets, ensure_manifest


@pytest.fixture(scope="module")
def assets():
    manifest = ensure_manifest()
    if manifest is None:
        pytest.fail("the dbt project does not parse")
    return build_warehouse_assets(manifest)


def test_the_models_that_read_linkage_files_depend_on_the_linkage_asset(assets):
    linkage, dbt = assets[0], assets[1]
    assert set(linkage.keys) == set(PERSON_LINKS_KEYS.values())
    readers = {
        "/".join(k.path): sorted("/".join(d.path) for d in dbt.asset_deps[k] if d in set(PERSON_LINKS_KEYS.values()))
        for k in dbt.keys
    }
    assert readers["intermediate/int_persons_resolved"] == ["restricted/person_links/links"]
    assert readers["marts/mart_link_review"] == ["restricted/person_links/review"]
    assert readers["marts/person_key_aliases"] == ["restricted/person_links/aliases"]


def test_linkage_runs_in_the_warehouse_pool_after_the_person_records(assets):
    linkage = assets[0]
    assert linkage.op.pool == "warehouse"
    for key in linkage.keys:
        assert [d.path for d in linkage.asset_deps[key]] == [["restricted", "person_records"]]
