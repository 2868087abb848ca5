"""``landing_sensor``: notice complete deliveries and load just those files.

Each evaluation asks the one planner (:func:`ingestion.planner.plan_landing`,
settings resolved then, not at import) for the complete files (file + ``.ok``
flag) the ledger does not account for yet; the planner records the files
waiting for their flag and the refused ones in the ledger, as for ``zhili
run``. The sensor's cursor adds what the ledger cannot know yet: a file whose
run it already requested. A file is *due* when neither the cursor nor the
ledger knows its bytes under its name: new files, and files whose bytes
changed under the same name. Due files get a partition of their feed and a
run of ``raw/<feed>`` + ``normalised/<feed>``:

* new files of one feed: one run over their range (they are added together,
  so they are contiguous at the end of the feed's partitions);
* a file whose bytes changed under a known name: a run for that partition.

``run_key`` names the files and their md5s, so the same bytes never launch
twice. A file waiting for its flag is not complete and is left alone; it is
due on the first evaluation after the flag arrives. An identical file under a
*new* name is due (its run records it in the ledger as a duplicate of the
first and loads nothing), so the ledger accounts for every delivered file.

The grid register goes first: other feeds are placed in its grids, so while a
grid_registry file is due or its run is in flight, other feeds wait a tick.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from ingestion.feeds import FEED_ORDER, GRID_FEED
from ingestion.landing import LandedFile, file_md5
from ingestion.planner import Due, plan_landing
from orchestration.defs.feeds.assets import normalised_key, partitions_for, raw_key
from orchestration.defs.resources import ZhiliResource

__all__ = ["landing_sensor", "plan_requests", "cursor_md5", "Plan", "FEED_TAG", "RANGE_START", "RANGE_END"]

FEED_TAG = "zhili/feed"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dataclass
class Plan:
    run_requests: list[dg.RunRequest] = field(default_factory=list)
    new_partitions: dict[str, list[str]] = field(default_factory=dict)
    cursor: dict[str, list] = field(default_factory=dict)
    waiting_on_grid: list[str] = field(default_factory=list)

    @property
    def add_requests(self) -> list[dg.AddDynamicPartitionsRequest]:
        return [partitions_for(feed).build_add_request(keys) for feed, keys in self.new_partitions.items() if keys]


def _fingerprint(landed: LandedFile) -> list:
    st = landed.path.stat()
    return [st.st_size, st.st_mtime_ns]


def _run_key(feed: str, due: list[tuple[str, str]]) -> str:
    if len(due) == 1:
        return f"{feed}/{due[0][0]}@{due[0][1]}"
    digest = hashlib.sha1("\n".join(f"{k}@{m}" for k, m in due).encode()).hexdigest()[:16]
    return f"{feed}/{len(due)} files/{digest}"


def _request(feed: str, due: list[tuple[str, str]], *, as_range: bool) -> dg.RunRequest:
    tags = {FEED_TAG: feed}
    selection = [raw_key(feed), normalised_key(feed)]
    if as_range and len(due) > 1:
        tags |= {RANGE_START: due[0][0], RANGE_END: due[-1][0]}
        return dg.RunRequest(run_key=_run_key(feed, due), asset_selection=selection, tags=tags)
    return dg.RunRequest(run_key=_run_key(feed, due), asset_selection=selection, tags=tags, partition_key=due[0][0])


def cursor_md5(cursor: dict[str, list], seen_now: dict[str, list]) -> Callable[[LandedFile], str | None]:
    """The planner's ``md5_of`` for the sensor: None for a file the cursor saw as it is (same size and mtime, or
    the same bytes rewritten), else its bytes' md5; ``seen_now`` gets each file's new cursor entry."""

    def md5_of(landed: LandedFile) -> str | None:
        fp = _fingerprint(landed)
        seen = cursor.get(landed.rel)
        if seen and seen[:2] == fp:
            return None  # same size and mtime as last time: nothing new
        md5 = file_md5(landed.path)
        seen_now[landed.rel] = [*fp, md5]
        return None if seen and seen[2] == md5 else md5  # the same bytes again: nothing to load

    return md5_of


def plan_requests(
    due: dict[str, list[Due]],
    *,
    cursor: dict[str, list],
    seen_now: dict[str, list],
    known_partitions: dict[str, set[str]],
    grid_in_flight: bool = False,
) -> Plan:
    """Which partitions to add and which runs to request for the planner's due files.

    ``cursor`` maps ``feed/folder/file`` to ``[size, mtime_ns, md5]`` as last seen; ``seen_now`` holds the
    entries of the files looked at again this time (:func:`cursor_md5`).
    """
    plan = Plan(cursor=dict(cursor) | seen_now)
    new: dict[str, list[tuple[str, str]]] = {}
    changed: dict[str, list[tuple[str, str]]] = {}
    for feed, files in due.items():
        for d in files:
            bucket = changed if d.key in known_partitions.get(feed, set()) else new
            bucket.setdefault(feed, []).append((d.key, d.md5))
    grid_first = grid_in_flight or bool(new.get(GRID_FEED) or changed.get(GRID_FEED))
    for feed in FEED_ORDER:
        if feed != GRID_FEED and grid_first and (new.get(feed) or changed.get(feed)):
            # placed in the grids the register defines: wait for it, look again next tick
            for key, _ in new.get(feed, []) + changed.get(feed, []):
                plan.waiting_on_grid.append(f"{feed}/{key}")
                plan.cursor.pop(f"{feed}/{key}", None)
                if f"{feed}/{key}" in cursor:
                    plan.cursor[f"{feed}/{key}"] = cursor[f"{feed}/{key}"]
            continue
        if new.get(feed):
            keys = new[feed]  # the scan's order: by folder and name, renamed resends after the files they copy
            plan.new_partitions[feed] = [k for k, _ in keys]
            plan.run_requests.append(_request(feed, keys, as_range=True))
        for one in changed.get(feed, []):
            plan.run_requests.append(_request(feed, [one], as_range=False))
    return plan


@dg.sensor(
    name="landing_sensor",
    minimum_interval_seconds=30,
    asset_selection=dg.AssetSelection.groups(*FEED_ORDER),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Complete deliveries (file + .ok flag) not loaded yet → their partitions and one run per feed.",
)
def landing_sensor(context: dg.SensorEvaluationContext, zhili: ZhiliResource) -> dg.SensorResult:
    settings = zhili.settings()
    cursor = json.loads(context.cursor) if context.cursor else {}
    seen_now: dict[str, list] = {}
    planned = plan_landing(settings.landing, settings.zones, feeds=FEED_ORDER, md5_of=cursor_md5(cursor, seen_now))
    scan = planned.scan
    instance = context.instance
    known = {feed: set(instance.get_dynamic_partitions(partitions_for(feed).name)) for feed in FEED_ORDER}
    in_flight = bool(instance.get_runs(filters=dg.RunsFilter(tags={FEED_TAG: GRID_FEED}, statuses=_IN_FLIGHT), limit=1))
    plan = plan_requests(
        planned.due, cursor=cursor, seen_now=seen_now, known_partitions=known, grid_in_flight=in_flight
    )
    if plan.waiting_on_grid:
        context.log.info(f"{len(plan.waiting_on_grid)} files wait for the grid register to load first")
    if not plan.run_requests:
        return dg.SensorResult(
            skip_reason=f"no new complete files ({len(scan.complete)} complete, {len(scan.waiting)} waiting for a flag)",
            cursor=json.dumps(plan.cursor),
        )
    return dg.SensorResult(
        run_requests=plan.run_requests,
        dynamic_partitions_requests=plan.add_requests,
        cursor=json.dumps(plan.cursor),
    )
