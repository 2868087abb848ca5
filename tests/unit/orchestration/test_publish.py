"""Publishing only what changed: each table's content gets one immutable Parquet version, the catalogue of views
serves every table equal to the warehouse's, an unchanged table is reused, and a reader holding an older
catalogue keeps reading whole tables while new ones are published and old versions cleaned up."""

from __future__ import annotations

import functools
import json
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.zones import Zones
from orchestration.defs.warehouse.publish import (
    current_record,
    no_run_since,
    parts_from_manifest,
    publish_snapshot,
    staleness,
)

T0 = datetime(2026, 1, 1, 8, 0)


def _warehouse(path: Path, rows: list[tuple[int, str | None, int]], *, extra: int = 0) -> Path:
    """A warehouse with two marts (one from ``rows``, one of ``extra`` rows) and the ledger, with comments."""
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema ops")
        con.execute("create table marts.fct_thing (id bigint, label varchar, total hugeint, day date, tags varchar[])")
        given = pl.DataFrame(rows, schema={"i": pl.Int64, "label": pl.String, "n": pl.Int64}, orient="row")
        con.register("given", given)
        con.execute(
            "insert into marts.fct_thing select i, label, n::hugeint * 1000000000000, "
            "date '2026-01-01' + (i % 30)::int, [label] from given"
        )
        con.execute("create table marts.dim_other as select range as k, 'x' || range as v from range(?)", [extra])
        con.execute(
            "create table ops.ops_ingest_ledger as select 'md5' || range as file_md5, 'loaded' as status from range(3)"
        )
        con.execute("comment on table marts.fct_thing is '事物'")
        con.execute("comment on column marts.fct_thing.id is '编号'")
        con.execute("comment on column marts.fct_thing.label is '标签'")
    return path


