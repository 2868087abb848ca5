"""Readers during a run: read-only queries on the serving snapshot in a loop throughout a whole run.

A first run publishes a snapshot; the last delivery day (bringing new files) is then delivered and a
second run loads it, rebuilds the warehouse and publishes again while two readers loop over
``<home>/serving/zhili.duckdb``, each query on a fresh connection:

* a thread of this process with the duckdb client (``duckdb.connect(path, read_only=True)``);
* another process connecting the way Superset does (docs/superset.md): SQLAlchemy + duckdb_engine,
  ``create_engine("duckdb:///<path>", connect_args={"read_only": True})``, no connection pool.
  It is a process of its own, as a BI server is: inside one process DuckDB refuses a second
  connection to a file already open with different settings (duckdb_engine sets its own user agent).

Every query must succeed, and every connection must see one whole snapshot: the row counts of all
marts equal the first snapshot's or the second's, never a mix or a half-built one; each reader must
have seen both (its reads spanned the swap). Small scale (CI): 1,000 residents over 6 days; larger::

    ZHILI_READERS_RESIDENTS=2000 ZHILI_READERS_DAYS=14 \\
        .venv/bin/python -m pytest -q -s tests/integration/test_readers_during_run.py
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import pytest

from ingestion.generator import generate
from tests.runs import scale, split_last_delivery, zhili_run

_PAUSE = 0.05  # between two reads of one reader
RESIDENTS, DAYS = scale("READERS", 1000, 6)


def _signature(rows) -> tuple:
    return tuple(sorted((str(t), int(n)) for t, n in rows))


def _duckdb_state(path: Path) -> tuple:
    """(mart, rows) of every mart, through one read-only duckdb connection."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(  # the catalogue's marts are views over their Parquet versions
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        ]
        return _signature((t, con.execute(f'select count(*) from marts."{t}"').fetchone()[0]) for t in tables)


def _sqlalchemy_state(path: Path) -> tuple:
    """The same through SQLAlchemy + duckdb_engine, connected as docs/superset.md says."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"duckdb:///{path}", connect_args={"read_only": True}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as con:
            insp = sa.inspect(con)  # the catalogue's marts are views over their Parquet versions
            tables = insp.get_table_names(schema="marts") + insp.get_view_names(schema="marts")
            return _signature(
                (t, con.execute(sa.text(f'select count(*) from marts."{t}"')).scalar_one()) for t in tables
            )
    finally:
        engine.dispose()


def _loop(path: Path, read, halt, seen: Counter, errors: list) -> None:
    while not halt.is_set():
        try:
            seen[read(path)] += 1
        except Exception:  # noqa: BLE001 - every error is a finding
            errors.append(traceback.format_exc(limit=5))
        time.sleep(_PAUSE)


def _loop_in_child(path: str, halt, results) -> None:
    seen, errors = Counter(), []
    _loop(Path(path), _sqlalchemy_state, halt, seen, errors)
    results.put((seen, errors))


class Reader:
    """Loops ``read`` in a thread of this process (``child=False``) or in a process of its own."""

    def __init__(self, path: Path, read, *, child: bool):
        self.seen: Counter = Counter()
        self.errors: list[str] = []
        if child:
            import multiprocessing

            assert read is _sqlalchemy_state
            ctx = multiprocessing.get_context("spawn")
            self.halt, self._results = ctx.Event(), ctx.Queue()
            self._worker = ctx.Process(target=_loop_in_child, args=(str(path), self.halt, self._results), daemon=True)
        else:
            self.halt, self._results = threading.Event(), None
            self._worker = threading.Thread(
                target=_loop, args=(path, read, self.halt, self.seen, self.errors), daemon=True
            )

    @property
    def queries(self) -> int:
        return sum(self.seen.values()) + len(self.errors)

    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout: float = 120) -> None:
        self.halt.set()
        if self._results is not None:
            seen, errors = self._results.get(timeout=timeout)
            self.seen.update(seen)
            self.errors.extend(errors)
        self._worker.join(timeout=timeout)


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    out = tmp_path_factory.mktemp("readers")
    generate(out, residents=RESIDENTS, days=DAYS, seed=23)
    full = out / "landing"
    _, held_back = split_last_delivery(full)
    landing = out / "delivered"
    shutil.copytree(
        full, landing, ignore=lambda d, names: [n for n in names if n in held_back and Path(d).parent == full]
    )
    home = out / "home"
    env = dict(os.environ, ZHILI_SECRET_FILE=str(out / "secret.key"))
    first = zhili_run(landing, home, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    serving = home / "serving" / "zhili.duckdb"
    before = _duckdb_state(serving)
    for folder in sorted(d for d in full.glob("*/*") if d.is_dir() and d.name in held_back):
        shutil.copytree(folder, landing / folder.relative_to(full))
    readers = {
        "duckdb": Reader(serving, _duckdb_state, child=False),
        "sqlalchemy_duckdb_engine": Reader(serving, _sqlalchemy_state, child=True),
    }
    for r in readers.values():
        r.start()
    time.sleep(3)  # both readers are reading before the run starts (the child process imports SQLAlchemy)
    t0 = time.monotonic()
    second = zhili_run(landing, home, env)
    seconds = time.monotonic() - t0
    time.sleep(3)  # and after it ended
    for r in readers.values():
        r.stop()
    after = _duckdb_state(serving)
    print(f"\nreaders ({RESIDENTS} residents x {DAYS} days) during a {seconds:.1f} s run (exit {second.returncode}):")
    for name, r in readers.items():
        print(
            f"  {name}: {r.queries} reads, {len(r.errors)} errors, "
            f"{r.seen[before]} saw the first snapshot, {r.seen[after]} the second, "
            f"{sum(n for s, n in r.seen.items() if s not in (before, after))} neither"
        )
    return dict(first=first, second=second, before=before, after=after, readers=readers)


def test_run_succeeded_and_published_a_new_snapshot(observed):
    second = observed["second"]
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert observed["after"] != observed["before"], "the second run should have changed the marts"


@pytest.mark.parametrize("which", ["duckdb", "sqlalchemy_duckdb_engine"])
def test_readers_saw_no_error_and_only_whole_snapshots(observed, which):
    reader = observed["readers"][which]
    before, after = observed["before"], observed["after"]
    assert reader.queries >= 10, f"the reader barely ran: {reader.queries} reads"
    assert not reader.errors, f"{len(reader.errors)} errors in {reader.queries} reads; first:\n{reader.errors[0]}"
    mixed = [s for s in reader.seen if s not in (before, after)]
    assert not mixed, f"{sum(reader.seen[s] for s in mixed)} reads saw a state that is neither snapshot"
    assert reader.seen[before] and reader.seen[after], f"the reads did not span the swap: {dict(reader.seen)}"
