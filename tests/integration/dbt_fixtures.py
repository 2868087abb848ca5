"""Small, hand-made state folders for the dbt integration tests.

The writer follows the pipeline's contract (ingestion/schemas.py, ingestion/zones.py):
Parquet files under ``normalised/<table>/``, ``restricted/person_records/``,
``quarantine/<table>/`` and ``ledger/``, each folder holding a zero-row
``_empty.parquet`` with the schema. Rows are given as dicts; the locator
columns default from the file they are written to, and every other column
defaults to a typed null (:func:`ingestion.schemas.conform`).

``run_dbt`` runs the real dbt CLI as a subprocess with target and log paths
inside the temporary folder, so nothing is written into the repository.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from ingestion.schemas import LEDGER, PERSON_RECORDS, QUARANTINE, SCHEMAS, conform
from ingestion.versions import VERSIONED, record_snapshot
from ingestion.zones import Zones, ensure_zones

__all__ = ["REPO", "StateWriter", "at", "run_dbt"]

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "dbt_project"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    """A China-time timestamp from ``YYYY-MM-DD HH:MM``."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)


class StateWriter:
    """Writes conforming Parquet files into a state folder (``home``)."""

    def __init__(self, home: Path) -> None:
        self.zones = Zones(home)
        self._ledger: list[dict] = []
        for table, schema in SCHEMAS.items():
            self._empty(self.zones.normalised(table), schema)
            self._empty(self.zones.quarantine(table), QUARANTINE)
        self._empty(self.zones.person_records(), PERSON_RECORDS)
        self._empty(self.zones.ledger, LEDGER)
        ensure_zones(self.zones)  # the versions store's folders among them

    @staticmethod
    def _empty(folder: Path, schema: dict) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(schema=schema).write_parquet(folder / "_empty.parquet")

    def file(
        self,
        table: str,
        file: str,
        *,
        data_date: date,
        delivered: date,
        rows: list[dict],
        people: list[dict] = (),
        quarantined: list[dict] = (),
        sheet: str | None = None,
    ) -> str:
        """Write one delivered file's normalised rows, person records,
        quarantine rows and its ledger row; returns the file's md5."""
        md5 = hashlib.md5(f"{table}/{file}/{delivered}".encode()).hexdigest()
        feed = "grid_registry" if table in ("grid_units", "address_points", "grid_boundaries") else table

        def located(items: list[dict], schema: dict) -> pl.DataFrame:
            filled = [
                {
                    "feed": feed,
                    "file": file,
                    "file_md5": md5,
                    "sheet": sheet,
                    "record_no": number,
                    "member_no": 1,
                    "data_date": data_date,
                    **item,
                }
                for number, item in enumerate(items, start=1)
            ]
            frame = pl.DataFrame(filled, infer_schema_length=None) if filled else pl.DataFrame()
            return conform(frame, schema)

        normalised = located(rows, SCHEMAS[table])
        normalised.write_parquet(self.zones.normalised(table, md5))
        if table in VERSIONED:  # a register snapshot is also kept as versions, as commit() keeps it
            record_snapshot(self.zones, table, md5, data_date, normalised)
        if people:
            located(list(people), PERSON_RECORDS).write_parquet(self.zones.person_records(md5))
        if quarantined:
            located(list(quarantined), QUARANTINE).write_parquet(self.zones.quarantine(table, md5))
        self._ledger.append(
            {
                "feed": feed,
                "table_name": table,
                "folder": f"{feed}/{delivered.isoformat()}",
                "file": file,
                "file_md5": md5,
                "status": "loaded",
                "records_read": len(rows) + len(quarantined),
                "rows_normalised": len(rows),
                "rows_quarantined": len(quarantined),
                "rows_skipped": 0,
                "is_balanced": True,
                "processed_at": datetime.combine(delivered, datetime.min.time(), SHANGHAI),
            }
        )
        return md5

    def ledger_row(self, **row) -> None:
        """A ledger outcome without rows (rejected, duplicate, ...)."""
        self._ledger.append(row)

    def finish(self) -> None:
        frame = conform(pl.DataFrame(self._ledger, infer_schema_length=None), LEDGER)
        frame.write_parquet(self.zones.ledger / "ledger.parquet")


def run_dbt(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the dbt CLI on the project against the warehouse in ``home``."""
    dbt = Path(sys.executable).with_name("dbt")
    env = {
        **os.environ,
        "ZHILI_HOME": str(home),
        "DBT_TARGET_PATH": str(home / "dbt_target"),
        "DBT_LOG_PATH": str(home / "dbt_logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [
        str(dbt),
        *args,
        "--project-dir",
        str(PROJECT),
        "--profiles-dir",
        str(PROJECT),
        "--target-path",
        str(home / "dbt_target"),
        "--log-path",
        str(home / "dbt_logs"),
    ]
    return subprocess.run(command, env=env, cwd=home, capture_output=True, text=True, timeout=600)


def hotline_warehouse(landing: Path, home: Path, as_of: date, tested: str):
    """Load the grid register, the population register and the 12345 feed of ``landing`` into ``home`` (the
    same planner as ``zhili run``), build the warehouse as of ``as_of`` and run the dbt tests under the
    ``tested`` model paths; the outcomes and a read-only connection in China time."""
    import duckdb

    from ingestion.planner import ingest_landing
    from ingestion.pseudonym import load_or_create_key

    zones = Zones(home)
    outcomes = ingest_landing(
        landing,
        zones,
        key=load_or_create_key(zones.secret_file),
        feeds=("grid_registry", "police_population", "hotline_orders"),
    )
    dbt_vars = f"{{as_of_date: '{as_of.isoformat()}'}}"
    for args in (("seed",), ("run",), ("test", "--select", tested)):
        proc = run_dbt(home, *args, "--vars", dbt_vars)
        assert proc.returncode == 0, f"dbt {args[0]} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    con.execute("set TimeZone = 'Asia/Shanghai'")
    return outcomes, con


def china_naive(column: str) -> pl.Expr:
    """A timestamptz column as the China wall-clock time the generator's truth is written in."""
    return pl.col(column).dt.convert_time_zone("Asia/Shanghai").dt.replace_time_zone(None)


def truth_person_keys(truth_dir: Path, con) -> pl.DataFrame:
    """person_id -> the person_key linkage gave the generator's truth person's register records (the mode over
    them), read from a built warehouse's ``marts.person_source_links``."""
    records = pl.read_parquet(truth_dir / "person_records.parquet").filter(pl.col("feed") == "police_population")
    links = con.sql(
        "select file, record_no, person_key from marts.person_source_links "
        "where feed = 'police_population' and person_key is not null"
    ).pl()
    return records.join(links, on=["file", "record_no"]).group_by("person_id").agg(pl.col("person_key").mode().first())
