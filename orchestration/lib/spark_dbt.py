"""dbt on the profile's ``spark`` target in one process, and the built relations exported as Parquet (issue 25).

dbt-spark's ``session`` method runs Spark inside dbt's own process, so a dbt command started here leaves its
Spark session behind: the relations it built are read from that same session (one JVM start, 15-30 s on this
machine, instead of one per step), and each is written as Parquet (timestamps as UTC instants, which DuckDB
reads back as ``timestamp with time zone``). This is how the Spark-vs-DuckDB comparison reads what Spark built
(tests/integration/test_spark_staging.py), and the shape the serving export of a ``zhili run --engine spark``
would take (docs/spark.md).

Before dbt, the zones' schema copies Spark's source macro reads are written (``ingestion.spark_sources``).

``python -m orchestration.lib.spark_dbt <home> --export <folder> --schema staging --schema ops -- build --select
staging ops``; without a dbt command, ``--export`` alone opens the home's Spark catalogue (what an earlier dbt
process built there) and exports from it: how ``zhili run --engine spark`` publishes (``export_to_duckdb``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"


class SparkDbtError(RuntimeError):
    """A dbt command on Spark failed; the message names the command and the failing nodes."""


def run_dbt_on_spark(home: Path, args: list[str]) -> None:
    """``dbt <args> --target spark`` on the project, for the home ``home``, in this process.

    Raises ``SparkDbtError`` naming the nodes that failed."""
    from dbt.cli.main import dbtRunner

    from ingestion.spark_sources import prepare_spark_sources

    home = Path(home).resolve()
    prepare_spark_sources(home)
    os.environ["ZHILI_HOME"] = str(home)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    command = [
        *args,
        "--target",
        "spark",
        "--project-dir",
        str(PROJECT),
        "--profiles-dir",
        str(PROJECT),
        "--target-path",
        str(home / "spark" / "dbt_target"),
        "--log-path",
        str(home / "spark" / "dbt_logs"),
    ]
    result = dbtRunner().invoke(command)
    if not result.success:
        failed = []
        for node in getattr(result.result, "results", None) or []:
            if str(node.status) in ("error", "fail", "runtime error"):
                failed.append(f"{node.node.name}: {str(node.message).splitlines()[0] if node.message else ''}")
        detail = "; ".join(failed) or str(result.exception)
        raise SparkDbtError(f"dbt {' '.join(args)} on Spark failed for {home}: {detail}")


def export_schemas(schemas: list[str], out: Path, home: Path | None = None) -> list[Path]:
    """Write every table and view of ``schemas`` (Spark's databases, as dbt named them) to
    ``out/<schema>/<name>/`` as Parquet, from the Spark session dbt left in this process, else (``home``) a
    session on that home's catalogue; return the folders."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None and home is not None:
        from ingestion.linkage.spark import spark_session

        spark = spark_session(home, catalogue=True, app_name="zhili-export")
    spark = spark or SparkSession.builder.getOrCreate()
    # Parquet's own timestamp type (an instant), not Spark's legacy INT96, so other readers see the zone
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    written = []
    for schema in schemas:
        for table in spark.catalog.listTables(schema):
            if table.isTemporary:
                continue
            folder = Path(out) / schema / table.name
            spark.table(f"`{schema}`.`{table.name}`").coalesce(1).write.mode("overwrite").parquet(str(folder))
            written.append(folder)
    return written


#: under <home>/spark: the relations a run exports from Spark's catalogue, and the DuckDB file they are loaded into
#: for the serving publish (export_to_duckdb)
EXPORT_FOLDER = "export"
EXPORTED_DATABASE = "exported.duckdb"


def export_to_duckdb(home: Path, schemas: Sequence[str], manifest: Path | None = None) -> Path:
    """What dbt built on Spark in ``schemas``, as tables of a DuckDB file (``<home>/spark/exported.duckdb``,
    replaced atomically) that the serving publish reads in place of DuckDB's warehouse; return its path.

    The export runs in a process of its own (``python -m orchestration.lib.spark_dbt <home> --export …``): it
    opens the home's Spark catalogue after dbt's process has closed it (Derby admits one process at a time)
    and ends with its JVM. Each relation is read back from its Parquet (timestamps as instants, so as
    ``timestamp with time zone``) and given the descriptions ``manifest`` (dbt's) holds for it and its
    columns, as dbt's persist_docs gives them on DuckDB. Raises ``SparkDbtError`` when the export fails."""
    import duckdb

    home = Path(home).resolve()
    export, database = home / "spark" / EXPORT_FOLDER, home / "spark" / EXPORTED_DATABASE
    shutil.rmtree(export, ignore_errors=True)
    command = [sys.executable, "-m", "orchestration.lib.spark_dbt", str(home), "--export", str(export)]
    command += [arg for schema in schemas for arg in ("--schema", schema)]
    done = subprocess.run(command, cwd=PROJECT.parent, capture_output=True, text=True)
    if done.returncode != 0:
        said = [line for line in (done.stdout + done.stderr).splitlines() if line.strip() and " WARN " not in line]
        raise SparkDbtError(
            f"exporting {', '.join(schemas)} from the Spark catalogue under {home / 'spark'} failed: "
            + " | ".join(said[-3:])
        )
    docs = _descriptions(manifest)
    part = database.with_name(f".{database.name}.{os.getpid()}.tmp")
    part.unlink(missing_ok=True)
    con = duckdb.connect(str(part))
    try:
        for schema in schemas:
            con.execute(f'create schema "{schema}"')
            folders = sorted((export / schema).iterdir()) if (export / schema).is_dir() else []
            for folder in folders:
                name = f'"{schema}"."{folder.name}"'
                files = str(folder / "*.parquet").replace("'", "''")
                con.execute(f"create table {name} as select * from read_parquet('{files}')")
                table, columns = docs.get((schema, folder.name), ("", {}))
                if table:
                    con.execute(f"comment on table {name} is {_literal(table)}")
                for column in (row[0] for row in con.execute(f"describe {name}").fetchall()):
                    if columns.get(column.lower()):
                        con.execute(f'comment on column {name}."{column}" is {_literal(columns[column.lower()])}')
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(part, database)
    return database


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _descriptions(manifest: Path | None) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
    """(schema, relation) -> (its description, {column: description}) from dbt's manifest (empty without one)."""
    try:
        nodes = json.loads(Path(manifest).read_text())["nodes"].values() if manifest else []
    except (OSError, ValueError, KeyError):
        return {}
    return {
        (node["schema"], node.get("alias") or node["name"]): (
            node.get("description") or "",
            {name.lower(): (column.get("description") or "") for name, column in node.get("columns", {}).items()},
        )
        for node in nodes
        if node.get("resource_type") in ("model", "seed")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("home", type=Path, help="the pipeline's home (ZHILI_HOME)")
    parser.add_argument("--export", type=Path, help="write the relations of --schema here as Parquet")
    parser.add_argument("--schema", action="append", default=[], help="a Spark database to export (repeatable)")
    argv = sys.argv[1:] if argv is None else argv
    # everything after `--` is dbt's: its own options must not be read as ours
    split = argv.index("--") if "--" in argv else len(argv)
    ns = parser.parse_args(argv[:split])
    dbt_args = argv[split + 1 :]
    if not dbt_args and not ns.export:
        parser.error("give the dbt command after --, e.g. -- build --select staging (or --export alone)")
    if ns.export and not ns.schema:
        parser.error("--export needs at least one --schema to export")
    if dbt_args:
        try:
            run_dbt_on_spark(ns.home, dbt_args)
        except SparkDbtError as error:
            print(error, file=sys.stderr)
            return 1
    if ns.export:
        folders = export_schemas(ns.schema, ns.export, home=ns.home)
        print(f"{len(folders)} relations exported under {ns.export}")
    return 0


if __name__ == "__main__":  # pragma: no cover - the command line
    sys.exit(main())
