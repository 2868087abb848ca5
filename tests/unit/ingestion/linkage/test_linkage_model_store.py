"""The kept linkage model (ingestion.linkage.model_store, run_linkage): made once, reused as it is, checked
against its provenance, replaced only by a deliberate retrain; and the person keys a run publishes."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ingestion.linkage import run_linkage
from ingestion.linkage.model_store import ModelStoreError, current_model, keep_model
from ingestion.zones import Zones

KEY = b"k" * 32


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A young district (600 residents, 3 days), ingested, never linked."""
    from ingestion.generator import generate
    from ingestion.planner import ingest_landing

    base = tmp_path_factory.mktemp("kept_model")
    generate(base, residents=600, days=3, seed=5)
    ingest_landing(base / "landing", Zones(base / "home"), key=KEY)
    return base / "home"


@pytest.fixture
def home(ingested: Path, tmp_path: Path) -> Zones:
    shutil.copytree(ingested, tmp_path / "home")
    return Zones(tmp_path / "home")


def _links(zones: Zones) -> pl.DataFrame:
    return (
        pl.read_parquet(zones.person_links / "links.parquet")
        .select("record_locator", "person_key")
        .sort("record_locator")
    )


def test_a_home_without_a_model_keeps_the_one_it_made_and_every_later_run_reuses_it(home: Zones):
    first = run_linkage(home, key=KEY, changed_on=date(2025, 1, 1))
    assert first.stats["model"] == "model-1" and first.stats["model_made"] == "no model kept yet"
    kept = current_model(home)
    prov = kept.provenance
    assert prov["source"] == first.stats["model_source"] and prov["accept_threshold"] == first.stats["accept_threshold"]
    assert prov["records"] == first.stats["records"] and prov["splink_version"] and len(prov["model_sha256"]) == 64
    assert kept.settings["comparisons"], "Splink's own model JSON"
    links = _links(home)

    second = run_linkage(home, key=KEY, changed_on=date(2025, 1, 2))
    assert second.stats["model"] == "model-1" and "model_made" not in second.stats
    assert sorted(p.name for p in home.linkage_models.iterdir()) == ["model-1.json", "model-1.provenance.json"]
    assert _links(home).equals(links), "the same records linked twice with the kept model: no person_key moves"
    assert second.stats["keys"]["alias_rows"] == 0
    # the pairs model-1 scored on the first run are reused, none is scored again: no unit is new
    assert second.stats["splink_new_units"] == 0 and second.stats["pairs_reused"] == first.stats["scored_pairs"] > 0
    assert second.stats["scored_pairs"] == first.stats["scored_pairs"]
    # every name was converted to pinyin on the first run; the second converts none again
    assert first.stats["names_converted"] > 0 and second.stats["names_converted"] == 0
    assert pl.read_parquet(home.person_links / "aliases.parquet").height == 0


def test_a_kept_model_altered_after_it_was_kept_is_refused(home: Zones):
    run_linkage(home, key=KEY)
    path = home.linkage_models / "model-1.json"
    model = json.loads(path.read_text())
    model["probability_two_random_records_match"] = 0.5
    path.write_text(json.dumps(model))
    with pytest.raises(ModelStoreError, match=r"model-1\.json: its SHA-256 .* retrain with `zhili linkage train"):
        run_linkage(home, key=KEY)


def test_retraining_keeps_a_new_version_beside_the_old_and_moves_no_key_when_nothing_changed(home: Zones):
    run_linkage(home, key=KEY)
    links = _links(home)
    retrained = run_linkage(home, key=KEY, retrain=True)
    assert retrained.stats["model"] == "model-2" and retrained.stats["model_made"] == "retrain requested"
    assert current_model(home).name == "model-2"
    assert (home.linkage_models / "model-1.json").exists()
    assert _links(home).equals(links)


def test_a_version_without_provenance_is_not_a_model(home: Zones):
    """A run killed between the model file and its provenance (written last) left no usable version."""
    assert current_model(home) is None
    (home.linkage_models).mkdir(parents=True)
    (home.linkage_models / "model-1.json").write_text("{}")
    assert current_model(home) is None
    made = keep_model(home, {"comparisons": []}, {"source": "test", "accept_threshold": 0.95})
    assert made.name == "model-1" and current_model(home).accept_threshold == 0.95


def test_a_name_converted_on_an_earlier_day_is_taken_from_the_memo_and_new_ones_are_added():
    from ingestion.linkage.features import name_pinyin

    memo = {"张伟": "remembered"}
    out = pl.DataFrame({"name": ["张伟", "李娜", None]}).select(name_pinyin(pl.col("name"), memo))
    assert out["name"].to_list() == ["remembered", "lina", None]
    assert memo == {"张伟": "remembered", "李娜": "lina"}


