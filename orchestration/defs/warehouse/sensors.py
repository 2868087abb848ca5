"""``warehouse_sensor``: rebuild the warehouse and publish after new normalised data.

It watches the materialisations of every ``normalised/<feed>`` asset and,
when any is newer than the cursor and no warehouse run is in flight, requests
one run of the warehouse job (dbt build + serving snapshot). Files held by a
failed gate are not in the normalised zone, so the build never reads them.
"""

import dagster as dg

from ingestion.feeds import FEEDS
from orchestration.defs.feeds.assets import normalised_key

__all__ = ["WAREHOUSE_JOB", "WAREHOUSE_TAG", "build_warehouse_sensor", "latest_normalised_storage_id"]

WAREHOUSE_JOB = "warehouse_job"
WAREHOUSE_TAG = "zhili/warehouse"
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def latest_normalised_storage_id(instance: dg.DagsterInstance) -> int:
    """The event-log id of the newest materialisation of any normalised feed asset (0 when none)."""
    latest = 0
    for slug in FEEDS:
        records = instance.fetch_materializations(normalised_key(slug), limit=1).records
        if records:
            latest = max(latest, records[0].storage_id)
    return latest


def build_warehouse_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        name="warehouse_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="New normalised data → one dbt build + serving snapshot (never two at once).",
    )
    def warehouse_sensor(context: dg.SensorEvaluationContext):
        latest = latest_normalised_storage_id(context.instance)
        seen = int(context.cursor or 0)
        if latest <= seen:
            return dg.SkipReason("no new normalised data since the last warehouse run")
        if context.instance.get_runs(filters=dg.RunsFilter(tags={WAREHOUSE_TAG: "1"}, statuses=_IN_FLIGHT), limit=1):
            return dg.SkipReason("a warehouse run is in flight; looking again next tick")
        context.update_cursor(str(latest))
        return dg.RunRequest(run_key=f"warehouse@{latest}", tags={WAREHOUSE_TAG: "1"})

    return warehouse_sensor
