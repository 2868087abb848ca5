"""The Zhili code location: ``dagster dev -m orchestration.definitions``.

Per feed (group = feed slug): ``raw/<feed>`` → ``normalised/<feed>`` with the
blocking GX check ``gx_<feed>``, partitioned by delivered file; then the dbt
warehouse and ``serving/zhili``. Settings (landing, home) are resolved by the
``zhili`` resource when something runs, from ``ZHILI_LANDING``/``ZHILI_HOME``.
Loading this module reads no environment; it only parses the dbt project when
its manifest is missing or stale.
"""

import dagster as dg

from orchestration.defs.feeds.assets import feed_assets
from orchestration.defs.feeds.sensors import landing_sensor
from orchestration.defs.resources import ZhiliResource
from orchestration.defs.warehouse.assets import (
    build_warehouse_assets,
    dbt_resource,
    ensure_manifest,
    zone_specs,
)
from orchestration.defs.warehouse.sensors import WAREHOUSE_JOB, build_warehouse_sensor

__all__ = ["build_defs", "defs"]


def build_defs(zhili: ZhiliResource | None = None, *, with_warehouse: bool = True) -> dg.Definitions:
    assets: list = [*feed_assets(), *zone_specs()]
    sensors: list = [landing_sensor]
    jobs: list = []
    manifest = ensure_manifest() if with_warehouse else None
    if manifest is not None:
        warehouse = build_warehouse_assets(manifest)
        assets += warehouse
        job = dg.define_asset_job(WAREHOUSE_JOB, selection=dg.AssetSelection.assets(*warehouse))
        jobs.append(job)
        sensors.append(build_warehouse_sensor(job))
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        sensors=sensors,
        resources={"zhili": zhili or ZhiliResource(), "dbt": dbt_resource()},
    )


defs = build_defs()
