"""warehouse_sensor: one warehouse run per batch of new normalised data, none without it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.defs.warehouse.sensors import build_warehouse_sensor

_EMPTY_HOME = Path("/nonexistent/zhili-home")


def _tick(sensor, instance, cursor):
    from orchestration.defs.resources import ZhiliResource

    # a home with nothing published: only the cursor decides
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"zhili": ZhiliResource(home=str(_EMPTY_HOME))}
    )
    result = sensor(context)
    return result, context.cursor


def test_requests_the_warehouse_once_after_new_normalised_data():
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_warehouse_sensor(dg.define_asset_job("warehouse_job", selection=dg.AssetSelection.all()))

    result, cursor = _tick(sensor, instance, None)
    assert isinstance(result, dg.SkipReason)

    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=dg.AssetKey(["normalised", "police_incidents"]), partition="2024-11-03/JQ_20241102.csv"
        )
    )
    result, cursor = _tick(sensor, instance, cursor)
    assert isinstance(result, dg.RunRequest)

    result, cursor = _tick(sensor, instance, cursor)
    assert isinstance(result, dg.SkipReason)


def test_raw_materialisations_alone_do_not_rebuild_the_warehouse():
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_warehouse_sensor(dg.define_asset_job("warehouse_job", selection=dg.AssetSelection.all()))
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=dg.AssetKey(["raw", "police_incidents"])))
    result, _ = _tick(sensor, instance, None)
    assert isinstance(result, dg.SkipReason)


# --------------------------------------------------------------------------
# The first tick knows what zhili run built (the home's snapshot record, not the cursor)
# --------------------------------------------------------------------------


def _home_built_by_the_cli(tmp_path, instance, *, md5s: list[str], snapshot_files: list[str]):
    """A home whose ledger loaded ``md5s`` and whose serving snapshot was published (by a CLI warehouse run in
    ``instance``) holding ``snapshot_files``; returns the ZhiliResource pointing at it."""
    import duckdb
    import polars as pl

    from ingestion.ledger import FileOutcome, write_ledger
    from orchestration.defs.resources import ZhiliResource
    from orchestration.defs.warehouse.publish import publish_snapshot
    from orchestration.defs.warehouse.sensors import latest_normalised_storage_id
    from orchestration.settings import Settings

    settings = Settings.resolve(home=tmp_path / "home", landing=tmp_path / "landing", env={})
    for i, md5 in enumerate(md5s):
        write_ledger(
            settings.zones,
            FileOutcome(
                feed="police_incidents",
                table_name="police_incidents",
                folder="2024-11-03",
                file=f"JQ_{i}.csv",
                status="loaded",
                file_md5=md5,
            ),
        )
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=dg.AssetKey(["normalised", "police_incidents"]), partition="2024-11-03/JQ_0.csv"
        )
    )
    run = instance.create_run_for_job(dg.GraphDefinition(name="cli_warehouse", node_defs=[]).to_job())
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ops")
        frame = pl.DataFrame({"file_md5": snapshot_files, "status": ["loaded"] * len(snapshot_files)})
        con.register("frame", frame.to_arrow())
        con.execute("create table ops.ops_ingest_ledger as select * from frame")
    publish_snapshot(
        warehouse,
        settings.zones.serving,
        build={
            "as_of_date": "2024-11-03",
            "run_id": run.run_id,
            "normalised_storage_id": latest_normalised_storage_id(instance),
        },
    )
    return ZhiliResource(home=str(settings.home), landing=str(settings.landing))


def _tick_with(sensor, instance, cursor, zhili):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"zhili": zhili})
    return sensor(context), context.cursor


def test_first_tick_on_a_home_the_cli_brought_up_to_date_starts_nothing(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_warehouse_sensor(dg.define_asset_job("warehouse_job", selection=dg.AssetSelection.all()))
    zhili = _home_built_by_the_cli(tmp_path, instance, md5s=["a" * 32, "b" * 32], snapshot_files=["a" * 32, "b" * 32])

    result, cursor = _tick_with(sensor, instance, None, zhili)
    assert isinstance(result, dg.SkipReason) and "already holds" in result.skip_message
    assert int(cursor) > 0  # moved on: the next tick skips without reading the home

    # new data after it is built, as ever
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=dg.AssetKey(["normalised", "petitions"]), partition="2024-11-04/XF.csv")
    )
    result, cursor = _tick_with(sensor, instance, cursor, zhili)
    assert isinstance(result, dg.RunRequest)


def test_first_tick_builds_when_the_snapshot_lacks_a_loaded_file(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_warehouse_sensor(dg.define_asset_job("warehouse_job", selection=dg.AssetSelection.all()))
    # a run killed after loading b but before publishing
    zhili = _home_built_by_the_cli(tmp_path, instance, md5s=["a" * 32, "b" * 32], snapshot_files=["a" * 32])
    result, _ = _tick_with(sensor, instance, None, zhili)
    assert isinstance(result, dg.RunRequest)


def test_first_tick_builds_when_the_snapshot_file_is_not_the_recorded_one(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_warehouse_sensor(dg.define_asset_job("warehouse_job", selection=dg.AssetSelection.all()))
    zhili = _home_built_by_the_cli(tmp_path, instance, md5s=["a" * 32], snapshot_files=["a" * 32])
    serving = tmp_path / "home" / "serving"
    # a publish killed between the swap and the record: the file in place is not the one recorded
    (serving / "zhili.duckdb").unlink()
    (serving / "zhili.duckdb").write_bytes(b"another file")
    result, _ = _tick_with(sensor, instance, None, zhili)
    assert isinstance(result, dg.RunRequest)