def _served(db: Path, schema: str = "marts") -> dict[str, tuple]:
    """Every table of ``schema`` (view or table): its column types and its rows, sorted."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]
            ).fetchall()
        ]
        return {
            t: (
                con.execute(
                    f"select column_name, data_type from duckdb_columns() where table_name = '{t}' "
                    f"and schema_name = '{schema}' order by column_index"
                ).fetchall(),
                sorted(con.execute(f'select * from {schema}."{t}"').fetchall(), key=repr),
            )
            for t in names
        }


def _publish(tmp: Path, wh: Path, n: int, **kw):
    return publish_snapshot(wh, Zones(tmp / "home"), now=T0 + timedelta(seconds=n), **kw)


rows_st = st.lists(
    st.tuples(st.integers(-(2**40), 2**40), st.none() | st.text(max_size=5), st.integers(-(2**60), 2**60)),
    max_size=30,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_st, extra=st.integers(0, 5))
def test_every_served_table_equals_the_warehouse_with_its_types_and_comments(tmp_path_factory, rows, extra):
    tmp = tmp_path_factory.mktemp("pub")
    wh = _warehouse(tmp / "wh.duckdb", rows, extra=extra)
    published = _publish(tmp, wh, 0)
    assert _served(published.path) == _served(wh)
    assert _served(published.path, "ops") == _served(wh, "ops")
    with duckdb.connect(str(published.path), read_only=True) as con:
        assert con.execute("select comment from duckdb_views() where view_name = 'fct_thing'").fetchone() == ("事物",)
        comments = dict(
            con.execute(
                "select column_name, comment from duckdb_columns() where table_name = 'fct_thing' and comment is not null"
            ).fetchall()
        )
    assert comments == {"id": "编号", "label": "标签"}
    assert sorted(published.written) == ["marts.dim_other", "marts.fct_thing", "ops.ops_ingest_ledger"]
    assert published.reused == []


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_st, data=st.data())
def test_the_digest_ignores_row_order_but_not_a_duplicated_or_changed_row(tmp_path_factory, rows, data):
    tmp = tmp_path_factory.mktemp("pub")
    first = _publish(tmp, _warehouse(tmp / "a.duckdb", rows), 0)
    shuffled = data.draw(st.permutations(rows))
    again = _publish(tmp, _warehouse(tmp / "b.duckdb", shuffled), 1)
    assert again.written == [] and len(again.reused) == 3  # same rows in another order: the same version
    if rows:
        i, label, n = rows[0]
        changed = _publish(tmp, _warehouse(tmp / "c.duckdb", [*shuffled, rows[0]]), 2)  # a row twice
        assert changed.written == ["marts.fct_thing"]
        moved = _publish(tmp, _warehouse(tmp / "d.duckdb", [(i, label, n + 1), *rows[1:]]), 3)
        assert moved.written == ["marts.fct_thing"]
    assert _served(first.snapshot) == _served(tmp / "a.duckdb")  # the first catalogue, kept, still reads whole


def test_unchanged_tables_are_reused_and_only_a_changed_one_is_written(tmp_path):
    rows = [(i, f"r{i}", i) for i in range(50)]
    wh = _warehouse(tmp_path / "wh.duckdb", rows, extra=4)
    zones = Zones(tmp_path / "home")
    first = _publish(tmp_path, wh, 0)
    versions = sorted(zones.serving_tables.rglob("*.parquet"))
    assert len(versions) == 3
    second = _publish(tmp_path, wh, 1)
    assert second.written == [] and sorted(second.reused) == sorted(first.written)
    assert sorted(zones.serving_tables.rglob("*.parquet")) == versions  # nothing new, nothing removed
    assert all(os.stat(v).st_mode & 0o777 == 0o444 for v in versions)
    _warehouse(wh, rows, extra=5)  # one mart changes
    third = _publish(tmp_path, wh, 2)
    assert third.written == ["marts.dim_other"] and sorted(third.reused) == ["marts.fct_thing", "ops.ops_ingest_ledger"]
    assert _served(third.path) == _served(wh)
    # the BI tools' Parquet is the mart's current version
    link = zones.serving_parquet / "dim_other.parquet"
    assert duckdb.connect().execute(f"select count(*) from '{link}'").fetchone() == (5,)
    assert (zones.serving_parquet / "fct_thing.parquet").exists()
    assert not (zones.serving_parquet / "ops_ingest_ledger.parquet").exists()  # marts only, as before
    record = current_record(zones)
    assert record and record.snapshot == third.snapshot.name and record.files == {"md50", "md51", "md52"}


def test_versions_no_kept_catalogue_names_are_removed(tmp_path):
    wh = tmp_path / "wh.duckdb"
    zones = Zones(tmp_path / "home")
    for n in range(6):
        _warehouse(wh, [(1, "a", 1)], extra=n)
        published = _publish(tmp_path, wh, n, keep=2)
    assert len(list(zones.serving.glob("zhili-*.duckdb"))) == 3
    assert len(list(zones.serving.glob("zhili-*.json"))) == 3
    # dim_other changed every time: the 3 kept catalogues' versions; the other two tables never changed
    assert len(list((zones.serving_tables / "marts" / "dim_other").glob("*.parquet"))) == 3
    assert len(list(zones.serving_tables.rglob("*.parquet"))) == 5
    assert published.versions_removed == 1
    for catalogue in zones.serving.glob("zhili-*.duckdb"):  # every kept catalogue still reads whole
        assert _served(catalogue)["fct_thing"][1] == [(1, "a", 1000000000000, datetime(2026, 1, 2).date(), ["a"])]


def test_a_reader_holding_the_old_catalogue_reads_whole_tables_through_publishes_and_cleanup(tmp_path):
    rows = [(i, f"r{i}", i) for i in range(2000)]
    wh = _warehouse(tmp_path / "wh.duckdb", rows, extra=100)
    first = _publish(tmp_path, wh, 0)
    expected = _served(first.path)
    reader = duckdb.connect(str(first.path), read_only=True)
    halt, seen, errors = threading.Event(), [], []

    def read():
        while not halt.is_set():
            try:
                seen.append(
                    reader.cursor()
                    .execute("select (select count(*) from marts.fct_thing), (select sum(k) from marts.dim_other)")
                    .fetchone()
                )
            except Exception as exc:  # noqa: BLE001 - every error is a finding
                errors.append(repr(exc))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for n in range(1, 4):  # three publishes, each changing both marts, each cleaning up (keep=3)
            _warehouse(wh, rows[n:], extra=100 + n)
            _publish(tmp_path, wh, n)
    finally:
        halt.set()
        thread.join()
    assert errors == []
    assert seen and set(seen) == {(2000, sum(range(100)))}
    assert {t: v[1] for t, v in _served(first.path).items()} == {t: v[1] for t, v in expected.items()}
    reader.close()
    assert _served(Zones(tmp_path / "home").serving_db) == _served(wh)


def test_a_publish_killed_before_its_swap_leaves_the_old_catalogue_whole_and_the_next_one_cleans_up(
    tmp_path, monkeypatch
):
    import orchestration.defs.warehouse.publish as publish

    wh = _warehouse(tmp_path / "wh.duckdb", [(1, "a", 1)], extra=2)
    zones = Zones(tmp_path / "home")
    first = _publish(tmp_path, wh, 0)
    before = _served(zones.serving_db)
    _warehouse(wh, [(2, "b", 2)], extra=3)
    real = os.replace

    def killed(src, dst):
        if str(dst).endswith(".duckdb"):
            raise KeyboardInterrupt("killed")  # new versions and the manifest are written, the catalogue is not
        return real(src, dst)

    monkeypatch.setattr(publish.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        _publish(tmp_path, wh, 1)
    monkeypatch.setattr(publish.os, "replace", real)
    assert _served(zones.serving_db) == before and current_record(zones).snapshot == first.snapshot.name
    again = _publish(tmp_path, wh, 2)
    assert sorted(again.reused) == ["marts.dim_other", "marts.fct_thing", "ops.ops_ingest_ledger"]
    assert _served(zones.serving_db) == _served(wh)
    assert not [p for p in zones.serving.rglob("*") if p.name.endswith(".tmp")]


def test_a_copied_home_reads_as_stale_until_it_publishes_for_itself(tmp_path):
    import shutil

    wh = _warehouse(tmp_path / "wh.duckdb", [(1, "a", 1)])
    _publish(tmp_path, wh, 0)
    shutil.copytree(tmp_path / "home", tmp_path / "copy")  # with the files' times
    record = current_record(Zones(tmp_path / "copy"))
    assert record is not None and "not this home's" in staleness(record, files=set())
    assert staleness(current_record(Zones(tmp_path / "home")), files=set()) is None
    publish_snapshot(wh, Zones(tmp_path / "copy"), now=T0 + timedelta(seconds=1))
    assert staleness(current_record(Zones(tmp_path / "copy")), files=set()) is None


def _runs(zones: Zones, rows: list[tuple]) -> None:
    """The columns of Dagster's SQLite run storage the check reads (id, run_id, status, start_time, end_time)."""
    import sqlite3

    path = zones.dagster / "history" / "runs.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as con:
        con.execute(
            "create table runs (id integer primary key, run_id text, status text, start_time real, end_time real)"
        )
        con.executemany("insert into runs values (?, ?, ?, ?, ?)", rows)


