"""``zhili run`` in-process: the same asset graph as the UI, materialised in this order.

1. the landing is planned (:func:`_due`): waiting and refused files go to the ledger, complete files
   the ledger does not account for yet become dynamic partitions of their feed;
2. per feed, grid register first (``ingestion.feeds.FEED_ORDER``): ``raw/<feed>`` and
   ``normalised/<feed>`` (with its blocking GX check ``gx_<feed>``) over that feed's due files in
   ONE run, job ``zhili_run_<feed>`` (:func:`_load_feed`);
3. once, unless the serving snapshot is current: the warehouse, i.e. person linkage, every dbt
   model and ``serving/zhili`` (the published snapshot), job ``zhili_run_warehouse``
   (:func:`_build_warehouse`);
4. the summary (:mod:`orchestration.summary`) and the gates record ``zhili status`` reads.

Runs go to the instance in ``<home>/dagster`` (:mod:`orchestration.instance`) so ``dagster dev``
with ``DAGSTER_HOME=<home>/dagster`` shows them; one ``zhili run`` per home holds the run lock
(:mod:`orchestration.runlock`) throughout.

A rejected file or a failed GX gate is data, not a failure: the exit code is 0. It is nonzero only
when a step itself broke (one line says which, :func:`orchestration.errors.step_failure`): 1, or 3
when the step could not get DuckDB's lock on a file another process holds.

Progress (files loaded per feed, then linkage -> dbt build -> publish) goes to an optional
``progress`` display fed from the Dagster log records of the in-process runs
(:mod:`orchestration.progress`). This module never imports the CLI: the CLI validates what the user
passed (paths, ``--feed``, the key) before it calls :func:`run_pipeline`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

from ingestion.zones import write_text_atomic
from orchestration.errors import interrupted, interrupts_seen, step_failure
from orchestration.progress import NoProgress, RunWatch, feed_listener, warehouse_listener, watching
from orchestration.runlock import CLI_TAG, cli_run_lock, reap_dead_cli_runs
from orchestration.settings import Settings
from orchestration.summary import Echo, as_of_text, summarise_outcomes, write_gates

__all__ = ["run_pipeline", "CLI_JOB"]

#: the job name of zhili run's runs in the UI: ``zhili_run_<feed>`` per feed, ``zhili_run_warehouse``
CLI_JOB = "zhili_run"
#: progress is printed by zhili; failures are summarised in one line, not as Dagster log tracebacks
_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
#: dbt's own output of the last warehouse build, under ``Zones.logs``
DBT_LOG = "dbt_last_run.log"


def run_pipeline(
    settings: Settings, *, feeds: list[str] | None = None, echo: Echo = print, warn: Echo | None = None, progress=None
) -> int:
    """Load every complete file not loaded yet, then build and publish the warehouse; the exit code.

    ``feeds`` are feed slugs (the CLI refuses any other); None means every feed. ``echo`` gets the
    summary lines, ``warn`` (default ``echo``) the one line saying why a run failed, ``progress``
    (a :class:`orchestration.progress.Progress`) the counts as they move. One ``zhili run`` per
    home at a time: a second one raises :class:`orchestration.runlock.RunInProgress`.
    """
    with cli_run_lock(settings.home):
        return _run_locked(settings, feeds=feeds, echo=echo, warn=warn, progress=progress)


def _due(settings: Settings, feeds: set[str]):
    """The one planner's plan (:func:`ingestion.planner.plan_landing`): it records the waiting and refused
    files in the ledger; the due files' partition keys per feed, in load order (grid register first)."""
    from ingestion.planner import plan_landing

    plan = plan_landing(settings.landing, settings.zones, feeds=feeds)
    return {feed: plan.keys(feed) for feed in plan.due}


@dataclass
class _Session:
    """What every in-process run of one ``zhili run`` shares."""

    dg: object
    instance: object
    assets: list
    resources: dict
    watch: RunWatch
    progress: object
    echo: Echo
    #: wall time not spent inside steps (set-up, Dagster's own work), reported at the end
    dagster_seconds: float = 0.0

    def materialize(self, job: str, selection: list, *, tags: dict, partition_key: str | None = None):
        """``dg.materialize`` under a job name the UI shows (``zhili_run_<feed>``, ``zhili_run_warehouse``) instead
        of ``__ephemeral_asset_job__``; and the Ctrl-C Dagster swallowed is given back, so ``zhili run`` stops
        (exit 130) instead of reporting a failed step and carrying on with the next feed and the summary."""
        dg = self.dg
        defs = dg.Definitions(
            jobs=[dg.define_asset_job(name=job, selection=selection)], assets=self.assets, resources=self.resources
        )
        with watching(self.instance, self.watch), interrupts_seen() as seen:
            result = defs.resolve_job_def(job).execute_in_process(
                partition_key=partition_key, instance=self.instance, tags=tags, raise_on_error=False, run_config=_QUIET
            )
        # a Ctrl-C Dagster captured while writing events between steps and then forgot counts as well
        if interrupted(result) or seen():
            raise KeyboardInterrupt
        return result

    def count_overhead(self, wall: float, result) -> None:
        self.dagster_seconds += max(0.0, wall - _step_seconds(result))


