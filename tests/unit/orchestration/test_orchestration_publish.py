"""publish_snapshot: a new file swapped in atomically, comments kept, readers never blocked."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from orchestration.defs.warehouse.publish import publish_snapshot


def _warehouse(path, value: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts; create schema if not exists restricted")
    con.execute("create or replace table marts.dim_grid as select 'G1' as grid_code, ? as households", [value])
    con.execute("comment on column marts.dim_grid.grid_code is '网格编码 / grid code'")
    con.execute("create or replace table restricted.person_records as select '520602199001011234' as id_number")
    con.close()


def test_publish_swaps_in_a_new_snapshot_while_a_reader_holds_the_old(tmp_path):
    wh, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving"
    t0 = datetime(2024, 11, 1)
    _warehouse(wh, 1)
    first = publish_snapshot(wh, serving, now=t0)
    reader = duckdb.connect(str(first.path), read_only=True)
    _warehouse(wh, 2)
    publish_snapshot(wh, serving, now=t0 + timedelta(seconds=1))
    assert reader.execute("select households from marts.dim_grid").fetchone() == (1,)
    reader.close()
    with duckdb.connect(str(serving / "zhili.duckdb"), read_only=True) as fresh:
        assert fresh.execute("select households from marts.dim_grid").fetchone() == (2,)
        comment = fresh.execute("select comment from duckdb_columns() where column_name = 'grid_code'").fetchone()[0]
        assert comment == "网格编码 / grid code"
        schemas = {r[0] for r in fresh.execute("select table_schema from information_schema.tables").fetchall()}
        assert "marts" in schemas
        assert "restricted" not in schemas
    assert pl.read_parquet(serving / "parquet" / "dim_grid.parquet")["households"].to_list() == [2]


def test_publish_keeps_three_older_snapshots(tmp_path):
    wh, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving"
    _warehouse(wh, 1)
    for i in range(6):
        last = publish_snapshot(wh, serving, now=datetime(2024, 11, 1) + timedelta(seconds=i))
    assert len(sorted(serving.glob("zhili-*.duckdb"))) == 4
    assert last.snapshot.exists() and (serving / "zhili.duckdb").samefile(last.snapshot)


def test_publish_under_a_memory_limit_copies_a_table_larger_than_it(tmp_path):
    wh, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema marts")
        # ~150 MB of distinct text against a 64 MB limit: DuckDB must stream or spill, not hold it
        con.execute(
            "create table marts.big as select i, md5(i::varchar) || md5((i + 1)::varchar) as t from range(2000000) r(i)"
        )
    published = publish_snapshot(wh, serving, memory_limit="64MB")
    assert published.tables == {"marts.big": 2_000_000}
    with duckdb.connect(str(published.path), read_only=True) as con:
        assert con.execute("select count(distinct t), sum(i) from marts.big").fetchone() == (
            2_000_000,
            1_999_999_000_000,
        )
