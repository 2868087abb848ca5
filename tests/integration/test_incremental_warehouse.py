"""``restricted.restricted_person_records`` is built incrementally by delivered file and always equals a rebuild.

A run appends only the files whose person records are not in the table yet and deletes the rows of
files that are gone; after each step the table must hold exactly what ``dbt build --full-refresh``
gives on the same state folder. ``zhili run`` asks for that full refresh itself whenever the dbt
project's code differs from the code that built the warehouse (``project_digest``).
"""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import polars as pl
import pytest

from dbt_fixtures import StateWriter, run_dbt
from orchestration.defs.warehouse.assets import DBT_PROJECT_DIR, project_digest

MODEL = "restricted_person_records"


def _person(source_key: str, name: str, member_no: int = 1) -> dict:
    return {
        "role": "resident",
        "source_key": source_key,
        "person_key": None,
        "id_status": "empty",
        "name": name,
        "phone": "13812345678",
        "birth_date": date(1950, 1, 1),
        "member_no": member_no,
    }


def _snapshot(writer: StateWriter, day: int, names: list[str]) -> str:
    people = [_person(f"R{i:04d}", n) for i, n in enumerate(names)]
    return writer.file(
        "police_population",
        f"SYRK_202406{day:02d}.csv",
        data_date=date(2024, 6, day),
        delivered=date(2024, 6, day),
        rows=[{"source_person_id": p["source_key"]} for p in people],
        people=people,
    )


def _table(home) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(f"select * from restricted.{MODEL} order by all").fetchall()


def _compiled(home) -> str:
    return next((home / "dbt_target" / "compiled").rglob(f"{MODEL}.sql")).read_text()


def _build(home, *extra: str) -> list[tuple]:
    proc = run_dbt(home, "build", "--select", MODEL, *extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return _table(home)


@pytest.fixture()
def home(tmp_path):
    writer = StateWriter(tmp_path / "home")
    writer.md5s = [_snapshot(writer, 1, ["张三", "李四"]), _snapshot(writer, 8, ["张三", "李四", "王五"])]
    writer.finish()
    return writer


def test_appends_new_files_and_drops_gone_ones_as_a_rebuild_would(home):
    first = _build(home.zones.home)
    assert len(first) == 5

    # a new week: only its file is read; the table equals a rebuild
    home.md5s.append(_snapshot(home, 15, ["张三", "李四", "王五", "赵六"]))
    appended = _build(home.zones.home)
    assert len(appended) == 9
    compiled = _compiled(home.zones.home)
    assert home.md5s[2] in compiled and not any(md5 in compiled for md5 in home.md5s[:2]), compiled
    assert appended == _build(home.zones.home, "--full-refresh")

    # nothing new: the table is unchanged (no file appended twice)
    assert _build(home.zones.home) == appended

    # a file's person records are gone from the zone: so are its rows
    home.zones.person_records(home.md5s[0]).unlink()
    dropped = _build(home.zones.home)
    assert len(dropped) == 7
    assert dropped == _build(home.zones.home, "--full-refresh")

    # a file rewritten with another number of records (a register snapshot's records are its versions': a late
    # snapshot adds one; a home from before that grain has its files cut to them): read again whole
    path = home.zones.person_records(home.md5s[1])
    records = pl.read_parquet(path)
    for kept in (records.head(1), records):
        kept.write_parquet(path)
        rewritten = _build(home.zones.home)
        assert len(rewritten) == 4 + kept.height
        assert rewritten == _build(home.zones.home, "--full-refresh")


def test_project_digest_follows_the_dbt_code(tmp_path):
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    before = project_digest(copy)
    assert project_digest(copy) == before
    model = copy / "models" / "restricted" / f"{MODEL}.sql"
    model.write_text(model.read_text() + "\n-- changed\n")
    assert project_digest(copy) != before
