"""GateBatch: the files of one run share GX runs, yet each is judged, held and written on its own, in order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from expectations.gate import GateBatch, GateLog
from orchestration.defs.feeds.checks import check_result
from orchestration.lib.labels import LABELS
from tests.unit.expectations.test_expectations import broken_incidents, incidents


@dataclass
class Gated:
    table: str
    frame: pl.DataFrame
    label: str


class Recorder:
    """Stands in for normalise_file and commit: normalise (before the gate), then write where the verdict says."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.running = 0
        self.overlap = False

    def work(self, name: str, frame, *, fail_before_gate: bool = False, table: str = "police_incidents"):
        def prepare():
            self.running += 1
            self.overlap |= self.running > 1
            try:
                self.events.append(f"normalise {name}")
                if fail_before_gate:
                    raise ValueError(f"{name} cannot be normalised")
            finally:
                self.running -= 1
            return Gated(table, frame, name), commit

        def commit(verdict):
            self.running += 1
            self.overlap |= self.running > 1
            self.events.append(f"write {name} {'normalised' if verdict.passed else 'held'}")
            self.running -= 1
            return verdict.passed

        return prepare


def test_files_share_a_gx_run_and_are_written_in_order_each_by_its_own_verdict(tmp_path: Path) -> None:
    rec, log = Recorder(), GateLog()
    files = {"a": incidents(file="A.csv"), "b": broken_incidents(), "c": incidents(file="C.csv")}
    done = []
    with GateBatch(tmp_path, log) as batch:
        for name, frame in files.items():
            done += batch.submit(name, rec.work(name, frame))
        assert done == [] and rec.events == ["normalise a", "normalise b", "normalise c"]  # all wait at the gate
        done += batch.close()
    assert done == [("a", True), ("b", False), ("c", True)]
    assert rec.events[3:] == ["write a normalised", "write b held", "write c normalised"]
    assert not rec.overlap
    assert list(log.verdicts) == ["a", "b", "c"]
    assert {v.detail.batched for v in log.verdicts.values()} == {3}
    assert "expect_column_values_to_be_in_set(category)" in log.verdicts["b"].summary
    result = check_result("police_incidents", log)
    assert not result.passed and result.metadata[LABELS["files_failed"]].value == 1
    assert (tmp_path / "police_incidents" / "b.html").exists()


def test_a_full_batch_is_validated_before_the_next_file_starts(tmp_path: Path) -> None:
    rec = Recorder()
    with GateBatch(tmp_path, GateLog(), max_files=2) as batch:
        assert batch.submit("a", rec.work("a", incidents(file="A.csv"))) == []
        assert batch.submit("b", rec.work("b", incidents(file="B.csv"))) == [("a", True), ("b", True)]
        assert batch.submit("c", rec.work("c", incidents(file="C.csv"))) == []
        assert batch.close() == [("c", True)]
    assert rec.events == ["normalise a", "normalise b", "write a normalised", "write b normalised",
                          "normalise c", "write c normalised"]  # fmt: skip


def test_a_file_failing_before_its_gate_lets_the_earlier_files_finish_then_raises(tmp_path: Path) -> None:
    rec = Recorder()
    with pytest.raises(ValueError, match="b cannot be normalised"):
        with GateBatch(tmp_path, GateLog()) as batch:
            batch.submit("a", rec.work("a", incidents(file="A.csv")))
            batch.submit("b", rec.work("b", incidents(), fail_before_gate=True))
            batch.submit("c", rec.work("c", incidents(file="C.csv")))
    assert rec.events == ["normalise a", "normalise b", "write a normalised"]


def test_leaving_on_an_error_unwinds_the_waiting_files_without_writing(tmp_path: Path) -> None:
    rec = Recorder()
    with pytest.raises(RuntimeError, match="run stopped"):
        with GateBatch(tmp_path, GateLog()) as batch:
            batch.submit("a", rec.work("a", incidents(file="A.csv")))
            raise RuntimeError("run stopped")
    assert rec.events == ["normalise a"]
    assert not (tmp_path / "police_incidents").exists()
    assert batch.waiting == 0


def test_a_validation_error_writes_nothing(tmp_path: Path) -> None:
    rec = Recorder()
    with pytest.raises(Exception, match="no_such_table"):
        with GateBatch(tmp_path, GateLog()) as batch:
            batch.submit("a", rec.work("a", incidents(file="A.csv")))
            batch.submit("x", rec.work("x", incidents(), table="no_such_table"))
            batch.close()
    assert rec.events == ["normalise a", "normalise x"]
