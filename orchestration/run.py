"""``zhili run`` and ``zhili status``: the same asset graph as the UI, run in-process.

``run_pipeline`` records waiting/refused files in the ledger, adds a dynamic
partition for every complete file, and for each feed (grid register first)
with files not yet accounted for materialises ``raw/<feed>`` and
``normalised/<feed>`` over those files in ONE run; then the dbt warehouse
and ``serving/zhili`` once. Runs go to the instance in ``<home>/dagster`` so
``dagster dev`` with ``DAGSTER_HOME=<home>/dagster`` shows them.

A rejected file or a failed GX gate is data, not a failure: the exit code is
0. It is nonzero only when a step itself broke (one line says which): 1, or 3
when the step could not get DuckDB's lock on a file another process holds.

Progress (files loaded per feed, then linkage -> dbt build -> publish) goes to
an optional ``progress`` display fed from the Dagster log records of the
in-process runs; nothing of a record is kept but counts and step names.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import time
import warnings
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

import polars as pl

from orchestration.settings import Settings

__all__ = ["run_pipeline", "print_status", "summarise_outcomes", "GATES_FILE", "EXIT_FAILED", "EXIT_BUSY"]

Echo = Callable[[str], None]
EXIT_FAILED, EXIT_BUSY = 1, 3
GATES_FILE = Path("gates") / "last_run.json"
_FINAL = ("loaded", "held", "duplicate", "empty", "rejected")
#: the job name of zhili run's runs in the UI: ``zhili_run_<feed>`` per feed, ``zhili_run_warehouse``
CLI_JOB = "zhili_run"
#: files a summary line of repeated drift names before "and N more"
_NAMED = 3
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
    # drift repeats file after file (a feed that added a column adds it to every delivery since): one line per
    # feed and kind, naming the first files; the ledger (ops.ops_ingest_ledger) names every one
    drift: dict[tuple[str, str], list[str]] = {}
    for o in outcomes:
        where = f"{o['feed']}/{o['folder']}/{o['file']}"
        if o["status"] in ("loaded", "held") and o["is_encoding_switched"]:
            drift.setdefault((o["feed"], f"encoding differs from the feed's declared one: read as {o['encoding']}"), []).append(where)
        cols = json.loads(o["unknown_columns"]) if o.get("unknown_columns") else []
        if cols:
            drift.setdefault((o["feed"], f"new columns: {', '.join(cols)}"), []).append(where)
    for (_, what), files in drift.items():
        files.sort()
        more = f" and {len(files) - _NAMED} more" if len(files) > _NAMED else ""
        echo(f"  {what} in {len(files)} file{'s' if len(files) > 1 else ''}: {', '.join(files[:_NAMED])}{more}")


def _due(settings: Settings, feeds: set[str]):
    """Complete files per feed whose bytes the ledger does not account for yet, and the scan (the one planner's;
    it records the waiting and refused files in the ledger)."""
    from ingestion.planner import plan_landing

    plan = plan_landing(settings.landing, settings.zones, feeds=feeds)
    return plan.scan, {feed: plan.keys(feed) for feed in plan.due}


def _step_seconds(result) -> float:
    total = 0.0
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS" or event.event_type_value == "STEP_FAILURE":
            data = event.event_specific_data
            total += (getattr(data, "duration_ms", None) or 0) / 1000
    return total


def _error_text(error) -> str:
    """Every message of a serialised error and its causes/contexts (where a DuckDB lock error hides)."""
    parts, seen = [], 0
    while error is not None and seen < 10:
        parts.append(error.message or "")
        error, seen = error.cause or getattr(error, "context", None), seen + 1
    return "\n".join(parts)


def _lock_in(text: str, home: Path) -> str | None:
    """DuckDB's lock conflict in ``text`` (also as dbt prints it) as one sentence, else None."""
    from orchestration.cli import lock_sentence

    sentence = lock_sentence(text)
    if sentence is None and re.search(r"Could not set lock on file", text):
        sentence = (f"a DuckDB file under {home} is locked by another process; close that process or wait for "
                    "it to finish, then run again")
    return sentence


def _real_failure(result, home: Path | None = None, output: str = "") -> tuple[str, int] | None:
    """The first step failure that is not a blocking GX check (a held file is data, not a failure).

    One line and an exit code: 3 when the step could not get a DuckDB lock (another process holds the
    warehouse), else 1. ``output`` is what the run printed (dbt's events), searched for the lock too.
    """
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.step_failure_data.error
        if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
            continue
        lock = _lock_in(_error_text(error) + "\n" + output, home or Path("."))
        if lock:
            return f"step {event.step_key} failed: {lock}", EXIT_BUSY
        cause = error.cause if error is not None and error.cause is not None else error
        return f"step {event.step_key} failed: {_one_line(cause.message if cause else 'unknown error')}", EXIT_FAILED
    return None


