"""dbt on the profile's ``spark`` target in one process, and the built relations exported as Parquet (issue 25).

dbt-spark's ``session`` method runs Spark inside dbt's own process, so a dbt command started here leaves its
Spark session behind: the relations it built are read from that same session (one JVM start, 15-30 s on this
machine, instead of one per step), and each is written as Parquet (timestamps as UTC instants, which DuckDB
reads back as ``timestamp with time zone``). This is how the Spark-vs-DuckDB comparison reads what Spark built
(tests/integration/test_spark_staging.py), and the shape the serving export of a ``zhili run --engine spark``
would take (docs/spark.md).

Before dbt, the zones' schema copies Spark's source macro reads are written (``ingestion.spark_sources``).

``python -m orchestration.lib.spark_dbt <home> --export <folder> --schema staging --schema ops -- build --select
staging ops``
"""

from __future__ import annotations

import argparse
import os
import sys
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


def export_schemas(schemas: list[str], out: Path) -> list[Path]:
    """Write every table and view of ``schemas`` (Spark's databases, as dbt named them) to
    ``out/<schema>/<name>/`` as Parquet, from the Spark session dbt left in this process; return the folders."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
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
    if not dbt_args:
        parser.error("give the dbt command after --, e.g. -- build --select staging")
    if ns.export and not ns.schema:
        parser.error("--export needs at least one --schema to export")
    try:
        run_dbt_on_spark(ns.home, dbt_args)
    except SparkDbtError as error:
        print(error, file=sys.stderr)
        return 1
    if ns.export:
        folders = export_schemas(ns.schema, ns.export)
        print(f"{len(folders)} relations exported under {ns.export}")
    return 0


if __name__ == "__main__":  # pragma: no cover - the command line
    sys.exit(main())
