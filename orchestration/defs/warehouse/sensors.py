"""``warehouse_sensor``: rebuild the warehouse and publish after new normalised data.

It watches the materialisations of every ``normalised/<feed>`` asset and,
when any is newer than the cursor and no warehouse run is in flight, requests
one run of the warehouse job (dbt build + serving snapshot). Files held by a
failed gate are not in the normalised zone, so the build never reads them.

The cursor alone does not say what is built: ``zhili run`` builds and
publishes in the same Dagster instance without moving it. So before asking
for a run the sensor reads the home's own record of the serving snapshot
(``serving/snapshot.json``, see :mod:`.publish`): when the snapshot already
holds every loaded file and was built after the newest normalised
materialisation, it moves the cursor on and skips -- opening the UI on a home
the CLI just brought up to date starts nothing.
"""

from __future__ import annotations

import dagster as dg

from ingestion.feeds import FEEDS
from orchestration.defs.feeds.assets import normalised_key
from orchestration.defs.resources import ZhiliResource

__all__ = [
    "WAREHOUSE_JOB",
    "WAREHOUSE_TAG",
    "build_warehouse_sensor",
    "latest_normalised_storage_id",
    "serving_staleness",
]

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


def serving_staleness(settings, instance: dg.DagsterInstance | None, *, check_as_of: bool = True) -> str | None:
    """Why ``<home>/serving/zhili.duckdb`` is not what a warehouse build now would publish; None when current.

    Reads the ledger and the snapshot's record, never the DuckDB file. ``check_as_of``: the as-of date a
    build would use (``--as-of`` / ``ZHILI_AS_OF_DATE``, else the latest delivery) must be the snapshot's.
    """
    from orchestration.defs.warehouse.publish import current_record, recorded_staleness

    record = current_record(settings.zones)
    latest, known = None, False
    if instance is not None and record is not None and record.run_id:
        latest, known = latest_normalised_storage_id(instance), instance.has_run(record.run_id)
    return recorded_staleness(settings, record, latest_normalised=latest, run_known=known, check_as_of=check_as_of)


def build_warehouse_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        name="warehouse_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="New normalised data → one dbt build + serving snapshot (never two at once); "
        "nothing when the serving snapshot already holds it (e.g. zhili run built it).",
    )
    def warehouse_sensor(context: dg.SensorEvaluationContext, zhili: ZhiliResource):
        latest = latest_normalised_storage_id(context.instance)
        seen = int(context.cursor or 0)
        if latest <= seen:
            return dg.SkipReason("no new normalised data since the last warehouse run")
        if context.instance.get_runs(filters=dg.RunsFilter(tags={WAREHOUSE_TAG: "1"}, statuses=_IN_FLIGHT), limit=1):
            return dg.SkipReason("a warehouse run is in flight; looking again next tick")
        # the sensor reacts to new data, not to dates: a snapshot zhili run built --as-of another day stays
        why = serving_staleness(zhili.settings(), context.instance, check_as_of=False)
        context.update_cursor(str(latest))
        if why is None:
            return dg.SkipReason(
                "the serving snapshot already holds every normalised file (built by zhili run "
                "or an earlier warehouse run)"
            )
        return dg.RunRequest(run_key=f"warehouse@{latest}", tags={WAREHOUSE_TAG: "1"})

    return warehouse_sensor