#: how Dagster reports a Ctrl-C inside a step or a run (it catches the KeyboardInterrupt and fails the run)
_INTERRUPTS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}


def _interrupted(result) -> bool:
    """Whether an in-process run ended because of SIGINT (Ctrl-C), not because a step broke."""
    for event in result.all_events:
        data = event.event_specific_data
        error = getattr(data, "error", None)
        if error is not None and error.cls_name in _INTERRUPTS:
            return True
    return False


def _materialize(dg, job: str, assets: list, *, selection: list, resources: dict, partition_key: str | None = None,
                 **kwargs):
    """``dg.materialize`` under a job name the UI shows (``zhili_run_<feed>``, ``zhili_run_warehouse``) instead
    of ``__ephemeral_asset_job__``; and the Ctrl-C Dagster swallowed is given back, so ``zhili run`` stops
    (exit 130) instead of reporting a failed step and carrying on with the next feed and the summary."""
    defs = dg.Definitions(jobs=[dg.define_asset_job(name=job, selection=selection)], assets=assets, resources=resources)
    result = defs.resolve_job_def(job).execute_in_process(partition_key=partition_key, **kwargs)
    if _interrupted(result):
        raise KeyboardInterrupt
    return result


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DBT_NODE = re.compile(r"^\s*(?:Failure|Error) in (?:model|test|seed|snapshot|unit_test) \S+")


def _one_line(message: str) -> str:
    """The line of an error message that says what went wrong.

    dagster-dbt's error lists dbt's own ("Errors parsed from dbt logs"): name the failed node and
    its database error, not the caret under the offending SQL.
    """
    text = _ANSI.sub("", message)
    lines = [line.strip() for line in text.splitlines()]
    if "Errors parsed from dbt logs:" in text:
        tail = lines[lines.index("Errors parsed from dbt logs:") + 1:]
        node = next((line for line in tail if _DBT_NODE.match(line)), None)
        detail = next((line for line in tail if re.match(r"^[\w ]*Error: ", line) and "in model" not in line), None)
        if node:
            return f"dbt: {node.removesuffix(':')}" + (f": {detail}" if detail else "")
    meaningful = [line for line in lines if line and not re.fullmatch(r"[\^~\s]+", line)]
    line = meaningful[-1] if meaningful else "unknown error"
    # our own errors are sentences already; their qualified class name adds nothing for the user
    return re.sub(r"^(?:orchestration|ingestion|expectations)\.[\w.]*: ", "", line)


class _NoProgress:
    def stage(self, name: str, total: int, unit: str) -> None: ...
    def update(self, done: int | None = None, *, note: str | None = None, name: str | None = None) -> None: ...
    def end(self) -> None: ...


class _Watch(logging.Handler):
    """Receives the Dagster log records of zhili's in-process runs and hands them to ``listener``.

    Only the step key, the event type and the message's leading verb are looked at; nothing is kept.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.listener: Callable[[str, str, str], None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        if not meta or self.listener is None:
            return
        event = meta.get("dagster_event")
        try:
            self.listener(meta.get("step_key") or "", event.event_type_value if event is not None else "",
                          meta.get("orig_message") or "")
        except Exception:  # a broken display must not fail the step that logged; stop updating it instead
            self.listener = None
            logging.getLogger(__name__).debug("progress display stopped", exc_info=True)


@contextlib.contextmanager
def _watching(instance, watch: _Watch):
    """Add ``watch`` to the handlers the instance gives each run's log manager (this instance only)."""
    original = instance.get_handlers
    instance.get_handlers = lambda: [*original(), watch]
    try:
        yield
    finally:
        del instance.get_handlers


_FILE_DONE = re.compile(r"^(?:(?:rejected|duplicate|empty): |(?:loaded|held) )")


def _feed_listener(progress, feed: str):
    counts = {"staged": 0, "done": 0}

    def listener(step: str, event: str, message: str) -> None:
        if event:
            return
        if message.startswith("staged "):
            counts["staged"] += 1
        elif _FILE_DONE.match(message):
            counts["done"] += 1
        else:
            return
        progress.update(counts["done"], note=f"{counts['staged']} staged")

    return listener


