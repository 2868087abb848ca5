"""``landing_sensor``: notice complete deliveries and load just those files.

Each evaluation scans the landing (settings resolved then, not at import) for
complete files (file + ``.ok`` flag). A file is *due* when neither the
sensor's cursor nor the ledger knows its bytes under its name: new files, and
files whose bytes changed under the same name. Due files get a partition of
their feed and a run of ``raw/<feed>`` + ``normalised/<feed>``:

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
from dataclasses import dataclass, field

import dagster as dg
import polars as pl

from ingestion.landing import LandedFile, file_md5, scan_landing
from ingestion.pipeline import ORDER, loaded_files, read_ledger
from orchestration.defs.feeds.assets import GRID_FEED, normalised_key, partition_key, partitions_for, raw_key
from orchestration.defs.resources import ZhiliResource

__all__ = ["landing_sensor", "plan_requests", "Plan", "FEED_TAG", "RANGE_START", "RANGE_END"]

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


def plan_requests(
    complete: list[LandedFile],
    *,
    cursor: dict[str, list],
    known_partitions: dict[str, set[str]],
    ledger_done: set[tuple[str, str]],
    grid_in_flight: bool = False,
) -> Plan:
    """Which partitions to add and which runs to request for the complete files of the landing.

    ``cursor`` maps ``feed/folder/file`` to ``[size, mtime_ns, md5]`` as last seen;
    ``ledger_done`` holds ``(feed/folder/file, md5)`` of every file the ledger already accounts for.
    """
    plan = Plan(cursor=dict(cursor))
    new: dict[str, list[tuple[str, str]]] = {}
    changed: dict[str, list[tuple[str, str]]] = {}
    for landed in complete:
        fp = _fingerprint(landed)
        seen = cursor.get(landed.rel)
        if seen and seen[:2] == fp:
            continue  # same size and mtime as last time: nothing new
        md5 = seen[2] if seen and seen[:2] == fp else file_md5(landed.path)
        entry = [*fp, md5]
        if (seen and seen[2] == md5) or (landed.rel, md5) in ledger_done:
            plan.cursor[landed.rel] = entry  # the same bytes again: nothing to load
            continue
        key = partition_key(landed)
        bucket = changed if key in known_partitions.get(landed.feed, set()) else new
        bucket.setdefault(landed.feed, []).append((key, md5))
        plan.cursor[landed.rel] = entry
    grid_first = grid_in_flight or bool(new.get(GRID_FEED) or changed.get(GRID_FEED))
    for feed in ORDER:
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
        for due in changed.get(feed, []):
            plan.run_requests.append(_request(feed, [due], as_range=False))
    return plan


def _ledger_done(zhili_settings) -> set[tuple[str, str]]:
    ledger = read_ledger(zhili_settings.zones).filter(pl.col("file_md5").is_not_null())
    return {(f"{fe}/{fo}/{fi}", m) for fe, fo, fi, m in ledger.select("feed", "folder", "file", "file_md5").iter_rows()}


@dg.sensor(
    name="landing_sensor",
    minimum_interval_seconds=30,
    asset_selection=dg.AssetSelection.groups(*ORDER),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Complete deliveries (file + .ok flag) not loaded yet → their partitions and one run per feed.",
)
def landing_sensor(context: dg.SensorEvaluationContext, zhili: ZhiliResource) -> dg.SensorResult:
    settings = zhili.settings()
    scan = scan_landing(settings.landing, loaded=loaded_files(settings.zones))
    cursor = json.loads(context.cursor) if context.cursor else {}
    instance = context.instance
    known = {feed: set(instance.get_dynamic_partitions(partitions_for(feed).name)) for feed in ORDER}
    in_flight = bool(instance.get_runs(filters=dg.RunsFilter(tags={FEED_TAG: GRID_FEED}, statuses=_IN_FLIGHT), limit=1))
    plan = plan_requests(
        scan.complete, cursor=cursor, known_partitions=known, ledger_done=_ledger_done(settings), grid_in_flight=in_flight
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
