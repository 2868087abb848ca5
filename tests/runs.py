"""Running zhili as a user does, and fingerprinting what it published: shared by the run-level tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ZHILI = [sys.executable, "-m", "orchestration.cli"]  # the console script's entry point, as a module


def zhili_run(landing: Path, home: Path, env: dict, timeout: float = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([*ZHILI, "run", "--landing", str(landing), "--home", str(home)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


def mart_hashes(db: Path) -> dict[str, str]:
    """row count and md5 of every marts table, its rows rendered as text and sorted (= sorted by all columns)."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1").fetchall()]
        return {t: con.execute("select count(*) || ':' || coalesce(md5(string_agg(r, chr(10) order by r)), '') "
                               f'from (select cast(t as varchar) as r from marts."{t}" as t)').fetchone()[0]
                for t in tables}
