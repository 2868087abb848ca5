"""The warehouse's part of the code location: the zone tables dbt reads, the dbt models, ``serving/zhili``,
the job that builds them and the sensor that starts it."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.warehouse.assets import build_warehouse_assets, ensure_manifest, zone_specs
from orchestration.defs.warehouse.sensors import WAREHOUSE_JOB, build_warehouse_sensor

__all__ = ["warehouse_definitions"]


def warehouse_definitions(*, with_warehouse: bool = True) -> dg.Definitions:
    """The zone specs always; the warehouse assets, job and sensor when ``with_warehouse`` and the dbt project parses.

    Parsing the dbt project happens only when its manifest is missing or stale.
    """
    manifest = ensure_manifest() if with_warehouse else None
    if manifest is None:
        return dg.Definitions(assets=zone_specs())
    warehouse = build_warehouse_assets(manifest)
    job = dg.define_asset_job(WAREHOUSE_JOB, selection=dg.AssetSelection.assets(*warehouse))
    return dg.Definitions(assets=[*zone_specs(), *warehouse], jobs=[job], sensors=[build_warehouse_sensor(job)])
