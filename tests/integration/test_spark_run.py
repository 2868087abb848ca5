"""``zhili run --engine spark`` publishes the same serving catalogue as ``zhili run`` on DuckDB, before and after
a day's increment (issue 25).

A small generated district (2,000 residents, 14 days, seed 4: the district test_spark_staging.py builds) is
delivered in two steps, all days but the last, then the last, each step into two homes that share one pseudonym
key: one run with the default engine, one with ``--engine spark`` (the kept linkage model scoring on Spark, dbt's
``spark`` target, the marts exported from Spark's catalogue into the same publisher), both at the same time.
After each step every view of the two serving catalogues (``serving/zhili.duckdb``: marts and ops) is compared
as text (tests/integration/engine_compare.py), and so are the views' column types: a BI tool reads the same
contract whichever engine built the marts. The first step makes the home's linkage model on DuckDB (nothing is
estimated on Spark); the second scores with it on Spark.
Skipped only where no Java runtime is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine_compare import APPROXIMATE, difference, text_rows
from ingestion.linkage.spark import java_available

pytestmark = [pytest.mark.skipif(java_available() is not None, reason=str(java_available())), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ZHILI = [sys.executable, "-m", "orchestration.cli"]
#: what the ledger and the run records stamp with the clock or the run, so differs from one home to the other
RUN_STAMPED = {"ops_ingest_ledger": ("ledger_key", "seconds", "processed_at")}


def _deliver(district: Path, landing: Path, days: set[str]) -> None:
    """Copy the district's delivery folders of ``days`` (each feed's ``<feed>/<YYYY-MM-DD>/``) into ``landing``."""
    for folder in sorted((district / "landing").glob("*/*")):
        if folder.is_dir() and folder.name in days:
            shutil.copytree(folder, landing / folder.parent.name / folder.name)


def _catalogue(home: Path) -> dict[str, tuple[str, tuple, tuple]]:
    """Every view of the home's serving catalogue: its column types, and its rows as text (engine_compare); under
    ``"<descriptions>"`` every view's and column's description, as a BI tool shows them."""
    import duckdb

    con = duckdb.connect(str(home / "serving" / "zhili.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'Asia/Shanghai'")
        views = con.execute(
            "select schema_name, view_name from duckdb_views() where not internal order by all"
        ).fetchall()
        out = {}
        for schema, name in views:
            relation = f'"{schema}"."{name}"'
            stamped = RUN_STAMPED.get(name, ())
            types = {c: t for c, t, *_ in con.execute(f"describe {relation}").fetchall() if c not in stamped}
            kept = ", ".join(f'"{c}"' for c in types)
            rows = text_rows(con, f"(select {kept} from {relation})", APPROXIMATE.get(name, ()))
            out[f"{schema}.{name}"] = (types, rows)
        out["<descriptions>"] = (
            con.execute(
                "select schema_name, view_name, comment from duckdb_views() where not internal order by all"
            ).fetchall()
            + con.execute(
                "select schema_name, table_name, column_name, comment from duckdb_columns() "
                "where schema_name in ('marts', 'ops') order by all"
            ).fetchall()
        )
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def steps(generated_district, tmp_path_factory) -> list[dict]:
    district = generated_district(2000, 14, 4)
    base = tmp_path_factory.mktemp("spark_run")
    days = sorted({f.name for f in (district / "landing").glob("*/*") if f.is_dir()})
    env = dict(os.environ, ZHILI_SECRET_FILE=str(base / "secret.key"))
    env.pop("ZHILI_ENGINE", None)
    landing = base / "landing"
    landing.mkdir()
    done = []
    for step, delivered in (("first", set(days[:-1])), ("increment", {days[-1]})):
        _deliver(district, landing, delivered)
        runs = {
            engine: subprocess.Popen(
                [*ZHILI, "run", "--landing", str(landing), "--home", str(base / engine), "--engine", engine],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for engine in ("duckdb", "spark")  # the first run creates the shared key before the second needs it
        }
        said = {engine: run.communicate(timeout=1200)[0] for engine, run in runs.items()}
        for engine, run in runs.items():
            assert run.returncode == 0, f"{step}: zhili run --engine {engine} failed:\n{said[engine][-4000:]}"
        linkage = json.loads((base / "spark" / "restricted" / "person_links" / "linkage_run.json").read_text())
        done.append(
            {
                "step": step,
                "said": said,
                "scored_on": linkage["scored_on"],
                **{engine: _catalogue(base / engine) for engine in runs},
            }
        )
    return done


@pytest.mark.parametrize("step", [0, 1], ids=["first", "increment"])
def test_the_serving_catalogue_built_on_spark_is_the_one_built_on_duckdb(steps, step):
    seen = steps[step]
    duck, spark = dict(seen["duckdb"]), dict(seen["spark"])
    # documented alike: the export carries dbt's descriptions into the catalogue as persist_docs does on DuckDB
    described = duck.pop("<descriptions>")
    assert spark.pop("<descriptions>") == described
    assert sum(1 for row in described if row[-1]) > 800
    assert set(spark) == set(duck), (
        f"views only on DuckDB: {set(duck) - set(spark)}; on Spark: {set(spark) - set(duck)}"
    )
    assert sum(1 for name in duck if name.startswith("marts.")) >= 40
    retyped = {
        name: {
            c: (duck[name][0][c], spark[name][0].get(c))
            for c in duck[name][0]
            if duck[name][0][c] != spark[name][0].get(c)
        }
        for name in duck
    }
    retyped = {name: columns for name, columns in retyped.items() if columns}
    assert not retyped, f"column types differ (DuckDB, Spark): {retyped}"
    differ = [d for name in sorted(duck) if (d := difference(name, duck[name][1], spark[name][1])) is not None]
    assert not differ, "Spark's serving views differ from DuckDB's:\n" + "\n".join(differ)
    rows = sum(len(duck[name][1][1]) for name in duck if name.startswith("marts."))
    assert rows > 5_000, "the district fills the marts: the comparison is of rows, not of empty views"


def test_the_first_run_makes_the_model_on_duckdb_and_the_increment_scores_with_it_on_spark(steps):
    assert [seen["scored_on"] for seen in steps] == ["duckdb", "spark"]
    for seen in steps:
        assert "serving snapshot:" in seen["said"]["spark"]