@pytest.mark.parametrize(
    ("rows", "current"),
    [
        ([(1, "feed", "SUCCESS", 10.0, 20.0), (2, "wh", "SUCCESS", 21.0, 40.0)], True),
        ([(1, "feed", "FAILURE", 10.0, 20.0), (2, "wh", "SUCCESS", 21.0, 40.0)], True),
        # a run made after the build, one still going, one that ended after the build started (the daemon's)
        ([(1, "wh", "SUCCESS", 21.0, 40.0), (2, "feed", "SUCCESS", 41.0, 50.0)], False),
        ([(1, "feed", "STARTED", 10.0, None), (2, "wh", "SUCCESS", 21.0, 40.0)], False),
        ([(1, "feed", "SUCCESS", 10.0, 25.0), (2, "wh", "SUCCESS", 21.0, 40.0)], False),
        ([(1, "feed", "SUCCESS", 10.0, 20.0)], False),  # the build's run is not in this instance
    ],
)
def test_no_run_since_the_build_is_read_from_the_run_storage_without_dagster(tmp_path, rows, current):
    zones = Zones(tmp_path / "home")
    assert no_run_since(zones, "wh") is False  # no run storage: cannot tell
    _runs(zones, rows)
    assert no_run_since(zones, "wh") is current
    assert no_run_since(zones, None) is False