def test_zhili_linkage_train_says_what_changed(home: Zones, capsys, monkeypatch):
    from orchestration.cli import main

    monkeypatch.setenv("ZHILI_SECRET_FILE", str(home.home / "secret.key"))
    (home.home / "secret.key").write_text(KEY.hex() + "\n")
    (home.home / "secret.key").chmod(0o600)
    monkeypatch.delenv("ZHILI_AS_OF_DATE", raising=False)
    assert main(["linkage", "train", "--home", str(home.home)]) == 0
    first = capsys.readouterr().out
    assert first.startswith("model-1 kept (") and " new; 0 alias rows" in first
    assert main(["linkage", "train", "--home", str(home.home)]) == 0
    second = capsys.readouterr().out
    assert second.startswith("model-2 kept (") and "replaces model-1" in second
    assert " 0 merged into another, 0 split, 0 new; 0 alias rows" in second


def test_zhili_linkage_train_on_a_home_without_records_is_a_usage_error(tmp_path: Path, capsys):
    from orchestration.cli import main

    assert main(["linkage", "train", "--home", str(tmp_path / "nowhere")]) == 2
    assert "holds no person records to train on" in capsys.readouterr().err


def test_a_model_kept_after_the_warehouse_was_built_makes_it_out_of_date(tmp_path: Path):
    from ingestion.linkage.model_store import retrained_since

    zones = Zones(tmp_path)
    assert retrained_since(zones, None) is None  # no model: nothing linked probabilistically, nothing to publish
    keep_model(zones, {"comparisons": []}, {"source": "test", "accept_threshold": 0.9})
    assert retrained_since(zones, "model-1") is None
    assert retrained_since(zones, None) == "linkage model model-1 kept after the warehouse was built with none"
    keep_model(zones, {"comparisons": []}, {"source": "test", "accept_threshold": 0.9})
    assert retrained_since(zones, "model-1") == "linkage model model-2 kept after the warehouse was built with model-1"


def test_a_new_delivery_scored_against_the_pairs_kept_links_as_a_full_relink_with_the_same_model(
    home: Zones, tmp_path: Path
):
    """A delivery linked with the pairs the earlier ones scored (the benefit roll, whose Excel-damaged IDs
    need Splink) gives the links a relink of every record with the same kept model gives, and moves no key
    published before without an alias row."""
    import dataclasses

    from ingestion.ledger import read_ledger
    from ingestion.linkage.core import link_files

    files = sorted(home.person_records().glob("*.parquet"))
    ledger = read_ledger(home).filter(pl.col("status") == "loaded")
    later = set(ledger.filter(pl.col("feed") == "civil_affairs")["file_md5"].to_list())
    assert any(f.stem in later for f in files) and any(f.stem not in later for f in files)
    before = link_files([f for f in files if f.stem not in later], tmp_path / "day", key=KEY)
    kept = keep_model(
        home,
        before.model,
        {"source": before.stats["model_source"], "accept_threshold": before.stats["accept_threshold"]},
        before.tf_name,
    )
    published = pl.read_parquet(tmp_path / "day" / "links.parquet").select("record_locator", "person_key")
    day = link_files(
        files, tmp_path / "day", key=KEY, kept=kept, scored=dataclasses.replace(before.scored, model=kept.name)
    )
    full = link_files(files, tmp_path / "full", key=KEY, kept=kept)
    assert 0 < day.stats["splink_new_units"] < day.stats["splink_units"]
    assert day.stats["scored_pairs"] == full.stats["scored_pairs"]
    # the kept model carries its name term-frequency table: a pair scored on an earlier day weighs what a full
    # relink weighs it, though later records made its name commoner
    links = [
        pl.read_parquet(tmp_path / d / "links.parquet").drop("person_key", "link_run").sort("record_locator")
        for d in ("day", "full")
    ]
    assert links[0].equals(links[1])
    now = pl.read_parquet(tmp_path / "day" / "links.parquet").select("record_locator", "person_key")
    moved = published.join(now, on="record_locator", suffix="_now").filter(
        pl.col("person_key") != pl.col("person_key_now")
    )
    assert moved.height == 0 or day.stats["keys"]["alias_rows"] > 0


def test_a_kept_model_keeps_its_name_term_frequencies_in_the_restricted_zone_checked_on_load(home: Zones):
    from ingestion.linkage.model_store import tf_path

    first = run_linkage(home, key=KEY)
    path = tf_path(home, "model-1")
    assert path.parent == home.home / "restricted" / "linkage_models"  # names: never beside the model in state/
    kept = current_model(home)
    table = pl.read_parquet(path)
    assert kept.tf_name.equals(table) and table["name"].is_unique().all() and table["name"].null_count() == 0
    assert kept.provenance["tf_name_names"] == table.height > 0 and len(kept.provenance["tf_name_sha256"]) == 64
    assert "tf_note" not in kept.provenance
    # the frequencies of the names of the units the model first scored: a share each, summing to one
    assert abs(table["tf_name"].sum() - 1) < 1e-9 and table["tf_name"].min() > 0
    assert first.tf_name.sort("name").equals(table)
    table.with_columns(pl.col("tf_name") * 2).write_parquet(path)
    with pytest.raises(ModelStoreError, match=r"model-1\.tf_name\.parquet: its SHA-256 .* retrain with `zhili"):
        current_model(home)
    path.unlink()
    with pytest.raises(ModelStoreError, match=r"model-1\.tf_name\.parquet: the name term-frequency table .* missing"):
        run_linkage(home, key=KEY)


