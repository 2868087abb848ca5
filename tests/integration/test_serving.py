"""The serving snapshot as readers see it: no personal data, never blocked by a run, Superset's
duckdb_engine connection, and documented marts (dbt docs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion.generator import generate
from tests.pii import citizen_ids, mobiles

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "dbt_project"


def _cli(*args: str) -> list[str]:
    # this checkout's own packages (cwd=REPO), not whatever `zhili` on the PATH imports
    return [sys.executable, "-m", "orchestration.cli", *args]


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    """A generated landing whose last delivery date is withheld for the second run."""
    out = tmp_path_factory.mktemp("gen")
    generate(out, residents=1500, days=8, seed=13)
    full, first = out / "landing", out / "first"
    dates = sorted({p.name for feed in full.iterdir() for p in feed.iterdir() if p.is_dir()})
    last = dates[-1]
    shutil.copytree(full, first, ignore=lambda d, names: [n for n in names if n == last])
    return out, first, full, last


@pytest.fixture(scope="module")
def published(landing, tmp_path_factory):
    out, first, _, _ = landing
    home = out / "home"
    proc = subprocess.run(
        _cli("run", "--landing", str(first), "--home", str(home)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (home / "serving" / "zhili.duckdb").exists(), proc.stdout[-3000:]
    return home


# ---------------------------------------------------------------- (a) no personal data


def _text_columns(con) -> list[tuple[str, str, str]]:
    return con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type in ('VARCHAR', 'JSON') or data_type like 'VARCHAR%' or data_type like '%[]' "
        "or data_type like 'STRUCT%' or data_type like 'MAP%'"
    ).fetchall()


def _leaks(text: str) -> list[str]:
    return citizen_ids(text) + mobiles(text)


def test_no_personal_data_in_any_text_column_of_the_serving_file(published):
    con = duckdb.connect(str(published / "serving" / "zhili.duckdb"), read_only=True)
    try:
        columns = _text_columns(con)
        assert any(s == "marts" for s, _, _ in columns)
        found = {}
        for schema, table, column in columns:
            values = con.execute(
                f'select distinct cast("{column}" as varchar) from "{schema}"."{table}" where "{column}" is not null'
            ).fetchall()
            bad = [hit for (v,) in values for hit in _leaks(v)]
            if bad:
                found[f"{schema}.{table}.{column}"] = bad[:3]
        # and the comments analysts read
        for (comment,) in con.execute("select comment from duckdb_columns() where comment is not null").fetchall():
            assert _leaks(comment) == [], comment
    finally:
        con.close()
    assert found == {}


def test_no_personal_data_in_the_parquet_exports(published):
    # the BI copies and every published table version (ops included) the catalogue reads
    files = sorted((published / "serving" / "parquet").glob("*.parquet"))
    files += sorted((published / "serving" / "tables").rglob("*.parquet"))
    assert files, "no Parquet exports"
    found = {}
    for path in files:
        frame = pl.read_parquet(path)
        for name, dtype in frame.schema.items():
            if dtype == pl.String or dtype.is_nested():
                text = (
                    "\n".join(frame[name].cast(pl.String, strict=False).drop_nulls().unique().to_list())
                    if dtype == pl.String
                    else frame.select(pl.col(name)).write_ndjson()
                )
                if _leaks(text):
                    found[f"{path.name}:{name}"] = _leaks(text)[:3]
    assert found == {}


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_no_personal_data_in_the_raw_bytes_of_the_published_files(published, encoding):
    serving = published / "serving"
    paths = [serving / "zhili.duckdb", *sorted((serving / "parquet").glob("*.parquet"))]
    paths += sorted((serving / "tables").rglob("*.parquet"))  # the table versions the catalogue's views read
    found = {}
    for path in paths:
        text = path.read_bytes().decode(encoding, errors="ignore")
        if _leaks(text):
            found[path.name] = _leaks(text)[:3]
    # compressed pages (Parquet) hide nothing from the column scan above; this catches what sits in clear
    assert found == {}


# ---------------------------------------------------------------- (b) readers are never blocked


def _count(con) -> tuple[int, int]:
    return con.execute(
        "select (select count(*) from marts.fct_incident), (select count(*) from marts.person_source_links)"
    ).fetchone()


def test_a_reader_held_open_across_a_run_keeps_its_snapshot_then_sees_the_new_one(landing, published):
    out, first, full, last = landing
    serving = published / "serving" / "zhili.duckdb"
    reader = duckdb.connect(str(serving), read_only=True)
    before = _count(reader)
    # a new day arrives: the withheld delivery date of every feed
    for feed in full.iterdir():
        if (feed / last).is_dir():
            shutil.copytree(feed / last, first / feed.name / last)
    proc = subprocess.Popen(
        _cli("run", "--landing", str(first), "--home", str(published)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    polls = 0
    try:
        while proc.poll() is None:
            assert _count(reader) == before  # the held snapshot answers, unchanged, throughout the run
            polls += 1
            time.sleep(1)
        output = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output[-4000:]
    assert polls > 0
    assert _count(reader) == before
    reader.close()
    # DuckDB caches open databases by path within a process: reconnect after closing the old one
    fresh = duckdb.connect(str(serving), read_only=True)
    try:
        after = _count(fresh)
    finally:
        fresh.close()
    # the new day's incidents and personal records are in the new snapshot (a small day may bring no
    # 110 call, but some grid event or record always comes)
    assert after[0] >= before[0] and after[1] >= before[1] and after != before, (before, after)


# ---------------------------------------------------------------- (c) Superset's connection


def test_superset_style_sqlalchemy_connection_lists_marts_with_chinese_comments(published):
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(f"duckdb:///{published / 'serving' / 'zhili.duckdb'}", connect_args={"read_only": True})
    try:
        insp = inspect(engine)
        # the catalogue's marts are views over their Parquet versions (Superset lists both)
        tables = insp.get_table_names(schema="marts") + insp.get_view_names(schema="marts")
        for expected in (
            "dim_grid",
            "dim_resident",
            "person_source_links",
            "fct_incident",
            "bridge_incident_person",
            "fct_petition",
            "fct_benefit_membership",
            "mart_key_population",
            "mart_grid_daily",
        ):
            assert expected in tables
        for table in tables:
            columns = insp.get_columns(table, schema="marts")
            assert columns, table
            missing = [c["name"] for c in columns if not c.get("comment")]
            assert missing == [], f"marts.{table}: no comment on {missing}"
            assert all(any("\u4e00" <= ch <= "\u9fff" for ch in c["comment"]) for c in columns), table
        with engine.connect() as conn:
            assert conn.execute(text("select count(*) from marts.dim_grid")).scalar() > 0
    finally:
        engine.dispose()


# ---------------------------------------------------------------- (d) dbt docs


def test_dbt_docs_generate_works_and_every_mart_column_is_described(published, tmp_path):
    env = {**os.environ, "ZHILI_HOME": str(published), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target, logs = tmp_path / "dbt_target", tmp_path / "dbt_logs"
    dbt = Path(sys.executable).with_name("dbt")
    proc = subprocess.run(
        [
            str(dbt),
            "docs",
            "generate",
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(target),
            "--log-path",
            str(logs),
        ],
        env=env,
        cwd=published,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    marts = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model" and n["schema"] == "marts"}
    assert marts
    undescribed = {}
    for key, node in marts.items():
        assert node["description"].strip(), f"{node['name']} has no description"
        built = catalog["nodes"].get(key)
        assert built is not None, f"{node['name']} missing from the catalog"
        documented = {c.lower(): (v.get("description") or "").strip() for c, v in node["columns"].items()}
        missing = [c for c in built["columns"] if not documented.get(c.lower())]
        if missing:
            undescribed[node["name"]] = missing
    assert undescribed == {}
