"""Register versions (ingestion.versions) are the run-length encoding of the snapshots, in any arrival order.

The reference is written from the definition, independently of the store's splitting and merging: resolve
each snapshot date's listing (a key from the greatest file_md5 that lists it, then its later record_no), then
for each key cut the dates into runs of equal content; a run is one version, valid from its first date to
the date after its last (null: still listed on the last date), carrying the row of its first date.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.schemas import SCHEMAS, conform
from ingestion.versions import (
    Store,
    apply_snapshot,
    count_changes,
    empty_store,
    key_index,
    load_store,
    record_snapshot,
    snapshot_id,
    state_at,
)
from ingestion.zones import Zones

TABLE = "police_population"
DAY0 = date(2024, 3, 4)


def snapshot_frame(md5: str, when: date, rows: list[tuple[str, str]]) -> pl.DataFrame:
    """A normalised snapshot: ``rows`` of (key, name) in record order."""
    frame = pl.DataFrame(
        {
            "feed": [TABLE] * len(rows),
            "file": [f"SYRK_{md5}.csv"] * len(rows),
            "file_md5": [md5] * len(rows),
            "sheet": [""] * len(rows),
            "record_no": list(range(1, len(rows) + 1)),
            "data_date": [when] * len(rows),
            "source_person_id": [k for k, _ in rows],
            "name_masked": [v for _, v in rows],
        },
        schema_overrides={"data_date": pl.Date, "source_person_id": pl.String, "name_masked": pl.String},
    )
    return conform(frame, SCHEMAS[TABLE])


def build(snapshots: list[tuple[str, date, pl.DataFrame]]) -> Store:
    store, indexes = empty_store(TABLE), {}
    for md5, when, frame in snapshots:
        indexes[snapshot_id(md5, when)] = key_index(frame, TABLE)
        store = apply_snapshot(store, frame, md5, when, indexes.__getitem__)
    return store


def listing(snapshots, when: date) -> dict[str, tuple[str, str, int]]:
    """key -> (name, file_md5, record_no) as the date's files list it."""
    out: dict[str, tuple[str, str, int]] = {}
    for md5, d, frame in sorted(snapshots, key=lambda s: s[0]):
        if d != when:
            continue
        for key, name, no in frame.select("source_person_id", "name_masked", "record_no").iter_rows():
            if key is not None:
                out[key] = (name, md5, no)  # later md5, then later record_no, overwrite
    return out


def reference(snapshots) -> set[tuple]:
    dates = sorted({d for _, d, _ in snapshots})
    lists = [listing(snapshots, d) for d in dates]
    keys = sorted({k for one in lists for k in one})
    versions = set()
    for key in keys:
        run = None
        for i, d in enumerate(dates):
            now = lists[i].get(key)
            if run and (now is None or now[0] != run[1][0]):
                versions.add((key, run[1][0], run[1][1], run[1][2], run[0], d))
                run = None
            if now is not None and run is None:
                run = (d, now)
        if run:
            versions.add((key, run[1][0], run[1][1], run[1][2], run[0], None))
    return versions


def as_set(store: Store) -> set[tuple]:
    cols = ["source_person_id", "name_masked", "file_md5", "record_no", "valid_from", "valid_to"]
    return set(store.versions.select(cols).iter_rows())


_rows = st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from(["甲", "乙", "丙"])), max_size=7)


@st.composite
def deliveries(draw):
    n = draw(st.integers(1, 6))
    md5s = draw(st.lists(st.text("0123456789abcdef", min_size=4, max_size=4), min_size=n, max_size=n, unique=True))
    days = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    snapshots = [
        (m, DAY0 + timedelta(weeks=w), snapshot_frame(m, DAY0 + timedelta(weeks=w), draw(_rows)))
        for m, w in zip(md5s, days)
    ]
    order = draw(st.permutations(range(n)))
    return snapshots, [snapshots[i] for i in order]


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_versions_are_the_snapshots_run_length_encoded_in_any_arrival_order(case):
    by_date, arrived = case
    store = build(arrived)
    assert as_set(store) == reference(by_date)
    assert store.versions.height == len(reference(by_date))
    # and each date's state is that date's listing
    for when in store.dates():
        state = state_at(store.versions, when).select("source_person_id", "name_masked")
        assert dict(state.iter_rows()) == {k: v[0] for k, v in listing(by_date, when).items()}


@settings(max_examples=100, deadline=None)
@given(deliveries())
def test_a_snapshot_applied_twice_changes_nothing(case):
    _, arrived = case
    store = build(arrived)
    md5, when, frame = arrived[0]
    frames = {snapshot_id(m, d): f for m, d, f in arrived}
    again = apply_snapshot(store, frame, md5, when, lambda snap: key_index(frames[snap], TABLE))
    assert again is store


def test_a_late_snapshot_splits_and_merges():
    a = snapshot_frame("aaaa", DAY0, [("p", "甲"), ("q", "甲")])
    c = snapshot_frame("cccc", DAY0 + timedelta(weeks=2), [("p", "甲"), ("q", "乙")])
    b = snapshot_frame("bbbb", DAY0 + timedelta(weeks=1), [("p", "乙"), ("q", "甲")])
    store = build([("aaaa", DAY0, a), ("cccc", DAY0 + timedelta(weeks=2), c)])
    assert store.versions.height == 3  # p once, q twice
    store = build([("aaaa", DAY0, a), ("cccc", DAY0 + timedelta(weeks=2), c), ("bbbb", DAY0 + timedelta(weeks=1), b)])
    p = store.versions.filter(pl.col("source_person_id") == "p").sort("valid_from")
    # p was 甲, is 乙 in the late week, 甲 again after: three versions, the third on the last file's row
    assert p.select("name_masked", "file_md5").rows() == [("甲", "aaaa"), ("乙", "bbbb"), ("甲", "cccc")]
    q = store.versions.filter(pl.col("source_person_id") == "q").sort("valid_from")
    assert q.select("name_masked", "file_md5", "valid_to").rows() == [
        ("甲", "aaaa", DAY0 + timedelta(weeks=2)),
        ("乙", "cccc", None),
    ]


def test_counts_and_the_store_on_disk(tmp_path):
    zones = Zones(tmp_path)
    a = snapshot_frame("aaaa", DAY0, [("p", "甲"), ("q", "甲"), ("r", "甲")])
    b = snapshot_frame("bbbb", DAY0 + timedelta(weeks=1), [("p", "甲"), ("q", "乙"), ("s", "甲"), (None, "甲")])
    first = record_snapshot(zones, TABLE, "aaaa", DAY0, a)
    assert (first.unchanged, first.changed, first.new, first.gone) == (0, 0, 3, 0)
    second = record_snapshot(zones, TABLE, "bbbb", DAY0 + timedelta(weeks=1), b)
    # p unchanged, q changed, s and the keyless row new (4 rows), r gone
    assert (second.unchanged, second.changed, second.new, second.gone) == (1, 1, 2, 1)
    store = load_store(zones, TABLE)
    assert set(store.snapshots) == {"aaaa@2024-03-04", "bbbb@2024-03-11"}
    # redone after a crash before the ledger row: the same counts, the same store
    again = record_snapshot(zones, TABLE, "bbbb", DAY0 + timedelta(weeks=1), b)
    assert again == second
    assert load_store(zones, TABLE).versions.equals(store.versions)
    assert count_changes(store, a, "aaaa", DAY0).new == 3
