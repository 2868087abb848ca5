"""Register versions (ingestion.versions) are the run-length encoding of the snapshots, in any arrival order.

The reference is written from the definition, independently of the store's splitting and merging: resolve
each snapshot date's listing (a key from the greatest file_md5 that lists it, then its later record_no), then
for each key cut the dates into runs of equal content; a run is one version, valid from its first date to
the date after its last (null: still listed on the last date), carrying the row of its first date. A column a
snapshot's file lacked is not stated: the key's row takes it from the key's row on the last earlier date that
listed it (a key seen first keeps its own null).
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
    judged_under,
    key_index,
    load_store,
    record_snapshot,
    snapshot_id,
    state_at,
    unstated_columns,
)
from ingestion.zones import Zones

TABLE = "police_population"
DAY0 = date(2024, 3, 4)


#: the content columns the test's rows carry: always stated, then what a file may lack (source column -> them)
VALUES = ("name_masked", "phone_masked", "police_station")
DROPPABLE = {"phone": "phone_masked", "police_station": "police_station"}


def snapshot_frame(md5: str, when: date, rows: list[tuple], dropped: frozenset[str] = frozenset()) -> pl.DataFrame:
    """A normalised snapshot: ``rows`` of (key, name[, phone, station]) in record order; a ``dropped`` source
    column's content is null, as the normaliser gives a column the file lacks."""
    rows = [(*r, None, None)[:4] for r in rows]
    frame = pl.DataFrame(
        {
            "feed": [TABLE] * len(rows),
            "file": [f"SYRK_{md5}.csv"] * len(rows),
            "file_md5": [md5] * len(rows),
            "sheet": [""] * len(rows),
            "record_no": list(range(1, len(rows) + 1)),
            "data_date": [when] * len(rows),
            "source_person_id": [r[0] for r in rows],
            "name_masked": [r[1] for r in rows],
            "phone_masked": [None if "phone" in dropped else r[2] for r in rows],
            "police_station": [None if "police_station" in dropped else r[3] for r in rows],
        },
        schema_overrides={c: pl.String for c in ("source_person_id", *VALUES)} | {"data_date": pl.Date},
    )
    return conform(frame, SCHEMAS[TABLE])


def build(snapshots: list[tuple]) -> Store:
    """Apply ``(md5, date, frame[, dropped source columns])`` in the order given."""
    store, indexes = empty_store(TABLE), {}
    for md5, when, frame, *dropped in snapshots:
        indexes[snapshot_id(md5, when)] = key_index(frame, TABLE)
        unstated = unstated_columns(TABLE, sorted(dropped[0]) if dropped else [])
        store = apply_snapshot(store, frame, md5, when, indexes.__getitem__, unstated)
    return store


def listing(snapshots, when: date) -> dict[str, tuple[tuple, str, int, frozenset[str]]]:
    """key -> (values, file_md5, record_no, columns its file did not state) as the date's files list it."""
    out: dict[str, tuple[tuple, str, int, frozenset[str]]] = {}
    for md5, d, frame, *dropped in sorted(snapshots, key=lambda s: s[0]):
        if d != when:
            continue
        unstated = frozenset(DROPPABLE[c] for c in (dropped[0] if dropped else ()))
        for key, *values, no in frame.select("source_person_id", *VALUES, "record_no").iter_rows():
            if key is not None:
                out[key] = (tuple(values), md5, no, unstated)  # later md5, then later record_no, overwrite
    return out


def stated(snapshots) -> tuple[list[date], list[dict[str, tuple[tuple, str, int]]]]:
    """Per date, key -> (values with unstated columns carried from the key's last earlier listing, md5, no)."""
    dates = sorted({s[1] for s in snapshots})
    last: dict[str, tuple] = {}
    out = []
    for d in dates:
        day = {}
        for key, (values, md5, no, unstated) in listing(snapshots, d).items():
            if key in last:
                values = tuple(last[key][i] if c in unstated else v for i, (c, v) in enumerate(zip(VALUES, values)))
            last[key] = values
            day[key] = (values, md5, no)
        out.append(day)
    return dates, out


