"""Stable person keys (ingestion.linkage.keys.assign_keys): a published key stays with its person, a merge
or split leaves an alias row, and nothing else moves. Key assignment is a pure function of the previous
clusters and today's, so the rules are checked as properties over random partitions of records."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.linkage.keys import ALIAS_SCHEMA, assign_keys

DAY1, DAY2 = date(2025, 1, 1), date(2025, 1, 2)


def _clusters(labels: dict[int, int], anchored: set[int]) -> pl.DataFrame:
    """records -> cluster label as linkage sees them: natural key = the smallest record (or the ID) of the cluster."""
    naturals = _naturals(labels, anchored)
    rows = sorted({(naturals[r], labels[r] in anchored) for r in labels})
    return pl.DataFrame(rows, schema={"natural_key": pl.String, "is_anchored": pl.Boolean}, orient="row")


def _naturals(labels: dict[int, int], anchored: set[int]) -> dict[int, str]:
    smallest: dict[int, int] = {}
    for record, label in labels.items():
        smallest[label] = min(smallest.get(label, record), record)
    return {r: (f"id{label}" if label in anchored else f"c{smallest[label]}") for r, label in labels.items()}


def _run(labels: dict[int, int], anchored: set[int], before=None, *, day=DAY1):
    """One linkage run: today's clusters against what ``before`` (record -> key, registry, aliases) published."""
    naturals = _naturals(labels, anchored)
    published, registry, aliases = before or ({}, None, None)
    counts: dict[tuple[str, str], int] = {}
    for record, natural in naturals.items():
        if record in published:
            counts[(natural, published[record])] = counts.get((natural, published[record]), 0) + 1
    overlap = pl.DataFrame(
        [(n, o, c) for (n, o), c in sorted(counts.items())],
        schema={"natural_key": pl.String, "old_key": pl.String, "records": pl.Int64},
        orient="row",
    )
    out = assign_keys(_clusters(labels, anchored), overlap, registry, aliases, changed_on=day, model="model-1")
    key_of = dict(out.keys.iter_rows())
    return {r: key_of[n] for r, n in naturals.items()}, out


# random clusterings: record -> cluster label, and which labels hold a valid ID
partitions = st.integers(min_value=1, max_value=25).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 8), min_size=n, max_size=n).map(lambda ls: dict(enumerate(ls))),
        st.sets(st.integers(0, 8), max_size=3),
    )
)


@settings(max_examples=200, deadline=None)
@given(partitions)
def test_the_same_clusters_run_twice_move_no_person_key(partition):
    labels, anchored = partition
    first, out1 = _run(labels, anchored)
    second, out2 = _run(labels, anchored, (first, out1.registry, out1.aliases), day=DAY2)
    assert second == first
    assert out2.aliases.height == 0
    assert out2.counts["persons_unchanged"] == len(set(first.values()))


@settings(max_examples=200, deadline=None)
@given(partitions, st.lists(st.integers(0, 12), min_size=1, max_size=10))
def test_new_records_that_merge_no_two_persons_move_no_person_key(partition, joins):
    """A day of records that join one known person each, or form new persons, leaves every key in place,
    even when a new record has a smaller locator than the cluster's oldest (the natural key changes)."""
    labels, anchored = partition
    first, out1 = _run(labels, anchored)
    later = dict(labels)
    # new records sort before the old ones (negative numbers): the natural key of a cluster they join moves
    for i, label in enumerate(joins):
        later[-1 - i] = label
    second, out2 = _run(later, anchored, (first, out1.registry, out1.aliases), day=DAY2)
    assert {r: second[r] for r in first} == first
    assert out2.aliases.height == 0
    assert len(set(second.values())) == len(set(later.values()))


