"""The Dagster event log ``zhili run`` writes: Dagster's run-sharded SQLite storage, kept open.

Dagster's :class:`SqliteEventLogStorage` opens a new SQLite engine for every event it stores and
closes it again (``NullPool``). Closing the last connection to a WAL database checkpoints it (the
WAL is copied into the database file and both are fsynced) and the commit before it fsyncs the WAL:
two to four fsyncs per event, more for an asset event (it is mirrored into the ``index`` shard,
and a check evaluation once more). A dbt build writes about a thousand such events; on a busy disk
that was most of a small day's run. :class:`KeptSqliteEventLogStorage` is the same storage (the same
files, schema and layout, so ``dagster dev`` on the same ``DAGSTER_HOME`` reads them as before)
with two differences in how it connects:

- one pooled engine per shard, kept open while the instance lives (the index and the few newest
  run shards; an older one is closed when a newer run opens), so no close checkpoints per event;
  SQLite checkpoints the WAL itself every 1,000 pages and when the engine is disposed;
- ``PRAGMA synchronous=NORMAL``: in WAL mode a commit no longer waits for an fsync. SQLite
  documents this as safe from corruption; a power cut may lose the last events written, never the
  database. The data the events describe (the zones, the ledger, the warehouse) are written by
  zhili's own atomic writers and do not depend on it.

It is configured as an instance override in :mod:`orchestration.instance` (``zhili run`` only), not
by patching Dagster.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster._config import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

__all__ = ["KeptSqliteEventLogStorage", "KEPT_RUN_SHARDS"]

#: run shards kept open besides the index: a zhili run writes one run at a time, the UI reads a few
KEPT_RUN_SHARDS = 4


def _fast_commits(dbapi_connection, _record) -> None:
    # WAL is already the journal mode Dagster set when it created the file; NORMAL: no fsync per commit
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class KeptSqliteEventLogStorage(SqliteEventLogStorage):
    """:class:`SqliteEventLogStorage` that keeps each shard's connection open and commits without fsync."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        """The shard's kept engine (called under ``self._db_lock``): one connection, reused."""
        engine = self._engines.pop(shard, None)
        if engine is None:
            # one connection kept; _initdb opens up to three at once on a new shard, closed again when returned
            engine = create_engine(
                self.conn_string_for_shard(shard),
                pool_size=1,
                max_overflow=4,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            event.listen(engine, "connect", _fast_commits)
        self._engines[shard] = engine  # most recently used last
        runs = [s for s in self._engines if s != INDEX_SHARD_NAME]
        for old in runs[: max(0, len(runs) - KEPT_RUN_SHARDS)]:
            self._engines.pop(old).dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # as SqliteEventLogStorage._connect, with the kept engine instead of a new one per call
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def has_table(self, table_name: str) -> bool:
        # asked once per asset check event, each time through a new engine; a table, once there, stays
        if table_name not in self._tables:
            if not super().has_table(table_name):
                return False
            self._tables.add(table_name)
        return True

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()
