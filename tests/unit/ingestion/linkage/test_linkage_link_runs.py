"""The linkage run stamp (ingestion.linkage.core.stamp_runs): a record's ``link_run`` moves exactly when its
link does, which is what lets dbt's person tables recompute only the records whose link changed."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ingestion.linkage import core
from ingestion.linkage.core import LINK_RUN_KEY, last_link_run, stamp_runs, write_links
from ingestion.linkage.features import LOCATOR, record_locator
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

# one record's link: (person, method, probability, rule), nulls included (an unlinked record); 0.99 and the
# next doubles above it are one score scored by two engines (the last bits apart), 0.99 + 2e-9 another score
links_st = st.tuples(
    st.sampled_from(["p1", "p2", "p3", None]),
    st.sampled_from(["id_number", "probabilistic", "unlinked"]),
    st.sampled_from([None, 0.91, 0.99, 0.99 + 3e-15, 0.99 + 2e-9]),
    st.sampled_from([None, "valid_id", "name_dob"]),
)


def _same_link(one: tuple, other: tuple) -> bool:
    """Two links are one when all but the probability are equal and the probabilities are within
    core.SAME_SCORE_TOLERANCE of each other (both None alike)."""
    (p1, *rest1), (p2, *rest2) = (one[2], *one[:2], *one[3:]), (other[2], *other[:2], *other[3:])
    close = (p1 is None and p2 is None) or (p1 is not None and p2 is not None and abs(p1 - p2) <= 1e-9)
    return close and rest1 == rest2


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
    # an unmoved link keeps its row as it was, the probability included
    unmoved = {n for n in after if n in before and _same_link(before[n], after[n])}
    expected = {n: before[n] if n in unmoved else link for n, link in after.items()}
    assert now.drop("link_run").equals(_frame(expected).sort("record_locator"))
    kept = _runs(previous)
    for locator, run in _runs(now).items():
        n = int(locator.split("|")[2])
        assert run == (kept[locator] if n in unmoved else this_run), (n, before.get(n), after[n])


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


# The stamp against a plain reference: this run's links joined to the last run's on the record_locator text,
# every link column compared with eq_missing (what stamp_runs did before it joined on integers).
_FEEDS = ["police_population", "petitions"]
_MD5S = ["0" * 32, "f" * 32]
# a null sheet and '' are one locator (features.record_locator), as are a null member and 1; record numbers
# past 2**32 and below 0 share their low 32 bits with small ones
_PLACES = [
    (feed, md5, sheet, record_no, member_no)
    for feed in _FEEDS
    for md5 in _MD5S
    for sheet in (None, "", "Sheet1")
    for record_no in (1, 2**32 + 1, -(2**32) + 1, None)
    for member_no in (None, 1, 2)
]
_LINK = {
    "person_key": pl.String,
    "link_method": pl.String,
    "match_probability": pl.Float64,
    "cluster_records": pl.Int64,
}
_link_st = st.tuples(
    st.sampled_from(["p1", "p2", None]),
    st.sampled_from(["id_number", "probabilistic"]),
    # -0.0 equals 0.0 and NaN equals NaN under eq_missing; 0.5 + 1e-15 is 0.5 scored by another engine
    st.sampled_from([None, 0.5, 0.5 + 1e-15, 0.5 + 1e-6, 0.0, -0.0, float("nan")]),
    st.sampled_from([None, 1, 2]),
)


def _links_frame(rows: list[tuple]) -> pl.DataFrame:
    schema = {c: LINK[c] for c in LOCATOR if c != "file"} | {"member_no": pl.Int32} | _LINK
    frame = pl.DataFrame(rows, schema=schema, orient="row", strict=False)
    return frame.select(
        *(pl.col(c) if c != "file" else pl.col("file_md5").str.head(4).alias("file") for c in LOCATOR),
        record_locator().alias("record_locator"),
        *_LINK,
    )


def stamp_by_locator_text(links, previous, this_run: int):
    """The stamp as a plain join on the locator text (the way it was before the integer key): the reference.
    Eager or lazy alike (``benchmarks/bench_link_stamp.py`` measures it lazily). A float link column is the same
    within 1e-9 (relative above 1), and an unmoved record keeps its earlier value."""
    schema = links.collect_schema()
    compared = [c for c in schema.names() if c not in ("record_locator", *LOCATOR)]
    if previous is None or not set(compared) <= set(previous.collect_schema().names()):
        return links.with_columns(pl.lit(this_run, dtype=pl.Int64).alias("link_run"))
    kept = previous.select("record_locator", "link_run", *(pl.col(c).alias(f"{c}__before") for c in compared))
    floats = [c for c in compared if schema[c].is_float()]

    def same(c: str) -> pl.Expr:
        now, before = pl.col(c), pl.col(f"{c}__before")
        if c not in floats:
            return now.eq_missing(before)
        tolerance = 1e-9 * pl.when(before.abs() > 1).then(before.abs()).otherwise(1.0)
        return now.eq_missing(before) | ((now - before).abs() <= tolerance).fill_null(False)

    unmoved = pl.col("link_run").is_not_null() & pl.all_horizontal(*(same(c) for c in compared))
    return (
        links.join(kept, on="record_locator", how="left")
        .with_columns(
            pl.when(unmoved).then(pl.col("link_run")).otherwise(pl.lit(this_run)).cast(pl.Int64).alias("link_run"),
            *(pl.when(unmoved).then(pl.col(f"{c}__before")).otherwise(pl.col(c)).alias(c) for c in floats),
        )
        .drop([f"{c}__before" for c in compared])
    )


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    # the order of the rows is not part of the stamp (a streamed join keeps none)
    return frame.sort(pl.all(), nulls_last=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    before=st.lists(st.tuples(st.sampled_from(_PLACES), _link_st), max_size=14),
    runs=st.lists(st.one_of(st.none(), st.integers(1, 6)), min_size=14, max_size=14),
    written_run=st.integers(0, 9),
    part_rows=st.sampled_from([1, 3, 4_000_000]),
    change=st.sampled_from(
        ["none", "column_added", "column_dropped", "dtype_narrowed", "no_locator_columns", "text_record_no"]
    ),
)
def test_the_stamp_is_the_reference_join_on_the_locator_text(
    tmp_path_factory, data, before, runs, written_run, part_rows, change
):
    path = Path(tmp_path_factory.mktemp("links")) / "links.parquet"
    # this run: some of the last run's records, each with its link or another, and records new to linkage
    after = [
        (place, data.draw(st.one_of(st.just(link), _link_st))) for place, link in before if data.draw(st.booleans())
    ] + data.draw(st.lists(st.tuples(st.sampled_from(_PLACES), _link_st), max_size=6))
    previous = _links_frame([(*place, *link) for place, link in before]).with_columns(
        pl.Series("link_run", runs[: len(before)], dtype=pl.Int64)
    )
    links = _links_frame([(*place, *link) for place, link in after])
    if change == "column_added":  # this code writes a link column the last run did not
        links = links.with_columns(pl.lit("x").alias("rule"))
    elif change == "column_dropped":  # the last run wrote a column this code no longer does
        previous = previous.with_columns(pl.lit(1.0).alias("match_weight"))
    elif change == "dtype_narrowed":
        previous = previous.with_columns(pl.col("cluster_records").cast(pl.Int32))
    elif change == "no_locator_columns":
        previous = previous.drop(LOCATOR[1:])
    elif change == "text_record_no":
        links = links.with_columns(pl.col("record_no").cast(pl.String))
    previous.write_parquet(path, metadata={LINK_RUN_KEY: str(written_run)})

    with patch.object(core, "STAMP_PART_ROWS", part_rows):
        stamped, this_run = stamp_runs(links.lazy(), path)
        got = stamped.collect(engine="streaming")
    assert this_run == max(written_run, previous["link_run"].max() or 0) + 1
    expected = stamp_by_locator_text(links, previous if this_run > 1 else None, this_run)
    assert got.columns == expected.columns
    assert_frame_equal(_sorted(got), _sorted(expected))
