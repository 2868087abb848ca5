"""The kept-open event log (orchestration.event_log) writes what Dagster's own storage reads back: the UI
(``dagster dev`` on the same DAGSTER_HOME, stock storage) sees every run's events, materialisations and
check results; its connections commit without fsync and stay open, a bounded number of run shards."""

from __future__ import annotations

import time
import uuid

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from orchestration.event_log import KEPT_RUN_SHARDS, KeptSqliteEventLogStorage
from orchestration.instance import ensure_instance_dir, open_instance


def _stock(home):
    """The instance as ``dagster dev`` opens it: dagster.yaml alone, Dagster's own storage."""
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(ensure_instance_dir(home))))


@dg.asset
def tiny():
    return 1


@dg.asset_check(asset=tiny, blocking=True)
def tiny_positive(tiny):
    return dg.AssetCheckResult(passed=tiny > 0, metadata={"value": tiny})


def test_zhili_run_writes_through_kept_storage_and_the_ui_reads_it(tmp_path):
    instance = open_instance(tmp_path)
    assert isinstance(instance.event_log_storage, KeptSqliteEventLogStorage)
    result = dg.materialize([tiny, tiny_positive], instance=instance)
    assert result.success
    written = instance.all_logs(result.run_id)
    instance.dispose()

    stock = _stock(tmp_path)
    assert type(stock.event_log_storage) is SqliteEventLogStorage
    read = stock.all_logs(result.run_id)
    assert [e.dagster_event_type for e in read] == [e.dagster_event_type for e in written]
    latest = stock.get_latest_materialization_event(dg.AssetKey("tiny"))
    assert latest is not None and latest.run_id == result.run_id
    checks = stock.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("tiny"), "tiny_positive"), limit=5
    )
    assert [c.run_id for c in checks] == [result.run_id]
    assert checks[0].status.value == "SUCCEEDED"


def test_commits_without_fsync_on_a_kept_connection(tmp_path):
    storage = open_instance(tmp_path).event_log_storage
    with storage.index_connection() as conn:
        first = conn.connection.dbapi_connection
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    with storage.index_connection() as conn:
        assert conn.connection.dbapi_connection is first  # the same connection, not a new engine per event
    storage.dispose()


def test_a_storage_named_in_dagster_yaml_is_left_alone(tmp_path):
    folder = ensure_instance_dir(tmp_path)
    (folder / "dagster.yaml").write_text(
        "event_log_storage:\n  module: dagster._core.storage.event_log\n  class: SqliteEventLogStorage\n"
        f"  config:\n    base_dir: {folder / 'elsewhere'}\n"
    )
    assert type(open_instance(tmp_path).event_log_storage) is SqliteEventLogStorage


def _engine_event(run_id: str, message: str) -> EventLogEntry:
    event = DagsterEvent(
        event_type_value=DagsterEventType.ENGINE_EVENT.value,
        job_name="j",
        message=message,
        event_specific_data=EngineEventData(),
    )
    return EventLogEntry(
        error_info=None, level=20, user_message=message, run_id=run_id, timestamp=time.time(), dagster_event=event
    )


RUNS = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(KEPT_RUN_SHARDS + 3)]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One home for every example (a run shard's creation is the slow part): its instance and the runs."""
    home = tmp_path_factory.mktemp("home")
    instance = open_instance(home)
    for run_id in RUNS:
        instance.add_run(DagsterRun(job_name="j", run_id=run_id))
    yield home, instance
    instance.dispose()


@settings(max_examples=10, deadline=None)
@given(writes=st.lists(st.integers(min_value=0, max_value=len(RUNS) - 1), min_size=1, max_size=30))
def test_every_event_lands_in_its_run_and_few_shards_stay_open(shared, writes):
    """Events written to runs in any order (more runs than shards kept open) are all read back, per run,
    in order, by Dagster's own storage; at most KEPT_RUN_SHARDS run shards (and the index) are open."""
    home, instance = shared
    tag = uuid.uuid4()  # this example's events (Hypothesis may replay an example on the same home)
    storage = instance.event_log_storage
    expected: dict[str, list[str]] = {}
    for n, which in enumerate(writes):
        storage.store_event(_engine_event(RUNS[which], f"{tag} {n}"))
        expected.setdefault(RUNS[which], []).append(f"{tag} {n}")
        assert len([s for s in storage._engines if s != INDEX_SHARD_NAME]) <= KEPT_RUN_SHARDS

    stock = _stock(home)  # reads while the kept connections are open, as the UI does during a run
    for run_id in RUNS:
        got = [e.user_message for e in stock.all_logs(run_id) if e.user_message.startswith(str(tag))]
        assert got == expected.get(run_id, [])
    stock.dispose()


@pytest.mark.parametrize("shards", [1, KEPT_RUN_SHARDS + 2])
def test_dispose_closes_every_kept_connection(tmp_path, shards):
    instance = open_instance(tmp_path)
    storage = instance.event_log_storage
    for i in range(shards):
        storage.store_event(_engine_event(f"{i:08d}-1111-0000-0000-000000000000", "x"))
    assert storage._engines
    instance.dispose()
    assert not storage._engines
    # nothing left open on the files: the WAL was checkpointed away when the last connection closed
    assert not list((tmp_path / "dagster" / "history" / "runs").glob("*.db-wal"))
