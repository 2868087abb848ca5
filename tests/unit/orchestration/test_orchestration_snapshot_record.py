"""The serving snapshot's record (serving/snapshot.json): what decides "current or rebuild" for zhili run.

A plain run means "as of the latest delivery", ``--as-of D`` means D: a snapshot built for another
day is stale even when no file is new. The decision reads the record, never the DuckDB file, so a
reader holding the file (even read-write) cannot make it fail.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from datetime import date

import duckdb
import polars as pl

from ingestion.ledger import FileOutcome, write_ledger
from orchestration.defs.warehouse.publish import current_record, publish_snapshot
from orchestration.defs.warehouse.sensors import serving_staleness
from orchestration.settings import Settings

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(600)"


def _home(tmp_path, *, folders: list[str], as_of: str, as_of_setting: str | None = None) -> Settings:
    """A home whose ledger loaded one file per delivery folder, published as of ``as_of``."""
    settings = Settings.resolve(home=tmp_path / "home", landing=tmp_path / "landing", as_of=as_of_setting, env={})
    md5s = [f"{i:032x}" for i in range(len(folders))]
    for md5, folder in zip(md5s, folders):
        write_ledger(
            settings.zones,
            FileOutcome(
                feed="petitions",
                table_name="petitions",
                folder=folder,
                file=f"XF_{folder}.csv",
                status="loaded",
                file_md5=md5,
            ),
        )
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ops")
        con.register("frame", pl.DataFrame({"file_md5": md5s, "status": ["loaded"] * len(md5s)}).to_arrow())
        con.execute("create table ops.ops_ingest_ledger as select * from frame")
    publish_snapshot(warehouse, settings.zones.serving, build={"as_of_date": as_of, "run_id": None})
    return settings


def test_a_plain_run_means_as_of_the_latest_delivery(tmp_path):
    settings = _home(tmp_path, folders=["2024-12-29", "2024-12-31"], as_of="2024-12-30")
    # built --as-of 2024-12-30; a plain run now is as of 2024-12-31, the latest delivery
    assert serving_staleness(settings, None) == "the snapshot is as of 2024-12-30, this run as of 2024-12-31"
    # the sensor reacts to data, not to dates
    assert serving_staleness(settings, None, check_as_of=False) is None


def test_an_explicit_as_of_must_be_the_snapshots(tmp_path):
    settings = _home(tmp_path, folders=["2024-12-29", "2024-12-31"], as_of="2024-12-31")
    assert serving_staleness(settings, None) is None
    later = Settings.resolve(home=settings.home, landing=settings.landing, as_of="2025-01-02", env={})
    assert "this run as of 2025-01-02" in serving_staleness(later, None)


def test_a_loaded_file_missing_from_the_snapshot_is_stale(tmp_path):
    settings = _home(tmp_path, folders=["2024-12-31"], as_of="2024-12-31")
    write_ledger(
        settings.zones,
        FileOutcome(
            feed="petitions",
            table_name="petitions",
            folder="2024-12-31",
            file="XF_late.csv",
            status="held",
            file_md5="f" * 32,
        ),
    )
    assert serving_staleness(settings, None) == "1 loaded file(s) not in the snapshot"


def test_a_reader_holding_the_snapshot_read_write_does_not_make_it_stale(tmp_path):
    settings = _home(tmp_path, folders=["2024-12-31"], as_of="2024-12-31")
    snapshot = settings.zones.serving / "zhili.duckdb"
    snapshot.chmod(0o644)  # root ignores the read-only mode; this reader is as careless as root can be
    before = current_record(settings.zones.serving)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(snapshot)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        # the old check opened the file, failed on the lock and rebuilt; the record needs no lock
        assert serving_staleness(settings, None) is None
    finally:
        holder.kill()
        holder.wait()
    assert current_record(settings.zones.serving) == before
    snapshot.chmod(0o444)


def test_snapshots_are_published_read_only_and_recorded(tmp_path):
    settings = _home(tmp_path, folders=["2024-12-31"], as_of="2024-12-31")
    snapshot = settings.zones.serving / "zhili.duckdb"
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o444
    record = current_record(settings.zones.serving)
    assert record.as_of_date == date(2024, 12, 31) and record.files == {"0" * 32}
    assert (settings.zones.serving / record.snapshot).samefile(snapshot)


def test_a_read_write_open_of_a_snapshot_is_refused(tmp_path):
    import os
    import shutil

    import pytest

    settings = _home(tmp_path, folders=["2024-12-31"], as_of="2024-12-31")
    snapshot = settings.zones.serving / "zhili.duckdb"
    cmd = [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])", str(snapshot)]
    if os.geteuid() == 0:  # root ignores file modes: take away the capability that lets it, as any other user lacks it
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.stderr.startswith("setpriv:"):
        pytest.skip(f"cannot drop capabilities here: {proc.stderr.strip()}")
    assert proc.returncode != 0 and "Permission denied" in proc.stderr, proc.stderr
    # a read-only open still works
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("select count(*) from ops.ops_ingest_ledger").fetchone() == (1,)
