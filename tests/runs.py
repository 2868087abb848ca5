"""Running zhili as a user does, and fingerprinting what it published: shared by the run-level tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ZHILI = [sys.executable, "-m", "orchestration.cli"]  # the console script's entry point, as a module


def scale(name: str, residents: int = 1000, days: int = 5) -> tuple[int, int]:
    """(residents, days) of a run-level test: CI's small default, or ``ZHILI_<NAME>_RESIDENTS`` /
    ``ZHILI_<NAME>_DAYS`` for the full-scale run the README gives."""
    return (int(os.environ.get(f"ZHILI_{name}_RESIDENTS", residents)), int(os.environ.get(f"ZHILI_{name}_DAYS", days)))


def zhili_command(landing: Path, home: Path) -> list[str]:
    return [*ZHILI, "run", "--landing", str(landing), "--home", str(home)]


def zhili_run(landing: Path, home: Path, env: dict | None = None, timeout: float = 1500) -> subprocess.CompletedProcess:
    """``zhili run`` as a subprocess of this checkout (cwd=ROOT, so its own packages are imported); ``env``:
    the environment (None: this process's)."""
    return subprocess.run(
        zhili_command(landing, home), capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


def zhili_built(landing: Path, home: Path, timeout: float = 1500) -> str:
    """``zhili run`` that must succeed (its output's tails in the failure); returns its standard output."""
    proc = zhili_run(landing, home, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def zhili_start(landing: Path, home: Path, env: dict, log: Path) -> subprocess.Popen:
    """``zhili run`` in its own process group (it and its dbt subprocess), output unbuffered into ``log``.

    Stop it with :func:`kill_group`, as a power cut or an OOM kill of the container would.
    """
    with open(log, "w") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            zhili_command(landing, home),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
            start_new_session=True,
        )


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def kill_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGKILL ``proc``'s whole process group and wait until no member of it is left alive."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while left := _group_members(proc.pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes {left} of the killed group survived SIGKILL")
        time.sleep(0.05)


def mart_hashes(db: Path) -> dict[str, str]:
    """row count and md5 of every marts table, its rows rendered as text and sorted (= sorted by all columns)."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(
                # tables in a warehouse, views (over Parquet versions) in a serving catalogue
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        return {
            t: con.execute(
                "select count(*) || ':' || coalesce(md5(string_agg(r, chr(10) order by r)), '') "
                f'from (select cast(t as varchar) as r from marts."{t}" as t)'
            ).fetchone()[0]
            for t in tables
        }


def split_last_delivery(landing: Path) -> tuple[list[str], list[str]]:
    """The delivery dates of a generated landing as (earlier, last): ``last`` starts at the latest date
    bringing a file whose bytes no earlier or other file has (the generator's last folders may only
    re-deliver earlier files, which change nothing), so delivering ``last`` after ``earlier`` changes the marts."""
    import hashlib

    md5s: dict[str, list[str]] = {}
    for f in landing.glob("*/*/*"):
        if f.is_file() and not f.name.endswith(".ok"):
            md5s.setdefault(hashlib.md5(f.read_bytes()).hexdigest(), []).append(f.parent.name)
    dates = sorted({d.name for d in landing.glob("*/*") if d.is_dir()})
    new = [min(folders) for folders in md5s.values()]  # where each distinct file was first delivered
    last = max((d for d in new if d != dates[0]), default=dates[-1])
    return [d for d in dates if d < last], [d for d in dates if d >= last]
