"""``zhili run`` and ``zhili status``: the same asset graph as the UI, run in-process.

``run_pipeline`` records waiting/refused files in the ledger, adds a dynamic
partition for every complete file, and for each feed (grid register first)
with files not yet accounted for materialises ``raw/<feed>`` and
``normalised/<feed>`` over those files in ONE run; then the dbt warehouse
and ``serving/zhili`` once. Runs go to the instance in ``<home>/dagster`` so
``dagster dev`` with ``DAGSTER_HOME=<home>/dagster`` shows them.

A rejected file or a failed GX gate is data, not a failure: the exit code is
0. It is nonzero only when a step itself broke (one line says which).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import warnings
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

import polars as pl

from orchestration.settings import Settings

__all__ = ["run_pipeline", "print_status", "summarise_outcomes", "GATES_FILE"]

Echo = Callable[[str], None]
GATES_FILE = Path("gates") / "last_run.json"
_FINAL = ("loaded", "held", "duplicate", "empty", "rejected")
#: progress is printed by zhili; failures are summarised in one line, not as Dagster log tracebacks
_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def summarise_outcomes(outcomes: Iterable, echo: Echo) -> None:
    """Files by status; per feed records read = normalised + quarantined; rejections, drift."""
    outcomes = list(outcomes)
    by_status = Counter(o["status"] for o in outcomes)
    echo("files: " + (", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "nothing new"))
    per_feed: dict[str, list[int]] = {}
    for o in outcomes:
        if o["status"] not in ("loaded", "held"):
            continue
        t = per_feed.setdefault(o["feed"], [0, 0, 0, 0, 0])
        t[0] += 1
        t[1] += o["records_read"] or 0
        t[2] += o["rows_normalised"] or 0
        t[3] += o["rows_quarantined"] or 0
        t[4] += o["rows_skipped"] or 0
    for feed, (files, read, norm, quar, skip) in sorted(per_feed.items()):
        echo(f"  {feed:<18} {files:>4} files  {read:>9} records = {norm:>9} normalised + {quar:>6} quarantined"
             f"  ({skip} footer/empty rows skipped)")
    unbalanced = [o for o in outcomes if o["status"] in ("loaded", "held") and not o["is_balanced"]]
    if unbalanced:
        echo(f"LEDGER DOES NOT BALANCE for {len(unbalanced)} files: "
             + ", ".join(f"{o['feed']}/{o['folder']}/{o['file']}" for o in unbalanced[:5]))
    for o in outcomes:
        if o["status"] in ("rejected", "refused", "duplicate"):
            echo(f"  {o['status']}: {o['message']}")
    for o in outcomes:
        if o["status"] in ("loaded", "held") and o["is_encoding_switched"]:
            echo(f"  encoding differs from the feed's declared one: {o['feed']}/{o['folder']}/{o['file']} read as {o['encoding']}")
        cols = json.loads(o["unknown_columns"]) if o.get("unknown_columns") else []
        if cols:
            echo(f"  new columns in {o['feed']}/{o['folder']}/{o['file']}: {', '.join(cols)}")


def _due(settings: Settings, feeds: set[str]):
    """Complete files per feed whose bytes the ledger does not account for yet, and the scan."""
    from ingestion.landing import file_md5, scan_landing
    from ingestion.pipeline import read_ledger

    scan = scan_landing(settings.landing)
    ledger = read_ledger(settings.zones).filter(pl.col("status").is_in(_FINAL))
    done = {(f"{fe}/{fo}/{fi}", m) for fe, fo, fi, m in ledger.select("feed", "folder", "file", "file_md5").iter_rows()}
    due: dict[str, list[str]] = {}
    for landed in scan.complete:
        if landed.feed not in feeds:
            continue
        md5 = landed.flag_md5 or file_md5(landed.path)
        if (landed.rel, md5) not in done:
            due.setdefault(landed.feed, []).append(f"{landed.folder}/{landed.name}")
    return scan, due


def _step_seconds(result) -> float:
    total = 0.0
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS" or event.event_type_value == "STEP_FAILURE":
            data = event.event_specific_data
            total += (getattr(data, "duration_ms", None) or 0) / 1000
    return total


def _real_failure(result) -> str | None:
    """The first step failure that is not a blocking GX check (a held file is data, not a failure)."""
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.step_failure_data.error
        if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
            continue
        cause = error.cause if error is not None and error.cause is not None else error
        message = (cause.message if cause else "unknown error").strip().splitlines()
        return f"step {event.step_key} failed: {message[-1] if message else ''}"
    return None


def _check_summary(result) -> dict[str, dict]:
    gates: dict[str, dict] = {}
    for ev in result.get_asset_check_evaluations():
        meta = {k: getattr(v, "value", v) for k, v in ev.metadata.items()}
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


def run_pipeline(settings: Settings, *, feeds: list[str] | None = None, echo: Echo = print) -> int:
    started = time.perf_counter()
    started_at = datetime.now(ZoneInfo("Asia/Shanghai"))  # the ledger's processed_at zone
    echo(f"landing: {settings.landing}")
    echo(f"home:    {settings.home}")
    with warnings.catch_warnings():
        # backfill_policy is a beta parameter; the CLI user cannot act on that warning
        warnings.simplefilter("ignore", category=Warning)
        import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    for name in ("dagster", "dagster.builtin"):  # zhili prints its own progress
        logging.getLogger(name).setLevel(logging.WARNING)

    from ingestion.feeds import FEEDS
    from ingestion.pipeline import ORDER, ensure_zones, read_ledger, scan_outcomes, write_ledger
    from orchestration.defs.feeds.assets import feed_assets, normalised_key, partitions_for, raw_key
    from orchestration.defs.instance import open_instance
    from orchestration.defs.resources import ZhiliResource
    from orchestration.defs.warehouse.assets import build_warehouse_assets, dbt_resource, ensure_manifest, zone_specs

    unknown = sorted(set(feeds or ()) - set(FEEDS))
    if unknown:
        echo(f"zhili run: unknown feed {', '.join(map(repr, unknown))}; expected one of {', '.join(FEEDS)}")
        return 2
    wanted = set(feeds) if feeds else set(FEEDS)
    zones = settings.zones
    ensure_zones(zones)
    scan, due = _due(settings, wanted)
    for outcome in scan_outcomes(scan):
        if outcome.feed in wanted or outcome.feed not in FEEDS:
            write_ledger(zones, outcome)
    instance = open_instance(settings.home)
    resources = {"zhili": ZhiliResource(landing=str(settings.landing), home=str(settings.home), as_of=settings.as_of.isoformat() if settings.as_of else ""), "dbt": dbt_resource()}
    assets: list = [*feed_assets(), *zone_specs()]
    manifest = ensure_manifest()
    warehouse = build_warehouse_assets(manifest) if manifest is not None else []
    assets += warehouse
    setup = time.perf_counter() - started
    dagster_seconds = setup
    gates: dict[str, dict] = {}
    failure: str | None = None
    for feed in ORDER:
        keys = due.get(feed)
        if not keys or feed not in wanted:
            continue
        name = partitions_for(feed).name
        known = instance.get_dynamic_partitions(name)
        instance.add_dynamic_partitions(name, [k for k in keys if k not in set(known)])
        order = {k: i for i, k in enumerate(instance.get_dynamic_partitions(name))}
        ordered = sorted(keys, key=order.__getitem__)
        # one run over the range; keys inside it that were loaded before are quick no-ops
        tags = {"zhili/feed": feed, "zhili/front_door": "cli"}
        if len(ordered) == 1:
            kwargs = {"partition_key": ordered[0]}
        else:
            kwargs = {}
            tags |= {"dagster/asset_partition_range_start": ordered[0], "dagster/asset_partition_range_end": ordered[-1]}
        t0 = time.perf_counter()
        result = dg.materialize(assets, selection=[raw_key(feed), normalised_key(feed)], instance=instance,
                                resources=resources, tags=tags, raise_on_error=False, run_config=_QUIET, **kwargs)
        wall = time.perf_counter() - t0
        dagster_seconds += max(0.0, wall - _step_seconds(result))
        gates |= _check_summary(result)
        gate = gates.get(feed, {})
        verdict = "gate passed" if gate.get("passed", True) else f"GATE FAILED on {gate.get('files_failed')} file(s)"
        echo(f"{feed:<18} {len(keys):>4} new files  {verdict}  ({wall:.1f} s)")
        failure = _real_failure(result)
        if failure:
            break
    published = None
    ran_feeds = any(due.get(feed) for feed in wanted)
    if not failure and warehouse and not ran_feeds and (zones.serving / "zhili.duckdb").exists():
        echo("warehouse: no new files; the serving snapshot is current")
        published = zones.serving / "zhili.duckdb"
    elif not failure and warehouse:
        t0 = time.perf_counter()
        dbt_log = io.StringIO()
        with contextlib.redirect_stdout(dbt_log):  # dagster-dbt echoes every dbt event to stdout
            result = dg.materialize(assets, selection=[a for w in warehouse for a in w.keys], instance=instance,
                                    resources=resources, tags={"zhili/warehouse": "1", "zhili/front_door": "cli"},
                                    raise_on_error=False, run_config=_QUIET)
        wall = time.perf_counter() - t0
        log_path = settings.home / "logs" / "dbt_last_run.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(dbt_log.getvalue())
        dagster_seconds += max(0.0, wall - _step_seconds(result))
        failure = _real_failure(result)
        echo(f"{'warehouse':<18} dbt build + publish {'FAILED' if failure or not result.success else 'done'}  ({wall:.1f} s; dbt log: {log_path})")
        if result.success:
            published = zones.serving / "zhili.duckdb"
    elif not warehouse:
        echo("warehouse: no dbt manifest (dbt_project/ missing or does not parse); skipped")

    ledger = read_ledger(zones)
    new_rows = ledger.filter(pl.col("processed_at") >= started_at) if not ledger.is_empty() else ledger
    echo("")
    summarise_outcomes(new_rows.to_dicts(), echo)
    failed_gates = {f: g for f, g in gates.items() if not g["passed"]}
    for feed, gate in failed_gates.items():
        echo(f"  gate gx_{feed} FAILED; held out of the normalised zone (report: {gate['validation_report']}):")
        for held in new_rows.filter((pl.col("status") == "held") & (pl.col("feed") == feed)).iter_rows(named=True):
            echo(f"    {held['message']}")
    _write_gates(settings, gates, started_at)
    if published:
        echo(f"serving snapshot: {published}")
        echo(f"  query: duckdb -readonly {published} \"select * from marts.dim_grid limit 5\"")
        echo(f"  python: duckdb.connect('{published}', read_only=True)")
        echo(f"  superset: duckdb:///{published}?access_mode=read_only")
    total = time.perf_counter() - started
    gx = sum(g.get("gx_seconds") or 0 for g in gates.values())
    echo(f"done in {total:.1f} s (Dagster overhead {dagster_seconds:.1f} s, GX {gx:.1f} s); runs are in {settings.home / 'dagster'}")
    if failure:
        echo(f"zhili run: {failure}")
        return 1
    return 0


def _write_gates(settings: Settings, gates: dict[str, dict], started_at: datetime) -> None:
    path = settings.home / GATES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"run_started_at": started_at.isoformat(), "gates": gates}, ensure_ascii=False, indent=1))
    tmp.replace(path)


def print_status(settings: Settings, *, echo: Echo = print) -> int:
    from ingestion.pipeline import read_ledger

    ledger = read_ledger(settings.zones)
    if ledger.is_empty():
        echo(f"nothing loaded yet under {settings.home}")
        return 0
    table = (
        ledger.group_by("feed", "status")
        .agg(pl.len().alias("files"), pl.col("records_read").sum(), pl.col("rows_normalised").sum(), pl.col("rows_quarantined").sum())
        .sort("feed", "status")
    )
    with pl.Config(tbl_rows=100, tbl_hide_dataframe_shape=True, tbl_formatting="ASCII_MARKDOWN"):
        echo(str(table))
    path = settings.home / GATES_FILE
    if not path.exists():
        echo("no gate results yet (zhili run writes them)")
        return 0
    last = json.loads(path.read_text())
    echo(f"gates of the last run ({last['run_started_at']}):")
    if not last["gates"]:
        echo("  no files needed a gate")
    for feed, gate in sorted(last["gates"].items()):
        state = "passed" if gate["passed"] else "FAILED"
        echo(f"  gx_{feed:<18} {state}  {gate.get('files_validated')} files validated, {gate.get('files_failed')} held  ({gate.get('gx_seconds')} s)")
        if not gate["passed"] and gate.get("held_files"):
            for line in str(gate["held_files"]).splitlines():
                echo(f"    {line.lstrip('* ')}")
    return 0