def _start_dagster():
    """Dagster, imported quietly: zhili prints its own progress and cannot act on Dagster's warnings."""
    with warnings.catch_warnings():
        # backfill_policy is a beta parameter; the CLI user cannot act on that warning
        warnings.simplefilter("ignore", category=Warning)
        import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    for name in ("dagster", "dagster.builtin"):  # zhili prints its own progress
        logging.getLogger(name).setLevel(logging.WARNING)
    return dg


def _run_locked(settings: Settings, *, feeds: list[str] | None, echo: Echo, warn: Echo | None, progress) -> int:
    warn = warn or echo
    progress = progress or NoProgress()
    started = time.perf_counter()
    started_at = datetime.now(ZoneInfo("Asia/Shanghai"))  # the ledger's processed_at zone
    echo(f"landing: {settings.landing}")
    echo(f"home:    {settings.home}")
    progress.stage("starting: Dagster, dbt manifest", 2, "steps")
    from ingestion.feeds import FEEDS
    from ingestion.versions import adopt_version_records
    from ingestion.zones import ensure_zones

    wanted = set(feeds) if feeds else set(FEEDS)
    zones = settings.zones
    ensure_zones(zones)
    adopt_version_records(zones)  # a home from before the register's person records were one per version
    due = _due(settings, wanted)
    if not due and _current_without_dagster(settings):
        # a day with no new file: Dagster's import and instance are most of what such a run costs, and there
        # is nothing for it to do
        progress.end()
        echo(f"warehouse: no new files; the serving snapshot (as of {as_of_text(zones)}) is current")
        return _finish(settings, echo, warn, started, started_at, {}, None, zones.serving_db, 0.0)
    dg = _start_dagster()
    from orchestration.instance import open_instance

    progress.update(1)
    instance = open_instance(settings.home)
    try:
        return _run_dagster(settings, dg, instance, due, echo, warn, progress, started, started_at)
    finally:
        instance.dispose()  # closes the event log's kept connections (orchestration.event_log)


def _run_dagster(settings: Settings, dg, instance, due, echo: Echo, warn: Echo, progress, started, started_at) -> int:
    """The feed runs and the warehouse run of one ``zhili run`` on ``instance``: the exit code."""
    from ingestion.ledger import LOADED, read_ledger
    from orchestration.defs.feeds.assets import feed_assets
    from orchestration.defs.resources import ZhiliResource
    from orchestration.defs.warehouse.assets import build_warehouse_assets, dbt_resource, ensure_manifest, zone_specs

    zones = settings.zones
    reaped = reap_dead_cli_runs(instance)
    if reaped:
        echo(
            f"{len(reaped)} run(s) of an earlier zhili run that was killed marked failed; the warehouse pool is free again"
        )
    # the assets zhili run materialises: per feed raw/<feed> -> normalised/<feed> (+ gx_<feed>); the zones dbt
    # reads as sources; the warehouse (linkage, the dbt models, serving/zhili) when dbt_project/ parses
    resources = {
        "zhili": ZhiliResource(
            landing=str(settings.landing),
            home=str(settings.home),
            as_of=settings.as_of.isoformat() if settings.as_of else "",
            engine=settings.engine,
        ),
        "dbt": dbt_resource(),
    }
    assets: list = [*feed_assets(), *zone_specs()]
    manifest = ensure_manifest()
    warehouse = build_warehouse_assets(manifest) if manifest is not None else []
    assets += warehouse
    session = _Session(
        dg=dg, instance=instance, assets=assets, resources=resources, watch=RunWatch(), progress=progress, echo=echo
    )
    progress.update(2)
    progress.end()
    session.dagster_seconds = time.perf_counter() - started

    gates: dict[str, dict] = {}
    failure: tuple[str, int] | None = None
    for feed, keys in due.items():
        feed_gates, failure = _load_feed(session, settings, feed, keys)
        gates |= feed_gates
        if failure:
            break

    published = None
    ran_feeds = bool(due)
    nothing_loaded = read_ledger(zones).filter(pl.col("status").is_in(LOADED)).is_empty()
    if not failure and warehouse:
        published, failure = _build_warehouse(
            session, settings, warehouse, ran_feeds=ran_feeds, nothing_loaded=nothing_loaded
        )
    elif not warehouse:
        echo("warehouse: no dbt manifest (dbt_project/ missing or does not parse); skipped")
    return _finish(settings, echo, warn, started, started_at, gates, failure, published, session.dagster_seconds)


