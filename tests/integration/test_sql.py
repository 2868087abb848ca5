"""`zhili sql`: read-only SQL on the serving snapshot, as a user runs it (a subprocess).

The snapshot is published by the real ``publish_snapshot`` from a small warehouse made here, so the
tests need no pipeline run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.defs.warehouse.publish import publish_snapshot
from tests.runs import ROOT, ZHILI

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(600)"


def zhili(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ZHILI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        input=stdin,
        env=env if env is not None else os.environ.copy(),
    )


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "home"
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.dim_grid as select * from (values ('520602001001001', '石六街道'), "
            "('520602001001002', '谢店街道')) as t(grid_code, street_name)"
        )
        con.execute("create table marts.fct_incident as select timestamptz '2024-11-03 23:30:00+08' as received_at")
        # a mart published in parts: its view reads a list of files, one per month
        con.execute(
            "create table marts.mart_indicators as select * from (values ('2024-10-01'::date, 1), "
            "('2024-11-01'::date, 2), ('2024-11-02'::date, 3)) as t(period_start_date, numerator)"
        )
    publish_snapshot(
        warehouse, home / "serving", parts={"marts.mart_indicators": ("strftime(period_start_date, '%Y-%m')", ())}
    )
    return home


def test_a_query_prints_a_table(home):
    proc = zhili(
        "sql", "--home", str(home), "select street_name, count(*) as grids from marts.dim_grid group by 1 order by 1"
    )
    assert proc.returncode == 0, proc.stderr
    assert "street_name" in proc.stdout and "石六街道" in proc.stdout and "谢店街道" in proc.stdout
    assert proc.stderr == ""


def test_a_mart_published_in_parts_is_read_whole(home):
    """Every part file the view reads is allowed, though the snapshot may open nothing else."""
    query = "select count(*) as n, sum(numerator) as s from marts.mart_indicators"
    proc = zhili("sql", "--home", str(home), "--csv", query)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["n,s", "3,6"], proc.stdout


def test_statements_from_stdin_and_csv(home):
    proc = zhili(
        "sql",
        "--home",
        str(home),
        "--csv",
        stdin="select count(*) as n from marts.dim_grid;\nselect grid_code from marts.dim_grid order by 1;",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["n", "2", "grid_code", "520602001001001", "520602001001002"]


def test_times_are_shown_in_china_time(home):
    proc = zhili(
        "sql",
        "--home",
        str(home),
        "--csv",
        "select current_setting('TimeZone') as tz, strftime(received_at, '%Y-%m-%d %H:%M') as t "
        "from marts.fct_incident",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1] == "Asia/Shanghai,2024-11-03 23:30"


def test_the_snapshot_cannot_be_changed_and_nothing_else_opened(home, tmp_path):
    before = (home / "serving" / "zhili.duckdb").read_bytes()
    proc = zhili("sql", "--home", str(home), "create table marts.x as select 1")
    assert proc.returncode == 2 and proc.stderr.startswith("zhili sql: the serving snapshot is read-only"), proc.stderr
    other = tmp_path / "other.duckdb"
    proc = zhili("sql", "--home", str(home), f"attach '{other}' as other")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert not other.exists()
    assert (home / "serving" / "zhili.duckdb").read_bytes() == before
    # temporary tables are a reader's own
    proc = zhili(
        "sql", "--home", str(home), "--csv", stdin="create temp table t as select 41 as x; select x + 1 as y from t;"
    )
    assert proc.returncode == 0 and proc.stdout.splitlines() == ["y", "42"], proc.stderr


def test_errors_are_one_sentence(home, tmp_path):
    proc = zhili("sql", "--home", str(home), "selec 1")
    assert proc.returncode == 2 and proc.stderr.strip() == 'zhili sql: Parser Error: syntax error at or near "selec"'
    proc = zhili("sql", "--home", str(home), stdin="select 1; select * from marts.nope;")
    assert proc.returncode == 2 and "(statement 2)" in proc.stderr and "nope" in proc.stderr, proc.stderr
    empty = tmp_path / "empty-home"
    empty.mkdir()
    proc = zhili("sql", "--home", str(empty), "select 1")
    assert proc.returncode == 2 and "no serving snapshot" in proc.stderr and "zhili run" in proc.stderr, proc.stderr


def test_a_snapshot_held_read_write_is_busy(home):
    snapshot = home / "serving" / "zhili.duckdb"
    snapshot.chmod(0o644)  # as a careless root-run BI tool could: it ignores the read-only mode
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(snapshot)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = zhili("sql", "--home", str(home), "select 1")
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 3, proc.stderr
    assert (
        proc.stderr.startswith(f"zhili sql: {snapshot} is locked by another process")
        and f"PID {holder.pid}" in proc.stderr
    )


def test_a_reader_that_stops_early_is_not_an_error(home):
    # zhili sql ... | head -1
    proc = subprocess.Popen(
        [*ZHILI, "sql", "--home", str(home), "--csv", "select * from range(200000)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout.readline().strip() == "range"
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == ""
