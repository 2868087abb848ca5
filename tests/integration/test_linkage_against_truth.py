"""Person linkage end to end on a generated, ingested landing, scored against the generator's truth."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest

from ingestion.linkage import run_linkage
from ingestion.linkage.core import ACCEPT_FLOOR, collapse, collapse_files, link_files, links_folder
from ingestion.linkage.features import VALID_ID_STATUSES
from ingestion.planner import ingest_landing
from ingestion.pseudonym import load_or_create_key
from ingestion.zones import Zones
from tests.pii import citizen_ids, mobiles

_JOIN = ["feed", "file", "sheet", "record_no", "member_no"]


@pytest.fixture(scope="module")
def linked(generated_district, tmp_path_factory):
    out = generated_district(2000, 14, 11)
    zones = Zones(tmp_path_factory.mktemp("home"))
    key = load_or_create_key(zones.secret_file)
    ingest_landing(out / "landing", zones, key=key)
    result = run_linkage(zones, key=key)
    result.links = _written_links(zones)  # run_linkage streams the links to a file and holds none in memory
    return out, zones, key, result


def _written_links(zones: Zones) -> pl.DataFrame:
    return pl.read_parquet(links_folder(zones) / "links.parquet").sort("record_locator")


def _scores(links: pl.DataFrame, truth: pl.DataFrame, records: pl.DataFrame) -> dict:
    f = links.join(truth.filter(pl.col("person_id").is_not_null()), on=_JOIN).join(
        records.select(*_JOIN, pl.col("id_status").is_in(VALID_ID_STATUSES).alias("valid")), on=_JOIN
    )

    def pairs(frame, by):
        return frame.group_by(by).len().select((pl.col("len") * (pl.col("len") - 1) // 2).sum()).item()

    def counts(frame):
        return pairs(frame, ["person_key", "person_id"]), pairs(frame, ["person_key"]), pairs(frame, ["person_id"])

    everything, valid_only = counts(f), counts(f.filter(pl.col("valid")))
    out = {}
    for label, (tp, pred, true) in {
        "all": everything,
        "no_valid_id": tuple(a - b for a, b in zip(everything, valid_only)),
    }.items():
        out[label] = (tp / pred if pred else 1.0, tp / true if true else 1.0)
    return out


def test_links_hold_one_row_per_personal_record(linked):
    _, zones, _, result = linked
    records = pl.read_parquet(sorted(zones.person_records().glob("*.parquet")))
    assert result.links.height == records.height
    assert result.links["record_locator"].is_unique().all()
    assert result.links["person_key"].null_count() == 0
    # the register's weekly snapshots repeat most entries: linkage works on the distinct profiles
    assert result.stats["records"] == records.height > result.stats["profiles"]


def test_linkage_is_precise_and_complete_against_truth(linked):
    out, zones, _, result = linked
    truth = pl.read_parquet(out / "truth" / "person_records.parquet")
    records = pl.read_parquet(sorted(zones.person_records().glob("*.parquet")))
    scores = _scores(result.links, truth, records)
    precision, recall = scores["all"]
    assert precision >= 0.99 and recall >= 0.98, scores
    precision, recall = scores["no_valid_id"]
    assert precision >= 0.95 and recall >= 0.7, scores


def test_valid_ids_keep_the_key_ingestion_gave_them(linked):
    _, zones, _, result = linked
    records = pl.read_parquet(sorted(zones.person_records().glob("*.parquet")))
    joined = records.filter(pl.col("person_key").is_not_null()).join(
        result.links.select(*_JOIN, pl.col("person_key").alias("linked_key")), on=_JOIN
    )
    assert (joined["person_key"] == joined["linked_key"]).all()


def test_linking_again_gives_the_same_person_keys(linked):
    _, zones, key, result = linked
    run_linkage(zones, key=key)
    assert (
        _written_links(zones)
        .select("record_locator", "person_key")
        .equals(result.links.select("record_locator", "person_key"))
    )


def test_outputs_are_written_and_review_shows_masked_evidence_only(linked):
    _, zones, _, _ = linked
    folder = links_folder(zones)
    names = {p.name for p in folder.iterdir()}
    # the pinyin memo and the collapsed profiles hold names: restricted, beside the links, never read by dbt
    assert [n for n in names if n.startswith("name_pinyin-")], names
    assert {n for n in names if not n.startswith("name_pinyin-")} == {
        "links.parquet",
        "review.parquet",
        "golden.parquet",
        "keys.parquet",
        "aliases.parquet",
        "profiles.parquet",
        "profile_keys.parquet",
    }
    # the review queue, the key registry, the alias history and the profiles' keys carry masked evidence, keys and
    # counts only
    for name in ("review.parquet", "keys.parquet", "aliases.parquet", "profile_keys.parquet"):
        text = pl.read_parquet(folder / name).write_csv()
        assert citizen_ids(text) == [] and mobiles(text) == [], name


def test_every_link_records_its_method_and_rule(linked):
    _, _, _, result = linked
    links = result.links
    assert links["rule"].null_count() == 0
    probabilistic = links.filter(pl.col("link_method") == "probabilistic")
    assert probabilistic.height > 0
    # the threshold is estimated from the run's own scores, never below the floor
    assert probabilistic["match_probability"].min() >= result.stats["accept_threshold"] >= ACCEPT_FLOOR
    assert links.filter(pl.col("link_method") == "unique_name")["rule"].str.starts_with("name_only:").all()


def test_golden_record_names_the_source_of_each_attribute(linked):
    _, _, _, result = linked
    golden = result.golden
    assert golden["person_key"].is_unique().all()
    assert golden.filter(pl.col("name").is_not_null() & pl.col("name_source").is_null()).height == 0


@pytest.mark.parametrize("parts", [2, 5])
def test_collapsing_by_hash_partition_gives_the_same_profiles(linked, parts):
    # a large home collapses its records a partition at a time (``COLLAPSE_PART_RECORDS``): a profile's records
    # all fall in one partition, so the profiles are the same, row for row
    _, zones, _, _ = linked
    records = pl.scan_parquet(sorted(zones.person_records().glob("*.parquet")), missing_columns="insert", schema=None)
    whole = collapse(records, parts=1)
    assert whole.height > 1_000
    assert collapse(records, parts=parts).equals(whole)


def test_a_run_collapses_only_the_files_it_adds_and_gets_the_same_profiles(linked, tmp_path):
    # the daily case: the last run's profiles are kept (``collapse_files``) and a day's new files merged in
    _, zones, _, _ = linked
    files = sorted(zones.person_records().glob("*.parquet"))
    earlier = [f for i, f in enumerate(files) if i % 3]
    whole = collapse(pl.scan_parquet(files, missing_columns="insert", schema=None), parts=1)

    first, stats = collapse_files(earlier, tmp_path)
    assert stats == {"collapsed_files": len(earlier), "reused_files": 0}
    assert first.height < whole.height
    added, stats = collapse_files(files, tmp_path)
    assert stats == {"collapsed_files": len(files) - len(earlier), "reused_files": len(earlier)}
    assert added.equals(whole)
    again, stats = collapse_files(files, tmp_path)
    assert stats == {"collapsed_files": 0, "reused_files": len(files)}
    assert again.equals(whole)


def test_a_rewritten_or_withdrawn_records_file_collapses_everything_again(linked, tmp_path):
    _, zones, _, _ = linked
    files = sorted(zones.person_records().glob("*.parquet"))
    copies = tmp_path / "records"
    copies.mkdir()
    for f in files:
        shutil.copy2(f, copies / f.name)
    files = sorted(copies.glob("*.parquet"))
    out = tmp_path / "links"
    collapse_files(files, out)
    # a file rewritten (a late snapshot adds a version record to an older snapshot's file)
    rewritten = pl.read_parquet(files[0])
    rewritten.head(rewritten.height - 1).write_parquet(files[0])
    profiles, stats = collapse_files(files, out)
    assert stats["reused_files"] == 0
    assert profiles.equals(collapse(pl.scan_parquet(files, missing_columns="insert", schema=None), parts=1))
    # a file withdrawn
    files[1].unlink()
    profiles, stats = collapse_files(files[:1] + files[2:], out)
    assert stats["reused_files"] == 0
    assert profiles.equals(collapse(pl.scan_parquet(files[:1] + files[2:], missing_columns="insert", schema=None)))


def test_a_days_keys_from_the_published_profiles_equal_those_from_every_record(linked, tmp_path):
    # the keys stage reads which key today's records carried from the profiles the last run published, not
    # from every record's link, while that run's files are all still there: the same keys and aliases
    _, zones, key, _ = linked
    files = sorted(zones.person_records().glob("*.parquet"))
    earlier = [f for i, f in enumerate(files) if i % 4]
    by_profiles, by_records = tmp_path / "profiles", tmp_path / "records"
    for out in (by_profiles, by_records):
        link_files(earlier, out, key=key, model="priors", changed_on=dt.date(2025, 1, 1))
    (by_records / "profile_keys.parquet").unlink()
    today = {}
    for out in (by_profiles, by_records):
        today[out] = link_files(files, out, key=key, model="priors", changed_on=dt.date(2025, 1, 2)).stats
    assert today[by_profiles]["keys_overlap"] == "profiles"
    assert today[by_records]["keys_overlap"] == "records"
    assert today[by_profiles]["keys"] == today[by_records]["keys"]
    for name in ("keys.parquet", "aliases.parquet", "links.parquet"):
        a, b = pl.read_parquet(by_profiles / name), pl.read_parquet(by_records / name)
        assert a.sort(a.columns).equals(b.sort(b.columns)), name
    # a withdrawn file: the records' way again
    stats = link_files(files[1:], by_profiles, key=key, model="priors", changed_on=dt.date(2025, 1, 3)).stats
    assert stats["keys_overlap"] == "records"