def test_a_model_kept_before_term_frequencies_were_kept_recomputes_them_and_says_so(home: Zones):
    from ingestion.linkage.model_store import tf_path

    run_linkage(home, key=KEY)
    links = _links(home)
    tf_path(home, "model-1").unlink()
    prov_path = home.linkage_models / "model-1.provenance.json"
    prov = json.loads(prov_path.read_text())
    prov_path.write_text(json.dumps({k: v for k, v in prov.items() if not k.startswith("tf_name")}))
    shutil.rmtree(home.home / "restricted" / "linkage_pairs")  # score every pair again, with recomputed frequencies
    kept = current_model(home)
    assert kept.tf_name is None and "recomputed from each run's records" in kept.provenance["tf_note"]
    again = run_linkage(home, key=KEY)
    assert again.stats["model"] == "model-1" and "model_made" not in again.stats and again.stats["scored_pairs"] > 0
    assert "tf_name_unseen" not in again.stats["training"]
    assert _links(home).equals(links), "the same records: the recomputed table is the one kept"


def test_a_name_the_kept_table_does_not_list_weighs_as_the_rarest_name_it_lists(home: Zones, tmp_path: Path):
    """Splink gives a name missing from a registered table no adjustment (an average name's weight); the kept
    model gives it the table's smallest frequency instead, and never a null weight."""
    from ingestion.linkage.core import link_files
    from ingestion.linkage.model_store import KeptModel

    files = sorted(home.person_records().glob("*.parquet"))
    made = link_files(files, tmp_path / "made", key=KEY)
    full = made.tf_name.sort("name")
    # the commonest names out of the table: they weigh most differently from the rarest
    dropped = full.sort("tf_name", "name", descending=[True, False]).head(full.height // 3)["name"]
    listed = full.filter(~pl.col("name").is_in(dropped.implode()))
    at_min = full.with_columns(
        tf_name=pl.when(pl.col("name").is_in(dropped.implode())).then(listed["tf_name"].min()).otherwise("tf_name")
    )
    prov = {"source": "test", "accept_threshold": made.stats["accept_threshold"]}

    def scored(table: pl.DataFrame, label: str) -> pl.DataFrame:
        kept = KeptModel(name="model-t", settings=made.model, provenance=prov, tf_name=table)
        result = link_files(files, tmp_path / label, key=KEY, kept=kept)
        assert result.scored.pairs["match_weight"].null_count() == 0
        return result, result.scored.pairs.sort(pl.all())

    missing, by_missing = scored(listed, "missing")
    _, by_min = scored(at_min, "min")
    _, by_full = scored(full, "full")
    assert missing.stats["training"]["tf_name_unseen"] == dropped.len()
    assert by_missing.equals(by_min)
    assert not by_missing.equals(by_full), "the dropped names weigh otherwise at their own frequency"


def test_zhili_linkage_train_after_new_records_reports_what_the_next_run_keeps(home: Zones, tmp_path: Path):
    """The persons merged, split and unchanged that a retrain reports are what every later run with the new model
    gives: it scores with the term frequencies it was trained with, not the next day's."""
    from ingestion.ledger import read_ledger
    from ingestion.linkage.core import retrain

    later = set(read_ledger(home).filter(pl.col("feed") == "civil_affairs")["file_md5"].to_list())
    aside = tmp_path / "aside"
    aside.mkdir()
    moved = [f for f in home.person_records().glob("*.parquet") if f.stem in later]
    assert moved
    for f in moved:
        f.rename(aside / f.name)
    run_linkage(home, key=KEY, changed_on=date(2025, 1, 1))
    for f in moved:
        (aside / f.name).rename(home.person_records() / f.name)
    trained, report = retrain(home, key=KEY, changed_on=date(2025, 1, 2))
    assert trained.stats["model"] == "model-2" and "replaces model-1" in report
    keys = trained.stats["keys"]
    assert f"{keys['persons_unchanged']} unchanged, {keys['persons_merged']} merged" in report
    links = _links(home)
    again = run_linkage(home, key=KEY, changed_on=date(2025, 1, 3))
    assert again.stats["model"] == "model-2" and again.stats["keys"]["alias_rows"] == 0
    assert again.stats["keys"]["persons_merged"] == again.stats["keys"]["persons_split"] == 0
    assert _links(home).equals(links)
