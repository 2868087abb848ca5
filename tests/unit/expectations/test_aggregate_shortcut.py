"""The gate's shortcut for a versioned snapshot (expectations.runner._passes_on_aggregates) never passes what GX
would fail: whenever the Polars aggregates say a whole-file rule certainly holds, GX's own result for that rule
on the same frame is a success. Property-tested on files with cells knocked out, replaced or duplicated.

The shortcut is generic over the rule's kind and the table's columns; the incidents frame of
test_expectations is a table with every kind of rule the shortcut computes (sets, patterns, ranges, pairs, keys,
rates).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expectations import suite_for
from expectations.runner import _SUMMARY, _passes_on_aggregates, _run, _subsuite, _with_derived
from expectations.suites import to_pandas
from tests.unit.expectations.test_expectations import incidents

TABLE = "police_incidents"
BASE = incidents(40)
#: values that break one rule or another of a column's kind: empty, foreign, out of range, far in time
ODD = {
    pl.String: ["", "X", "??", "5206021", "abc123"],
    pl.Int64: [-1, 0, 10**9],
    pl.Int32: [-1, 0, 10**6],
    pl.Float64: [-200.0, 0.0, 1e6],
    pl.Boolean: [True, False],
    pl.Date: [dt.date(1899, 1, 1), dt.date(2099, 1, 1)],
}
COLUMNS = [c for c in BASE.columns if c not in ("feed", "file", "file_md5")]

edits = st.lists(
    st.tuples(
        st.integers(0, BASE.height - 1),
        st.sampled_from(COLUMNS),
        st.sampled_from(["null", "odd", "copy"]),
        st.integers(0, 10),
    ),
    max_size=25,
)


def _edited(frame: pl.DataFrame, changes: list[tuple[int, str, str, int]]) -> pl.DataFrame:
    columns = {c: frame.get_column(c).to_list() for c in frame.columns}
    for row, column, how, pick in changes:
        dtype = frame.schema[column]
        if how == "null":
            columns[column][row] = None
        elif how == "copy":  # another row's value: duplicates keys and moves pairs out of order
            columns[column][row] = columns[column][(row + pick + 1) % frame.height]
        else:
            odd = ODD.get(type(dtype)) or ODD.get(dtype)
            if odd is not None:
                columns[column][row] = odd[pick % len(odd)]
    return pl.DataFrame(columns, schema=frame.schema)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=edits)
def test_what_the_aggregates_pass_gx_passes(changes):
    frame = _edited(BASE, changes)
    suite = suite_for(TABLE)
    configs = {e.id: e.configuration for e in suite.expectations}
    passed = {eid for eid, config in configs.items() if _passes_on_aggregates(TABLE, config, frame)}
    if not passed:
        return
    result = _run(to_pandas(_with_derived(TABLE, frame)), _subsuite(TABLE, suite, passed), _SUMMARY)
    failed = [r.expectation_config.type for r in result.results if not r.success]
    assert not failed, f"the aggregates passed what GX fails: {failed}"


def test_the_shortcut_judges_most_rules_of_a_clean_file():
    """Not a shortcut that never answers: on a clean file most of the suite is passed from aggregates."""
    suite = suite_for(TABLE)
    judged = [e for e in suite.expectations if _passes_on_aggregates(TABLE, e.configuration, BASE)]
    assert len(judged) >= len(suite.expectations) // 2
