"""warehouse_sensor: one warehouse run per batch of new normalised data, none without it."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.warehouse.sensors import build_warehouse_sensor


def _tick(sensor, instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sensor(context)
    return result, context.cursor


def test_requests_the_warehouse_once_after_new_normalised_data():
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_warehouse_sensor(dg.define_asset_job("warehouse_job", selection=dg.AssetSelection.all()))

    result, cursor = _tick(sensor, instance, None)
    assert isinstance(result, dg.SkipReason)

    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=dg.AssetKey(["normalised", "police_incidents"]), partition="2024-11-03/JQ_20241102.csv")
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