def test_the_digest_reads_whole_rows_whatever_the_columns_are_named(tmp_path):
    """A column named like a table alias (``t``) must not stand in for the row: a change beside it is seen."""
    wh, zones = tmp_path / "wh.duckdb", Zones(tmp_path / "home")
    for n, value in enumerate(("a", "b")):
        wh.unlink(missing_ok=True)
        with duckdb.connect(str(wh)) as con:
            con.execute("create schema marts; create table marts.m as select 1 as t, ? as u", [value])
        published = _publish(tmp_path, wh, n)
    assert published.written == ["marts.m"]
    assert _served(zones.serving_db) == _served(wh)


def test_a_snapshot_built_by_other_dbt_code_reads_as_stale(tmp_path):
    """An upgrade of Zhili with new dbt code and no new file still rebuilds: the snapshot is stale once the
    digest the build recorded differs from the code's, and current while it is the same."""
    from types import SimpleNamespace

    from orchestration.defs.warehouse.publish import recorded_staleness
    from orchestration.lib.dbt_code import built_code_file, project_digest

    wh = _warehouse(tmp_path / "wh.duckdb", [(1, "a", 1)])
    _publish(tmp_path, wh, 0)
    zones = Zones(tmp_path / "home")
    settings_ = SimpleNamespace(zones=zones, as_of_date=lambda: None)
    record = current_record(zones)
    built = built_code_file(zones.state)
    built.parent.mkdir(parents=True, exist_ok=True)
    built.write_text(project_digest())
    assert recorded_staleness(settings_, record, check_as_of=False) is None
    built.write_text("0" * 64)
    assert "dbt project's code changed" in recorded_staleness(settings_, record, check_as_of=False)


def _indicators(path: Path, rows: list[tuple[str, str, int]], as_of: list[str]) -> Path:
    """A warehouse whose marts.mart_indicators is published in parts: (grain, period start, value) rows, each
    stamped with an as-of date from ``as_of`` in turn."""
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema ops")
        con.execute(
            "create table marts.mart_indicators (indicator_code varchar, period_grain varchar, "
            "period_start_date date, value double, as_of_date date)"
        )
        for n, (grain, start, value) in enumerate(rows):
            con.execute(
                "insert into marts.mart_indicators values ('x', ?, ?::date, ?, ?::date)",
                [grain, start, value, as_of[n % len(as_of)]],
            )
        con.execute("comment on column marts.mart_indicators.as_of_date is '统计截至日期'")
    return path


#: mart_indicators as dbt's manifest describes it: published in parts by its meta
INDICATORS_NODE = {
    "resource_type": "model",
    "schema": "marts",
    "name": "mart_indicators",
    "config": {
        "meta": {
            "zhili_publish_in_parts": {
                "part": "period_grain || ':' || coalesce(strftime(period_start_date, '%Y-%m'), '')",
                "lift": ["as_of_date"],
            }
        }
    },
}


def test_the_tables_published_in_parts_are_read_from_the_models_meta(tmp_path):
    manifest = tmp_path / "manifest.json"
    other = {"resource_type": "model", "schema": "marts", "name": "dim_grid", "config": {"meta": {}}}
    manifest.write_text(json.dumps({"nodes": {"a": INDICATORS_NODE, "b": other}}))
    assert parts_from_manifest(manifest) == {
        "marts.mart_indicators": (
            "period_grain || ':' || coalesce(strftime(period_start_date, '%Y-%m'), '')",
            ("as_of_date",),
        )
    }
    assert parts_from_manifest(tmp_path / "missing.json") == parts_from_manifest(None) == {}


period_rows_st = st.lists(
    st.tuples(
        st.sampled_from(["day", "month", "year"]),
        st.sampled_from(["2025-01-01", "2025-01-15", "2025-02-01", "2025-03-03"]),
        st.integers(0, 9),
    ),
    max_size=12,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=period_rows_st, change=st.integers(0, 11))