@settings(max_examples=200, deadline=None)
@given(partitions, st.data())
def test_evidence_merging_two_persons_records_one_alias_row(partition, data):
    labels, anchored = partition
    persons = sorted(set(labels.values()))
    if len(persons) < 2:
        persons.append(max(persons) + 1)
        labels = {**labels, len(labels): persons[-1]}
    a, b = data.draw(st.lists(st.sampled_from(persons), min_size=2, max_size=2, unique=True))
    if a in anchored and b in anchored:  # two valid IDs never merge (the chaining guard)
        anchored = anchored - {b}
    if b in anchored:  # the merged person is named by the one ID it holds
        a, b = b, a
    first, out1 = _run(labels, anchored)
    merged = {r: (a if label == b else label) for r, label in labels.items()}
    second, out2 = _run(merged, anchored, (first, out1.registry, out1.aliases), day=DAY2)
    key_a = next(first[r] for r, label in labels.items() if label == a)
    key_b = next(first[r] for r, label in labels.items() if label == b)
    assert out2.aliases.height == 1
    row = out2.aliases.row(0, named=True)
    assert row["change"] == "merged" and row["changed_on"] == DAY2 and row["linkage_model"] == "model-1"
    assert {row["old_person_key"], row["new_person_key"]} == {key_a, key_b}
    assert row["current_person_key"] == row["new_person_key"]
    # every other person keeps their key
    assert {r: second[r] for r, label in labels.items() if label not in (a, b)} == {
        r: first[r] for r, label in labels.items() if label not in (a, b)
    }


@settings(max_examples=300, deadline=None)
@given(partitions, partitions)
def test_a_published_key_never_silently_disappears(before, after):
    """Whatever the next clustering (merges, splits, IDs gained), every key published yesterday is a person's
    key today or has an alias row today that says where its records are; no key is given to two persons."""
    labels, anchored = before
    later, later_anchored = after
    records = dict(labels)
    records.update({r: 100 + label for r, label in later.items()})  # a whole new clustering of the same records
    first, out1 = _run(labels, anchored)
    second, out2 = _run(
        records, anchored | {100 + a for a in later_anchored}, (first, out1.registry, out1.aliases), day=DAY2
    )
    today = set(second.values())
    aliased = dict(out2.aliases.select("old_person_key", "current_person_key").iter_rows())
    for key in set(first.values()):
        assert key in today or aliased.get(key) in today, key
    # one key per cluster, and a key issued once is never issued to another cluster
    assert len(today) == len(set(records.values()))
    fresh = today - set(first.values())
    assert not fresh & set(out1.registry["person_key"].to_list())


def test_a_merge_keeps_the_older_key_and_the_valid_id_key_wins():
    first, out1 = _run({1: 0, 2: 1}, set())  # two persons without an ID: keys c1, c2
    assert first == {1: "c1", 2: "c2"}
    # a record with a smaller locator merges them: the natural key would be c0, the older published key stays
    second, out2 = _run({0: 0, 1: 0, 2: 0}, set(), (first, out1.registry, out1.aliases), day=DAY2)
    assert set(second.values()) == {"c1"}
    assert out2.aliases.select("old_person_key", "new_person_key", "change").rows() == [("c2", "c1", "merged")]
    # later an ID is found for them: the ID's key is the person's key; c1 is an alias of it, and c2 follows
    third, out3 = _run({0: 0, 1: 0, 2: 0}, {0}, (second, out2.registry, out2.aliases), day=date(2025, 1, 3))
    assert set(third.values()) == {"id0"}
    assert out3.aliases.select("old_person_key", "new_person_key", "current_person_key").rows() == [
        ("c2", "c1", "id0"),
        ("c1", "id0", "id0"),
    ]


def test_a_split_keeps_the_key_with_most_records_and_records_the_new_one():
    first, out1 = _run({1: 0, 2: 0, 3: 0}, set())
    second, out2 = _run({1: 1, 2: 0, 3: 0}, set(), (first, out1.registry, out1.aliases), day=DAY2)
    assert second[2] == second[3] == "c1"  # two of its three records stay: the key stays with them
    assert second[1] != "c1"  # its natural key c1 is taken: a key is derived, never reissued
    rows = out2.aliases.select("old_person_key", "new_person_key", "change", "records").rows()
    assert rows == [("c1", second[1], "split", 1)]
    assert out2.counts["persons_split"] == 1 and out2.counts["persons_merged"] == 0


def test_alias_schema_has_nothing_personal():
    assert set(ALIAS_SCHEMA) == {
        "old_person_key",
        "new_person_key",
        "current_person_key",
        "changed_on",
        "change",
        "records",
        "linkage_model",
    }
