"""The linkage run stamp (ingestion.linkage.core.stamp_runs): a record's ``link_run`` moves exactly when its
link does, which is what lets dbt's person tables recompute only the records whose link changed."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.linkage.core import last_link_run, stamp_runs, write_links
from ingestion.zones import write_parquet_atomic

LINK = {
    "record_locator": pl.String,
    "feed": pl.String,
    "file": pl.String,
    "file_md5": pl.String,
    "sheet": pl.String,
    "record_no": pl.Int64,
    "member_no": pl.Int64,
    "person_key": pl.String,
    "link_method": pl.String,
    "match_probability": pl.Float64,
    "rule": pl.String,
}

# one record's link: (person, method, probability, rule), nulls included (an unlinked record)
links_st = st.tuples(
    st.sampled_from(["p1", "p2", "p3", None]),
    st.sampled_from(["id_number", "probabilistic", "unlinked"]),
    st.sampled_from([None, 0.91, 0.99]),
    st.sampled_from([None, "valid_id", "name_dob"]),
)


def _frame(links: dict[int, tuple]) -> pl.DataFrame:
    rows = [
        (f"f|m|{n}|1", "f", "f.csv", "m", None, n, 1, *link)  # record_locator, locator columns, the link
        for n, link in sorted(links.items())
    ]
    return pl.DataFrame(rows, schema=LINK, orient="row")


def _runs(frame: pl.DataFrame) -> dict[str, int]:
    return dict(frame.select("record_locator", "link_run").iter_rows())


@settings(max_examples=60, deadline=None)
@given(
    before=st.dictionaries(st.integers(0, 12), links_st, max_size=10),
    after=st.dictionaries(st.integers(0, 12), links_st, max_size=10),
    runs=st.integers(1, 5),
)
def test_a_record_takes_a_new_run_exactly_when_its_link_is_new_or_moved(tmp_path_factory, before, after, runs):
    path = Path(tmp_path_factory.mktemp("links")) / "links.parquet"
    # an earlier history: the previous file's records last changed in runs 1..runs
    previous = _frame(before).with_columns(((pl.col("record_no") % runs) + 1).cast(pl.Int64).alias("link_run"))
    write_parquet_atomic(previous, path)
    stamped, this_run = stamp_runs(_frame(after).lazy(), path)
    now = stamped.collect().sort("record_locator")
    assert this_run == (previous["link_run"].max() or 0) + 1
    assert now.drop("link_run").equals(_frame(after).sort("record_locator"))
    kept = _runs(previous)
    for locator, run in _runs(now).items():
        n = int(locator.split("|")[2])
        unchanged = n in before and before[n] == after[n]
        assert run == (kept[locator] if unchanged else this_run), (n, before.get(n), after[n])


def test_the_first_run_stamps_every_link_one_and_an_unchanged_relink_keeps_them(tmp_path: Path):
    path = tmp_path / "links.parquet"
    links = _frame({1: ("p1", "id_number", None, "valid_id"), 2: (None, "unlinked", None, None)})
    first = stamp_runs(links.lazy(), path)[0].collect().sort("record_locator")
    assert first["link_run"].to_list() == [1, 1]
    write_parquet_atomic(first, path)
    # linked again with nothing new: nothing to recompute; then record 2 joins a person: only it moves
    assert stamp_runs(links.lazy(), path)[0].collect().sort("record_locator")["link_run"].to_list() == [1, 1]
    moved = _frame({1: ("p1", "id_number", None, "valid_id"), 2: ("p1", "probabilistic", 0.99, "name_dob")})
    assert stamp_runs(moved.lazy(), path)[0].collect().sort("record_locator")["link_run"].to_list() == [1, 2]


def test_links_written_before_run_stamps_existed_are_all_new(tmp_path: Path):
    path = tmp_path / "links.parquet"
    links = _frame({1: ("p1", "id_number", None, "valid_id")})
    write_parquet_atomic(links, path)  # an older linkage's output: no link_run column
    assert stamp_runs(links.lazy(), path)[0].collect().sort("record_locator")["link_run"].to_list() == [1]


def test_a_run_number_is_never_reused_when_the_rows_stamped_with_it_are_gone(tmp_path: Path):
    links = {1: ("p1", "id_number", None, "valid_id"), 2: ("p2", "id_number", None, "valid_id")}
    write_links(_frame({1: links[1]}).lazy(), tmp_path)
    write_links(_frame(links).lazy(), tmp_path)  # run 2 brings record 2 only
    assert last_link_run(tmp_path / "links.parquet") == 2
    # record 2's file withdrawn: run 3 changes nothing that stays, yet the next change is run 4, not 2 or 3,
    # which a warehouse that built run 2 in would never read as new
    write_links(_frame({1: links[1]}).lazy(), tmp_path)
    assert pl.read_parquet(tmp_path / "links.parquet")["link_run"].to_list() == [1]
    assert last_link_run(tmp_path / "links.parquet") == 3
    write_links(_frame({1: ("p3", "probabilistic", 0.99, "name_dob")}).lazy(), tmp_path)
    assert pl.read_parquet(tmp_path / "links.parquet")["link_run"].to_list() == [4]