def _current_without_dagster(settings: Settings) -> bool:
    """The serving snapshot is current as far as its record, the ledger and the Dagster run storage tell,
    read without starting Dagster: no file loaded since, the same as-of date and linkage model, and no run
    since the one that built it (so no materialisation it did not see)."""
    from orchestration.defs.warehouse.publish import current_record, no_run_since, recorded_staleness

    record = current_record(settings.zones)
    if record is None or not no_run_since(settings.zones, record.run_id):
        return False
    return recorded_staleness(settings, record) is None


def _finish(settings, echo, warn, started, started_at, gates, failure, published, dagster_seconds) -> int:
    """The run's summary (new ledger rows, failed gates, the snapshot, the times) and its exit code."""
    from ingestion.ledger import read_ledger

    zones = settings.zones
    ledger = read_ledger(zones)
    new_rows = ledger.filter(pl.col("processed_at") >= started_at) if not ledger.is_empty() else ledger
    echo("")
    summarise_outcomes(new_rows.to_dicts(), echo)
    failed_gates = {f: g for f, g in gates.items() if not g["passed"]}
    for feed, gate in failed_gates.items():
        echo(f"  gate gx_{feed} FAILED; held out of the normalised zone (report: {gate['validation_report']}):")
        for held in new_rows.filter((pl.col("status") == "held") & (pl.col("feed") == feed)).iter_rows(named=True):
            echo(f"    {held['message']}")
    write_gates(zones, gates, started_at)
    if published:
        echo(f"serving snapshot: {published} (as of {as_of_text(zones)})")
        echo(f'  query: zhili sql --home {settings.home} "select * from marts.dim_grid limit 5"')
        echo(f"  python: duckdb.connect('{published}', read_only=True)")
        echo(f"  superset: duckdb:///{published}?access_mode=read_only")
    total = time.perf_counter() - started
    gx = sum(g.get("gx_seconds") or 0 for g in gates.values())
    echo(
        f"done in {total:.1f} s (Dagster overhead {dagster_seconds:.1f} s, GX {gx:.1f} s); runs are in {zones.dagster}"
    )
    if failure:
        warn(f"zhili run: {failure[0]}")
        return failure[1]
    return 0


def _load_feed(
    session: _Session, settings: Settings, feed: str, keys: list[str]
) -> tuple[dict[str, dict], tuple[str, int] | None]:
    """``raw/<feed>`` and ``normalised/<feed>`` over the due files ``keys`` in one run: its gates, and a failure."""
    from orchestration.defs.feeds.assets import normalised_key, partitions_for, raw_key
    from orchestration.defs.feeds.sensors import FEED_TAG, RANGE_END, RANGE_START

    instance, progress = session.instance, session.progress
    name = partitions_for(feed).name
    known = instance.get_dynamic_partitions(name)
    instance.add_dynamic_partitions(name, [k for k in keys if k not in set(known)])
    order = {k: i for i, k in enumerate(instance.get_dynamic_partitions(name))}
    ordered = sorted(keys, key=order.__getitem__)
    # one run over the range; keys inside it that were loaded before are quick no-ops
    tags = {FEED_TAG: feed, CLI_TAG: "cli"}
    partition_key = None
    if len(ordered) == 1:
        partition_key = ordered[0]
    else:
        tags |= {RANGE_START: ordered[0], RANGE_END: ordered[-1]}
    t0 = time.perf_counter()
    progress.stage(feed, len(keys), "files loaded")
    session.watch.listener = feed_listener(progress, feed)
    result = session.materialize(
        f"{CLI_JOB}_{feed}", [raw_key(feed), normalised_key(feed)], tags=tags, partition_key=partition_key
    )
    progress.update(len(keys) if result.success else None)
    progress.end()
    wall = time.perf_counter() - t0
    session.count_overhead(wall, result)
    gates = _check_summary(result)
    gate = gates.get(feed, {})
    verdict = "gate passed" if gate.get("passed", True) else f"GATE FAILED on {gate.get('files_failed')} file(s)"
    session.echo(f"{feed:<18} {len(keys):>4} new files  {verdict}  ({wall:.1f} s)")
    return gates, step_failure(result, settings.home)


