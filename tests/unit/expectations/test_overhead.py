"""expectations.overhead: GX's repeated work within a run done once, and nothing kept beyond it."""

from __future__ import annotations

import pandas as pd
import pytest

from expectations import overhead


@pytest.fixture(scope="module", autouse=True)
def installed():
    assert overhead.install()


def test_an_expectation_changed_between_calls_is_read_afresh():
    import great_expectations as gx

    e = gx.expectations.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120)
    assert e._get_runtime_kwargs()["max_value"] == 120
    e.max_value = 150  # a suite edited between two runs
    assert e._get_runtime_kwargs()["max_value"] == 150
    assert e._get_success_kwargs()["max_value"] == 150 and e._get_domain_kwargs()["column"] == "age"


def test_configuration_is_built_once_per_call_of_the_collecting_methods():
    builds = []

    class Fake:
        def build(self):
            builds.append(self)
            return {"kwargs": len(builds)}

        configuration = property(overhead._configuration_read_once(build))

        @overhead._reads_configuration_once
        def collect(self):
            return [self.configuration["kwargs"] for _ in range(5)]

    fake = Fake()
    assert fake.collect() == [1] * 5 and len(builds) == 1
    assert fake.collect() == [2] * 5 and len(builds) == 2  # the next call builds afresh
    assert fake.configuration["kwargs"] == 3 and fake.configuration["kwargs"] == 4  # outside a call: every read


def _engine():
    from great_expectations.execution_engine import PandasExecutionEngine

    return PandasExecutionEngine()


def test_a_row_condition_is_applied_once_per_run_and_each_caller_gets_its_own_copy(monkeypatch):
    queries = []
    query = pd.DataFrame.query

    def spy(self, expr, **kwargs):
        queries.append(expr)
        return query(self, expr, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "query", spy)
    engine, data = _engine(), pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    condition = {"condition_parser": "pandas"}
    with overhead.one_run():
        first = engine._apply_row_condition_filter(data, "a > 1", condition)
        first["b"] = "changed"  # a caller changing its rows
        second = engine._apply_row_condition_filter(data, "a > 1", condition)
        other = engine._apply_row_condition_filter(data, "a > 2", condition)
    assert queries == ["a > 1", "a > 2"]
    assert second["b"].tolist() == ["y", "z"] and other["a"].tolist() == [3]
    engine._apply_row_condition_filter(data, "a > 1", condition)  # after the run: filtered afresh
    assert queries == ["a > 1", "a > 2", "a > 1"]


def test_a_large_batch_is_filtered_for_every_metric(monkeypatch):
    queries = []
    query = pd.DataFrame.query
    monkeypatch.setattr(pd.DataFrame, "query", lambda self, expr, **kw: queries.append(expr) or query(self, expr, **kw))
    monkeypatch.setattr(overhead, "KEEP_FILTERED_ROWS", 2)
    engine, data = _engine(), pd.DataFrame({"a": [1, 2, 3]})
    with overhead.one_run():
        for _ in range(2):
            engine._apply_row_condition_filter(data, "a > 1", {"condition_parser": "pandas"})
    assert queries == ["a > 1", "a > 1"]
