"""The Superset recipe (docs/superset.md), done the way Superset does it: SQLAlchemy + duckdb_engine.

``create_engine(uri, connect_args={'read_only': True})``, ``inspect()`` for schemas, tables and the
Chinese column comments, then every example query in docs/ — repeatedly, while a second
``zhili run`` builds and publishes a new snapshot over the one being read.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from ingestion.generator import generate

ZHILI = Path(sys.executable).with_name("zhili")
DOCS = Path(__file__).resolve().parents[2] / "docs"
RECIPE = DOCS / "superset.md"
CORE_MARTS = {"dim_grid", "dim_resident", "fct_incident", "fct_petition", "fct_benefit_membership",
              "mart_key_population", "mart_grid_daily", "person_source_links", "bridge_incident_person", "mart_link_review"}
_SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)
_HELD_BACK = "police_incidents"
#: recipe queries that must return rows even on a small district (satisfaction may have no rated case yet)
_NONEMPTY = {"superset.md#1", "superset.md#2", "superset.md#3", "superset.md#4", "superset.md#6"}


def _doc_queries() -> list[tuple[str, str]]:
    """(where, sql) for every ```sql block in docs/**/*.md, the recipe's first."""
    pages = [RECIPE] + sorted(p for p in DOCS.rglob("*.md") if p != RECIPE)
    return [(f"{p.relative_to(DOCS)}#{i}", m.strip().rstrip(";"))
            for p in pages for i, m in enumerate(_SQL_BLOCK.findall(p.read_text(encoding="utf-8")), 1)]


def _runnable(sql: str, tables: set[str]) -> bool:
    """A query the snapshot can answer: it names only marts this snapshot has, and no other schema."""
    named = set(re.findall(r"\bmarts\.(\w+)", sql))
    other = set(re.findall(r"\b(?:from|join)\s+(?!marts\.)(\w+)\.(\w+)", sql, re.I))
    return named <= tables and not other and not re.search(r"<[a-z_]+>", sql)


def _engine(snapshot: Path):
    # exactly the recipe: URI with four slashes + engine parameters {"connect_args": {"read_only": true}}
    return create_engine(f"duckdb:///{snapshot}", connect_args={"read_only": True})


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    out = tmp_path_factory.mktemp("superset")
    generate(out, residents=1000, days=7, seed=7)
    landing, home = out / "landing", out / "home"
    # hold the last day of one feed back: the second run delivers it and publishes a new snapshot
    last = sorted((landing / _HELD_BACK).iterdir())[-1]
    held = out / "held_back"
    shutil.move(str(last), held)
    proc = subprocess.run([str(ZHILI), "run", "--landing", str(landing), "--home", str(home)],
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return landing, home, held, last


def test_recipe_names_the_pins_and_read_only():
    recipe = RECIPE.read_text(encoding="utf-8")
    for words in ('"read_only": true', "duckdb:////", "duckdb-engine==", "apache-superset==", "SQLAlchemy"):
        assert words in recipe, words
    lock = (RECIPE.parents[1] / "requirements.lock").read_text()
    for pkg in ("duckdb", "duckdb-engine"):
        pinned = re.search(rf'"{pkg}==([\w.]+)"', recipe)
        locked = re.search(rf"^{pkg}==([\w.]+)", lock, re.M)
        if pinned and locked:
            assert pinned.group(1) == locked.group(1), f"docs/superset.md pins {pkg} {pinned.group(1)}, the lock {locked.group(1)}"


def test_marts_and_chinese_comments_through_inspect(published):
    _, home, _, _ = published
    engine = _engine(home / "serving" / "zhili.duckdb")
    insp = inspect(engine)
    # duckdb_engine names schemas <catalog>.<schema>; the catalog is the file's stem
    assert "zhili.marts" in insp.get_schema_names(), insp.get_schema_names()
    tables = set(insp.get_table_names(schema="marts")) | set(insp.get_view_names(schema="marts"))
    assert CORE_MARTS <= tables, CORE_MARTS - tables
    for table in sorted(CORE_MARTS):
        columns = insp.get_columns(table, schema="marts")
        assert columns, table
        described = [c for c in columns if c.get("comment")]
        assert len(described) == len(columns), f"marts.{table}: columns without a comment: {[c['name'] for c in columns if not c.get('comment')]}"
        assert all(re.search(r"[\u4e00-\u9fff]", c["comment"]) for c in described), f"marts.{table}: a comment without Chinese"
    grid_code = next(c for c in insp.get_columns("dim_grid", schema="marts") if c["name"] == "grid_code")
    assert grid_code["comment"].startswith("网格编码")
    engine.dispose()


def test_read_only_connection_cannot_write(published):
    _, home, _, _ = published
    engine = _engine(home / "serving" / "zhili.duckdb")
    with engine.connect() as con, pytest.raises(Exception, match="(?i)read.only"):
        con.execute(text("create table marts.x as select 1"))
    engine.dispose()


def test_example_queries_while_a_run_publishes(published):
    landing, home, held, last = published
    snapshot = home / "serving" / "zhili.duckdb"
    queries = _doc_queries()
    assert sum(1 for where, _ in queries if where.startswith("superset.md")) >= 5
    probe = _engine(snapshot)
    tables = set(inspect(probe).get_table_names(schema="marts"))
    probe.dispose()
    runnable = [(w, q) for w, q in queries if _runnable(q, tables)]
    assert all(_runnable(q, tables) for w, q in queries if w.startswith("superset.md"))
    with _engine(snapshot).connect() as con:
        before_max = con.execute(text("select max(received_date) from marts.fct_incident where source_feed = 'police_incidents'")).scalar()
    inode_before = snapshot.stat().st_ino

    shutil.move(str(held), last)  # the held-back day arrives, flag and all
    run = subprocess.Popen([str(ZHILI), "run", "--landing", str(landing), "--home", str(home)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rounds, errors, inodes = 0, [], set()
    deadline = time.monotonic() + 1500
    try:
        while run.poll() is None and time.monotonic() < deadline:
            engine = _engine(snapshot)  # Superset opens a connection per query (NullPool-like)
            try:
                with engine.connect() as con:
                    for where, sql in runnable:
                        rows = con.execute(text(sql)).fetchall()
                        if where in _NONEMPTY:
                            assert rows, f"{where} returned no rows"
                inodes.add(snapshot.stat().st_ino)
                rounds += 1
            except AssertionError:
                raise
            except Exception as err:  # noqa: BLE001 - every failure a reader sees is the finding
                errors.append(f"{type(err).__name__}: {str(err).splitlines()[0]}")
            finally:
                engine.dispose()
            time.sleep(0.2)
    finally:
        if run.poll() is None:
            run.kill()
        output = run.communicate()[0]
    assert run.returncode == 0, output[-3000:]
    assert "serving snapshot:" in output, output[-3000:]
    assert not errors, f"{len(errors)} of {rounds + len(errors)} rounds failed while publishing: {errors[:3]}"
    assert rounds >= 3, f"only {rounds} query rounds ran during the publishing run"
    assert snapshot.stat().st_ino != inode_before, "the second run did not publish a new snapshot"
    with _engine(snapshot).connect() as con:
        after_max = con.execute(text("select max(received_date) from marts.fct_incident where source_feed = 'police_incidents'")).scalar()
        for where, sql in runnable:
            con.execute(text(sql)).fetchall()
    assert after_max > before_max, (before_max, after_max)