def reference(snapshots) -> set[tuple]:
    dates, lists = stated(snapshots)
    keys = sorted({k for one in lists for k in one})
    versions = set()
    for key in keys:
        run = None
        for i, d in enumerate(dates):
            now = lists[i].get(key)
            if run and (now is None or now[0] != run[1][0]):
                versions.add((key, *run[1][0], run[1][1], run[1][2], run[0], d))
                run = None
            if now is not None and run is None:
                run = (d, now)
        if run:
            versions.add((key, *run[1][0], run[1][1], run[1][2], run[0], None))
    return versions


def as_set(store: Store) -> set[tuple]:
    cols = ["source_person_id", *VALUES, "file_md5", "record_no", "valid_from", "valid_to"]
    return set(store.versions.select(cols).iter_rows())


_rows = st.lists(
    st.tuples(
        st.sampled_from("abcde"),
        st.sampled_from(["甲", "乙", "丙"]),
        st.sampled_from(["138****0001", "139****0002", None]),
        st.sampled_from(["城关所", "南门所"]),
    ),
    max_size=7,
)
#: a week's export may leave out optional columns (the generator's register layouts)
_dropped = st.frozensets(st.sampled_from(sorted(DROPPABLE)))


@st.composite
def deliveries(draw):
    n = draw(st.integers(1, 6))
    md5s = draw(st.lists(st.text("0123456789abcdef", min_size=4, max_size=4), min_size=n, max_size=n, unique=True))
    days = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    snapshots = []
    for m, w in zip(md5s, days):
        when, dropped = DAY0 + timedelta(weeks=w), draw(_dropped)
        snapshots.append((m, when, snapshot_frame(m, when, draw(_rows), dropped), dropped))
    order = draw(st.permutations(range(n)))
    return snapshots, [snapshots[i] for i in order]


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_versions_are_the_snapshots_run_length_encoded_in_any_arrival_order(case):
    by_date, arrived = case
    store = build(arrived)
    assert as_set(store) == reference(by_date)
    assert store.versions.height == len(reference(by_date))
    # and each date's state is that date's listing, with what its files did not state carried
    dates, lists = stated(by_date)
    for when, day in zip(dates, lists):
        state = state_at(store.versions, when).select("source_person_id", *VALUES)
        assert {k: tuple(v) for k, *v in state.iter_rows()} == {k: v[0] for k, v in day.items()}


@settings(max_examples=100, deadline=None)
@given(deliveries())
def test_a_snapshot_applied_twice_changes_nothing(case):
    _, arrived = case
    store = build(arrived)
    md5, when, frame, dropped = arrived[0]
    frames = {snapshot_id(m, d): f for m, d, f, _ in arrived}
    unstated = unstated_columns(TABLE, sorted(dropped))
    again = apply_snapshot(store, frame, md5, when, lambda snap: key_index(frames[snap], TABLE), unstated)
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


def test_a_snapshot_is_trusted_only_under_the_suite_that_passed_every_snapshot_of_the_date_before(tmp_path):
    zones = Zones(tmp_path)
    week1, week2, week3 = DAY0, DAY0 + timedelta(weeks=1), DAY0 + timedelta(weeks=2)
    record_snapshot(zones, TABLE, "aaaa", week1, snapshot_frame("aaaa", week1, [("p", "甲")]), suite="s1")
    assert judged_under(zones, TABLE, week1) is None  # nothing before the first snapshot
    assert judged_under(zones, TABLE, week2) == "s1"
    # a second file of the same date loaded without a gate: that date's rows are no longer all passed by s1
    record_snapshot(zones, TABLE, "bbbb", week1, snapshot_frame("bbbb", week1, [("q", "乙")]))
    assert judged_under(zones, TABLE, week2) is None
    # judged again by s1 (a redone file): trusted again
    record_snapshot(zones, TABLE, "bbbb", week1, snapshot_frame("bbbb", week1, [("q", "乙")]), suite="s1")
    assert judged_under(zones, TABLE, week2) == "s1"
    # the next week passed by another suite: the week after trusts that suite only
    record_snapshot(zones, TABLE, "cccc", week2, snapshot_frame("cccc", week2, [("p", "甲")]), suite="s2")
    assert (judged_under(zones, TABLE, week2), judged_under(zones, TABLE, week3)) == ("s1", "s2")
    # two files of one date passed by different suites
    record_snapshot(zones, TABLE, "dddd", week2, snapshot_frame("dddd", week2, [("q", "乙")]), suite="s1")
    assert judged_under(zones, TABLE, week3) is None