def _warehouse_listener(progress, models: int):
    built = {"n": 0}

    def listener(step: str, event: str, message: str) -> None:
        if event == "STEP_START":
            if "serving" in step:
                progress.update(2, name="warehouse: publish", note="serving snapshot")
            else:
                progress.update(0, name="warehouse: linkage", note="")
        elif event == "ASSET_MATERIALIZATION" and "serving" not in step:
            built["n"] += 1
            progress.update(1, name="warehouse: dbt build", note=f"{built['n']}/{models} models")
        elif not event and message.startswith("person linkage:"):
            progress.update(1, name="warehouse: dbt build", note=f"0/{models} models")

    return listener


def _check_summary(result) -> dict[str, dict]:
    from orchestration.defs.labels import field_of

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


def run_pipeline(settings: Settings, *, feeds: list[str] | None = None, echo: Echo = print,
                 warn: Echo | None = None, progress=None) -> int:
    """Load every complete file not loaded yet, then build and publish the warehouse; the exit code.

    ``echo`` gets the summary lines, ``warn`` (default ``echo``) the one line saying why a run failed,
    ``progress`` (a :class:`orchestration.cli.Progress`) the counts as they move. One ``zhili run``
    per home at a time: a second one raises :class:`orchestration.defs.instance.RunInProgress`.
    """
    from orchestration.defs.instance import cli_run_lock

    with cli_run_lock(settings.home):
        return _run_locked(settings, feeds=feeds, echo=echo, warn=warn, progress=progress)