def _build_warehouse(session: _Session, settings: Settings, warehouse: list, *, ran_feeds: bool, nothing_loaded: bool):
    """Linkage, the dbt build and ``serving/zhili`` in one run, unless the snapshot is current or nothing is loaded.

    Returns the serving snapshot's path (None when none was published) and a failure.
    """
    from orchestration.defs.warehouse.sensors import serving_staleness

    echo, progress, zones = session.echo, session.progress, settings.zones
    # what the snapshot is (its as-of date, its files) is recorded beside it: no need to open it, so a reader
    # holding it, even read-write, cannot make this check fail and trigger a rebuild
    stale = serving_staleness(settings, session.instance) if not ran_feeds else "new files"
    if stale is None:
        echo(f"warehouse: no new files; the serving snapshot (as of {as_of_text(zones)}) is current")
        return zones.serving_db, None
    if nothing_loaded:
        # a first day with nothing delivered: there is nothing to link, build or publish yet
        echo("warehouse: nothing loaded yet; no warehouse built and no snapshot published")
        return None, None
    if not ran_feeds:
        echo(f"warehouse: rebuilding: {stale}")
    t0 = time.perf_counter()
    dbt_log = io.StringIO()
    models = sum(len(w.keys) for w in warehouse) - 1  # the serving snapshot is the publish step
    progress.stage("warehouse: linkage", 3, "steps")
    session.watch.listener = warehouse_listener(progress, models)
    with contextlib.redirect_stdout(dbt_log):  # dagster-dbt echoes dbt events
        result = session.materialize(
            f"{CLI_JOB}_warehouse",
            [a for w in warehouse for a in w.keys],
            tags={"zhili/warehouse": "1", CLI_TAG: "cli"},
        )
    progress.update(3 if result.success else None)
    progress.end()
    wall = time.perf_counter() - t0
    log_path = zones.logs / DBT_LOG
    write_text_atomic(log_path, dbt_log.getvalue())
    session.count_overhead(wall, result)
    failure = step_failure(result, settings.home, dbt_log.getvalue())
    echo(
        f"{'warehouse':<18} dbt build + publish {'FAILED' if failure or not result.success else 'done'}  ({wall:.1f} s; dbt log: {log_path})"
    )
    if result.success:
        echo(_publish_summary(result))
    return (zones.serving_db if result.success else None), failure


def _publish_summary(result) -> str:
    """What the publish wrote (tables whose content changed) and reused, from its materialisation: counts and names."""
    from orchestration.defs.warehouse.assets import SERVING_KEY
    from orchestration.lib.labels import field_of

    for event in result.get_asset_materialization_events():
        if event.asset_key != SERVING_KEY:
            continue
        meta = {field_of(k): getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
        written = list(meta.get("written") or [])
        names = f": {', '.join(written)}" if written else ""
        parts = meta.get("parts_written") or 0
        in_parts = f" ({parts} part(s) of the tables published in parts)" if parts else ""
        return (
            f"{'publish':<18} {len(written)} table(s) written{names}{in_parts}; "
            f"{meta.get('tables_reused', 0)} reused unchanged"
        )
    return f"{'publish':<18} not recorded"


def _step_seconds(result) -> float:
    total = 0.0
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS" or event.event_type_value == "STEP_FAILURE":
            data = event.event_specific_data
            total += (getattr(data, "duration_ms", None) or 0) / 1000
    return total


def _check_summary(result) -> dict[str, dict]:
    """The GX gates a feed run evaluated, by feed, in the fields ``zhili status`` shows."""
    from orchestration.lib.labels import field_of

    gates: dict[str, dict] = {}
    for ev in result.get_asset_check_evaluations():
        meta = {field_of(k): getattr(v, "value", v) for k, v in ev.metadata.items()}
        if not ev.check_name.startswith("gx_"):
            continue
        gates[ev.check_name.removeprefix("gx_")] = {
            "passed": ev.passed,
            "files_validated": meta.get("files_validated"),
            "files_failed": meta.get("files_failed"),
            "gx_seconds": meta.get("gx_seconds"),
            "held_files": meta.get("held_files"),
            "validation_report": str(meta.get("validation_report") or ""),
        }
    return gates
