"""Linkage is its own Dagster asset, declared to dbt as the ``person_links`` source (meta.dagster.asset_key),
so the models that read its files sit downstream of it in the lineage (Dagster's assets_dbt_python example)."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_no_model_reads_a_file_by_its_path():
    """Issue 20, item 6: the models read the linkage asset's files (and every other zone's) through source(), whose
    external_location is the one place that says where they are; a read_parquet/glob of a path in a model would
    bypass the lineage that puts the asset upstream."""
    models = Path(__file__).parents[4] / "dbt_project" / "models"
    readers = sorted(
        str(p.relative_to(models))
        for p in models.rglob("*.sql")
        if re.search(
            r"\b(read_parquet|glob|parquet_scan)\s*\(|person_links/", _without_comments(p.read_text(encoding="utf-8"))
        )
    )
    assert readers == []


def _without_comments(sql: str) -> str:
    """A model's text without its Jinja comments (which may name a file for the reader)."""
    return re.sub(r"\{#.*?#\}", "", sql, flags=re.S)