def _run_locked(settings: Settings, *, feeds: list[str] | None, echo: Echo, warn: Echo | None, progress) -> int:
    warn = warn or echo
    progress = progress or _NoProgress()
    started = time.perf_counter()
    started_at = datetime.now(ZoneInfo("Asia/Shanghai"))  # the ledger's processed_at zone
    echo(f"landing: {settings.landing}")
    echo(f"home:    {settings.home}")
    progress.stage("starting: Dagster, dbt manifest", 2, "steps")
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
    from orchestration.defs.feeds.sensors import FEED_TAG, RANGE_END, RANGE_START
    from orchestration.defs.instance import CLI_TAG, open_instance, reap_dead_cli_runs
    from orchestration.defs.resources import ZhiliResource
    from orchestration.defs.warehouse.assets import build_warehouse_assets, dbt_resource, ensure_manifest, zone_specs
    from orchestration.defs.warehouse.sensors import serving_staleness

    unknown = sorted(set(feeds or ()) - set(FEEDS))
    if unknown:
        progress.end()
        warn(f"zhili run: unknown feed {', '.join(map(repr, unknown))}; expected one of {', '.join(FEEDS)}")
        return 2
    progress.update(1)
    wanted = set(feeds) if feeds else set(FEEDS)
    zones = settings.zones
    ensure_zones(zones)
    scan, due = _due(settings, wanted)
    for outcome in scan_outcomes(scan):
        if outcome.feed in wanted or outcome.feed not in FEEDS:
            write_ledger(zones, outcome)
    instance = open_instance(settings.home)
    reaped = reap_dead_cli_runs(instance)
    if reaped:
        echo(f"{len(reaped)} run(s) of an earlier zhili run that was killed marked failed; the warehouse pool is free again")
    watch = _Watch()
    resources = {"zhili": ZhiliResource(landing=str(settings.landing), home=str(settings.home), as_of=settings.as_of.isoformat() if settings.as_of else ""), "dbt": dbt_resource()}
    assets: list = [*feed_assets(), *zone_specs()]
    manifest = ensure_manifest()
    warehouse = build_warehouse_assets(manifest) if manifest is not None else []
    assets += warehouse
    progress.update(2)
    progress.end()
    setup = time.perf_counter() - started
    dagster_seconds = setup
    gates: dict[str, dict] = {}
    failure: tuple[str, int] | None = None
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
        tags = {FEED_TAG: feed, CLI_TAG: "cli"}
        if len(ordered) == 1:
            kwargs = {"partition_key": ordered[0]}
        else:
            kwargs = {}
            tags |= {RANGE_START: ordered[0], RANGE_END: ordered[-1]}
        t0 = time.perf_counter()
        progress.stage(feed, len(keys), "files loaded")
        watch.listener = _feed_listener(progress, feed)
        with _watching(instance, watch):
            result = _materialize(dg, f"{CLI_JOB}_{feed}", assets, selection=[raw_key(feed), normalised_key(feed)], instance=instance,
                                    resources=resources, tags=tags, raise_on_error=False, run_config=_QUIET, **kwargs)
        progress.update(len(keys) if result.success else None)
        progress.end()
        wall = time.perf_counter() - t0
        dagster_seconds += max(0.0, wall - _step_seconds(result))
        gates |= _check_summary(result)
        gate = gates.get(feed, {})
        verdict = "gate passed" if gate.get("passed", True) else f"GATE FAILED on {gate.get('files_failed')} file(s)"
        echo(f"{feed:<18} {len(keys):>4} new files  {verdict}  ({wall:.1f} s)")
        failure = _real_failure(result, settings.home)
        if failure:
            break
    published = None
    ran_feeds = any(due.get(feed) for feed in wanted)
    # what the snapshot is (its as-of date, its files) is recorded beside it: no need to open it, so a reader
    # holding it, even read-write, cannot make this check fail and trigger a rebuild
    stale = serving_staleness(settings, instance) if not failure and warehouse and not ran_feeds else "new files"
    nothing_loaded = read_ledger(zones).filter(pl.col("status").is_in(["loaded", "held"])).is_empty()
    if not failure and warehouse and stale is None:
        echo(f"warehouse: no new files; the serving snapshot (as of {_as_of_text(zones)}) is current")
        published = zones.serving / "zhili.duckdb"
    elif not failure and warehouse and nothing_loaded:
        # a first day with nothing delivered: there is nothing to link, build or publish yet
        echo("warehouse: nothing loaded yet; no warehouse built and no snapshot published")
    elif not failure and warehouse:
        if not ran_feeds:
            echo(f"warehouse: rebuilding: {stale}")
        t0 = time.perf_counter()
        dbt_log = io.StringIO()
        models = sum(len(w.keys) for w in warehouse) - 1  # the serving snapshot is the publish step
        progress.stage("warehouse: linkage", 3, "steps")
        watch.listener = _warehouse_listener(progress, models)
        with contextlib.redirect_stdout(dbt_log), _watching(instance, watch):  # dagster-dbt echoes dbt events
            result = _materialize(dg, f"{CLI_JOB}_warehouse", assets, selection=[a for w in warehouse for a in w.keys], instance=instance,
                                    resources=resources, tags={"zhili/warehouse": "1", CLI_TAG: "cli"},
                                    raise_on_error=False, run_config=_QUIET)
        progress.update(3 if result.success else None)
        progress.end()
        wall = time.perf_counter() - t0
        log_path = settings.home / "logs" / "dbt_last_run.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(dbt_log.getvalue())
        dagster_seconds += max(0.0, wall - _step_seconds(result))
        failure = _real_failure(result, settings.home, dbt_log.getvalue())
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
        echo(f"serving snapshot: {published} (as of {_as_of_text(zones)})")
        echo(f"  query: zhili sql --home {settings.home} \"select * from marts.dim_grid limit 5\"")
        echo(f"  python: duckdb.connect('{published}', read_only=True)")
        echo(f"  superset: duckdb:///{published}?access_mode=read_only")
    total = time.perf_counter() - started
    gx = sum(g.get("gx_seconds") or 0 for g in gates.values())
    echo(f"done in {total:.1f} s (Dagster overhead {dagster_seconds:.1f} s, GX {gx:.1f} s); runs are in {settings.home / 'dagster'}")
    if failure:
        warn(f"zhili run: {failure[0]}")
        return failure[1]
    return 0


def _as_of_text(zones) -> str:
    from orchestration.defs.warehouse.publish import current_record

    record = current_record(zones.serving)
    return record.as_of_date.isoformat() if record and record.as_of_date else "unknown"


def _write_gates(settings: Settings, gates: dict[str, dict], started_at: datetime) -> None:
    from ingestion.zones import write_text_atomic

    write_text_atomic(settings.home / GATES_FILE,
                      json.dumps({"run_started_at": started_at.isoformat(), "gates": gates}, ensure_ascii=False, indent=1))


def print_status(settings: Settings, *, echo: Echo = print) -> int:
    from ingestion.pipeline import read_ledger

    from orchestration.defs.warehouse.publish import current_record

    ledger = read_ledger(settings.zones)
    if ledger.is_empty():
        echo(f"nothing loaded yet under {settings.home}")
        return 0
    record = current_record(settings.zones.serving)
    if record is None:
        echo("serving snapshot: none recorded yet (zhili run publishes one)")
    else:
        as_of = record.as_of_date.isoformat() if record.as_of_date else "unknown"
        echo(f"serving snapshot: {settings.zones.serving / 'zhili.duckdb'} as of {as_of}, published {record.published_at}"
             f" ({len(record.files)} files)")
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