def test_a_table_published_in_parts_writes_the_parts_a_run_changed_and_serves_the_whole_table(
    tmp_path_factory, rows, change
):
    """mart_indicators is versioned by period part with its as-of date lifted out: a new as-of date alone
    writes no part, a changed row writes its own part only, and the served view always equals the
    warehouse's table (types, the lifted column, an as-of date that is not one value, an empty table)."""
    tmp = tmp_path_factory.mktemp("parts")
    wh, zones = tmp / "wh.duckdb", Zones(tmp / "home")
    manifest = tmp / "manifest.json"
    manifest.write_text(json.dumps({"nodes": {"model.zhili.mart_indicators": INDICATORS_NODE}}))
    publish = functools.partial(_publish, parts=parts_from_manifest(manifest))
    first = publish(tmp, _indicators(wh, rows, ["2025-03-01"]), 0)
    assert _served(zones.serving_db) == _served(wh)
    parts = {(grain, start[:7]) for grain, start, _ in rows}
    assert first.parts_written == max(1, len(parts))
    assert not (zones.serving_parquet / "mart_indicators.parquet").exists()  # no one file holds it
    with duckdb.connect(str(zones.serving_db), read_only=True) as con:
        assert con.execute(
            "select comment from duckdb_columns() where table_name = 'mart_indicators' and column_name = 'as_of_date'"
        ).fetchone() == ("统计截至日期",)

    moved = publish(tmp, _indicators(wh, rows, ["2025-03-02"]), 1)
    assert moved.parts_written == 0 and moved.written == [] and _served(zones.serving_db) == _served(wh)

    if rows:
        changed_rows = list(rows)
        grain, start, value = changed_rows[change % len(rows)]
        changed_rows[change % len(rows)] = (grain, start, value + 100)
        changed = publish(tmp, _indicators(wh, changed_rows, ["2025-03-02"]), 2)
        assert changed.parts_written == 1 and changed.written == ["marts.mart_indicators"]
        assert _served(zones.serving_db) == _served(wh)

    mixed = publish(tmp, _indicators(wh, rows, ["2025-03-02", "2025-03-03"]), 3)
    assert _served(zones.serving_db) == _served(wh)  # two as-of dates: the column stays in the parts
    assert mixed.tables == {"marts.mart_indicators": len(rows)}

    # the kept catalogues' parts stay, every other part goes
    for n in range(4, 8):
        publish(tmp, _indicators(wh, rows, ["2025-03-04"]), n)
    named = {
        zones.serving / rel
        for manifest in zones.serving.glob("zhili-*.json")
        for rel in json.loads(manifest.read_text())["tables"]["marts.mart_indicators"]
    }
    assert set(zones.serving_tables.rglob("*.parquet")) == named


def test_mart_indicators_keeps_what_every_run_recomputes_in_parts_of_its_own():
    """The indicators every run recomputes over all periods (police_per_10k's denominator is today's
    population) are published in parts of their own: in the period parts they would touch every part, every
    day. The model's meta must name the same indicators as the macro the mart is built by."""
    import re

    import yaml

    project = Path(__file__).resolve().parents[3] / "dbt_project"
    macro = (project / "macros" / "indicators_incremental.sql").read_text()
    body = macro.split("macro indicator_codes_recomputed_every_run()")[1].split("endmacro")[0]
    models = yaml.safe_load((project / "models" / "marts" / "indicators" / "_indicators__models.yml").read_text())
    (mart,) = [m for m in models["models"] if m["name"] == "mart_indicators"]
    part = mart["config"]["meta"]["zhili_publish_in_parts"]["part"]
    in_list = part.split("indicator_code in (")[1].split(")")[0]
    assert set(re.findall(r"'(\w+)'", in_list)) == set(re.findall(r"'(\w+)'", body)) != set()
    with duckdb.connect() as con:  # and it is SQL that names a part for each row
        rows = con.execute(
            f"select {part} from (values ('police_per_10k', 'day', date '2025-01-02'), "
            "('closure_rate', 'day', date '2025-01-02'), ('closure_rate', 'year', null)) "
            "as t(indicator_code, period_grain, period_start_date)"
        ).fetchall()
    assert rows == [("every run:day",), ("day:2025-01",), ("year:",)]
