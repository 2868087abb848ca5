"""The gate on a versioned register snapshot (issue 20 part 1): rates, keys, schema and locator judged over the
whole file from aggregates, row rules only on the rows new or changed against the snapshot before; a bad file
gets the verdict it always got.

A small generated district's register is loaded through the GX gate (so each later snapshot is judged by its
changes), then its latest snapshot is delivered again a week later: unchanged, with one bad changed row, and
with an unchanged row listed twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import polars as pl
import pytest

import expectations.runner as runner
from expectations.gate import GateBatch, GateLog, gx_gate, verdict_of
from expectations.runner import validate, validate_many
from ingestion.generator import generate
from ingestion.planner import ingest_landing
from ingestion.pseudonym import load_or_create_key
from ingestion.versions import judged_under, load_store, rows_to_judge
from ingestion.zones import Zones

TABLE = "police_population"


@dataclass
class Gated:
    table: str
    frame: pl.DataFrame
    label: str
    judge: pl.Series | None
    judged_under: str | None = None


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    out = tmp_path_factory.mktemp("versions_gate")
    generate(out, residents=600, days=15, seed=4)
    zones = Zones(out / "home")
    log = GateLog()
    ingest_landing(
        out / "landing",
        zones,
        key=load_or_create_key(zones.secret_file),
        feeds=["grid_registry", TABLE],
        gate=gx_gate(zones.validations, log),
    )
    store = load_store(zones, TABLE)
    snap = max(store.snapshots, key=store.snapshots.get)
    md5, when = snap.split("@")[0], store.snapshots[snap]
    absent = json.loads(zones.raw_meta(TABLE, md5, "json").read_text())["absent_columns"]
    frame = pl.read_parquet(zones.normalised(TABLE, md5))
    return zones, log, frame, when, absent


def _resent(frame: pl.DataFrame, when) -> pl.DataFrame:
    """The same rows as a file delivered a week later."""
    return frame.with_columns(
        pl.lit("f" * 32).alias("file_md5"),
        pl.lit(when + timedelta(weeks=1)).alias("data_date"),
        pl.lit(f"SYRK_{when + timedelta(weeks=1):%Y%m%d}.csv").alias("file"),
    )


@pytest.fixture
def gx_runs(monkeypatch):
    """The row counts of every GX run."""
    runs: list[int] = []
    real = runner._run

    def counted(data, suite, result_format):
        runs.append(len(data))
        return real(data, suite, result_format)

    monkeypatch.setattr(runner, "_run", counted)
    return runs


def test_a_run_judges_each_later_snapshot_by_its_changes(district):
    zones, log, *_ = district
    register = sorted((label, v.detail) for label, v in log.verdicts.items() if "_SYRK_" in label)
    assert len(register) >= 2 and all(v.success for _, v in register)
    first, later = register[0][1], [v for _, v in register[1:]]
    assert first.judged_rows is None  # nothing before it: every row is new
    assert all(v.judged_rows is not None for v in later)
    # the week the register starts exporting 户号 changes most rows; a week after it, few
    assert min(v.judged_rows / v.rows for v in later) < 0.1, [(v.judged_rows, v.rows) for v in later]


def test_an_unchanged_resnapshot_runs_row_rules_on_no_row(district, gx_runs, tmp_path):
    zones, _, frame, when, absent = district
    again = _resent(frame, when)
    judge = rows_to_judge(zones, TABLE, "f" * 32, when + timedelta(weeks=1), again, absent=absent)
    assert judge is not None and judge.len() == again.height and not judge.any()
    trusted = judged_under(zones, TABLE, when + timedelta(weeks=1))
    assert trusted == runner.suite_digest(TABLE)  # the run's gate passed the week before, under today's suite
    log = GateLog()
    with GateBatch(tmp_path, log) as batch:
        batch.submit("again", lambda: (Gated(TABLE, again, "again", judge, trusted), lambda verdict: verdict.passed))
        assert batch.close() == [("again", True)]
    validation = log.verdicts["again"].detail
    assert validation.success and validation.judged_rows == 0 and validation.rows == again.height
    assert gx_runs == []  # no GX run at all
    assert validate(TABLE, again, docs_dir=tmp_path, label="whole").success  # as GX on the whole file says


def test_a_bad_changed_row_is_caught_with_the_verdict_of_the_whole_file(district, tmp_path):
    zones, _, frame, when, absent = district
    bad = _resent(frame, when).with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("军官证")).otherwise(pl.col("doc_type")).alias("doc_type")
    )
    judge = rows_to_judge(zones, TABLE, "f" * 32, when + timedelta(weeks=1), bad, absent=absent)
    assert int(judge.sum()) == 1 and judge[5]
    judged = validate_many(TABLE, [(bad, "judged")], docs_dir=tmp_path, judge=[judge])[0]
    whole = validate(TABLE, bad, docs_dir=tmp_path, label="whole")
    assert not judged.success
    assert [(f.expectation, f.column, f.unexpected_count) for f in judged.failures] == [
        ("expect_column_values_to_be_in_set", "doc_type", 1)
    ]
    assert verdict_of(TABLE, judged).summary == verdict_of(TABLE, whole).summary


def test_an_unchanged_row_listed_twice_fails_the_key_as_before(district, tmp_path):
    zones, _, frame, when, absent = district
    again = _resent(frame, when)
    twice = pl.concat(
        [again, again.head(1).with_columns(pl.lit(again["record_no"].max() + 1, pl.Int64).alias("record_no"))]
    )
    judge = rows_to_judge(zones, TABLE, "f" * 32, when + timedelta(weeks=1), twice, absent=absent)
    assert not judge.any()  # both rows are the key's row of the week before
    judged = validate_many(TABLE, [(twice, "judged")], docs_dir=tmp_path, judge=[judge])[0]
    whole = validate(TABLE, twice, docs_dir=tmp_path, label="whole")
    assert not judged.success
    assert {f.expectation for f in judged.failures} == {"expect_compound_columns_to_be_unique"}
    assert verdict_of(TABLE, judged).summary == verdict_of(TABLE, whole).summary


def test_under_another_suite_every_row_is_judged_again(district, gx_runs, tmp_path):
    """The week before was passed by a suite that is not today's (an expectation added since): its rows are not
    trusted, and the unchanged re-snapshot is judged by GX on every row, once; the verdict records today's suite."""
    zones, _, frame, when, absent = district
    again = _resent(frame, when)
    judge = rows_to_judge(zones, TABLE, "f" * 32, when + timedelta(weeks=1), again, absent=absent)
    log = GateLog()
    with GateBatch(tmp_path, log) as batch:
        batch.submit("again", lambda: (Gated(TABLE, again, "again", judge, "0" * 32), lambda verdict: verdict))
        [(_, verdict)] = batch.close()
    assert verdict.passed and verdict.detail.judged_rows is None and sum(gx_runs) == again.height
    assert verdict.suite == runner.suite_digest(TABLE)
