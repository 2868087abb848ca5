"""Publish the warehouse's marts as a read-only serving snapshot readers never wait for.

The working warehouse is attached read-only and its ``marts`` and ``ops``
tables (with table and column comments) are copied into a new file
``serving/zhili-<timestamp>.duckdb``. That file is hard-linked onto
``serving/zhili.duckdb`` with an atomic rename: a reader holding the old file
open keeps its inode, the next connection sees the new snapshot. The last
few older snapshots stay for rollback; Parquet copies of each mart go to
``serving/parquet/<mart>.parquet`` (written to a temporary name, then renamed).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["Published", "publish_snapshot", "SCHEMAS"]

#: schemas copied into the serving file; Parquet copies are made of the marts only
SCHEMAS = ("marts", "ops")


@dataclass(frozen=True)
class Published:
    path: Path
    snapshot: Path
    tables: dict[str, int]
    parquet_dir: Path
    kept: list[Path]
    removed: list[Path]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def publish_snapshot(
    warehouse: Path, serving: Path, *, keep: int = 3, now: datetime | None = None, memory_limit: str | None = None
) -> Published:
    """Copy marts/ops out of ``warehouse`` into a new snapshot and swap it in as ``serving/zhili.duckdb``.

    ``memory_limit``: DuckDB's, e.g. ``5GB`` (it spills beyond it); None = DuckDB's default, 80 % of RAM.
    """
    import duckdb

    if not Path(warehouse).exists():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist; run dbt build first (zhili run does)")
    serving.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S%f")
    snapshot = serving / f"zhili-{stamp}.duckdb"
    tmp = serving / f".zhili-{stamp}.duckdb.tmp"
    parquet_dir = serving / "parquet"
    parquet_dir.mkdir(exist_ok=True)
    # a publish killed part-way leaves its temporary files under names no later publish reuses
    # (they carry its timestamp): remove them. One writer, so none of them is in use now.
    for stale in [*serving.glob(".zhili-*.duckdb.tmp*"), *serving.glob(".zhili.duckdb.*.tmp"), *parquet_dir.glob(".*.parquet.tmp")]:
        stale.unlink(missing_ok=True)
    tables: dict[str, int] = {}
    con = duckdb.connect(str(tmp), config={"memory_limit": memory_limit} if memory_limit else {})
    try:
        con.execute(f"attach {_lit(str(warehouse))} as wh (read_only)")
        found = con.execute(
            "select schema_name, table_name, comment from duckdb_tables() "
            f"where database_name = 'wh' and schema_name in ({', '.join(_lit(s) for s in SCHEMAS)}) order by all"
        ).fetchall()
        for schema, table, comment in found:
            name = f"{_q(schema)}.{_q(table)}"
            con.execute(f"create schema if not exists {_q(schema)}")
            con.execute(f"create table {name} as select * from wh.{name}")
            if comment:
                con.execute(f"comment on table {name} is {_lit(comment)}")
            for column, col_comment in con.execute(
                "select column_name, comment from duckdb_columns() where database_name = 'wh' "
                "and schema_name = ? and table_name = ? and comment is not null",
                [schema, table],
            ).fetchall():
                con.execute(f"comment on column {name}.{_q(column)} is {_lit(col_comment)}")
            tables[f"{schema}.{table}"] = con.execute(f"select count(*) from {name}").fetchone()[0]
        con.execute("detach wh")
        for schema, table, _ in found:
            if schema != "marts":
                continue
            out = parquet_dir / f"{table}.parquet"
            part = parquet_dir / f".{table}.parquet.tmp"
            con.execute(f"copy {_q(schema)}.{_q(table)} to {_lit(str(part))} (format parquet, compression zstd)")
            os.replace(part, out)
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(tmp, snapshot)
    current = serving / "zhili.duckdb"
    link = serving / f".zhili.duckdb.{stamp}.tmp"
    try:
        os.link(snapshot, link)
    except OSError:
        shutil.copy2(snapshot, link)  # a filesystem without hard links: a copy, still swapped atomically
    os.replace(link, current)
    snapshots = sorted(serving.glob("zhili-*.duckdb"))
    removed = snapshots[: max(0, len(snapshots) - (keep + 1))]
    for old in removed:
        old.unlink(missing_ok=True)
    return Published(current, snapshot, tables, parquet_dir, [p for p in snapshots if p not in removed], removed)
