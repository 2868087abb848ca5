"""Crash safety: ``zhili run`` killed with SIGKILL at seeded random moments, then run again.

A district's deliveries but the last day's are loaded and published (the *earlier* snapshot); the
last day's are then delivered and the run that loads them is killed -- its whole process group, zhili and its dbt
subprocess, with SIGKILL, as a power cut or the container's OOM killer would -- and run again,
``ZHILI_CRASH_KILLS`` times, each re-run killed at the next moment, until a last re-run is let
finish. After every kill:

* the serving snapshot readers see (``<home>/serving/zhili.duckdb``) opens read-only and is a whole
  one: every mart equals the earlier snapshot's or the clean run's (hash of every mart, rows sorted);
* the warehouse opens read-write at once (the killed processes left no lock behind).

After the last re-run the marts equal those of the same deliveries loaded without kills, the
conservation ledger has one loaded row per file, the same as the clean run's, and every row balances;
no temporary file is left in ``serving/``.

The kills are spread evenly over the stages of a run in the order it goes through them (ingestion, person
linkage, dbt, publishing; 3 kills: ingestion, dbt, publishing), each at a seeded random point of that
stage's length in the clean run: the re-run is watched through its Dagster event log and killed that long
after it entered the stage (at once if it is already past it, as a re-run skips what is done). Where each one
landed is read back from the event log and printed (``pytest -s``).

Small scale (CI): 1,000 residents over 5 days, 3 kills. Full scale::

    ZHILI_CRASH_KILLS=20 ZHILI_CRASH_RESIDENTS=2000 ZHILI_CRASH_DAYS=14 \\
        .venv/bin/python -m pytest -q -s tests/integration/test_crash.py

(``ZHILI_CRASH_SEED`` changes the moments.)
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from ingestion.generator import generate
from ingestion.ledger import read_ledger
from ingestion.zones import Zones
from tests.runs import kill_group, mart_hashes, scale, split_last_delivery, zhili_run, zhili_start

KILLS = int(os.environ.get("ZHILI_CRASH_KILLS", "3"))
SEED = int(os.environ.get("ZHILI_CRASH_SEED", "7"))
RESIDENTS, DAYS = scale("CRASH", 1000, 5)
_LEDGER_KEY = ["feed", "folder", "file", "file_md5", "status", "records_read", "rows_normalised", "rows_quarantined"]


def _deliver(full: Path, landing: Path, dates: list[str]) -> None:
    """Copy the delivery folders of ``dates`` (every feed) from the generated landing into ``landing``."""
    for folder in sorted(d for d in full.glob("*/*") if d.is_dir() and d.name in dates):
        shutil.copytree(folder, landing / folder.relative_to(full))


#: The stages of a ``zhili run`` a kill is aimed at, in the order a run goes through them.
PHASES = ("ingestion", "linkage", "dbt", "publish")


def _run_marks(instance, since: float) -> list[dict]:
    """Every Dagster run created after ``since`` (epoch seconds), oldest first: ``created``, ``end``, ``where``
    it got and ``marks`` (epoch seconds at which it entered each of ``PHASES``).

    ``where``: ``ingestion`` (a feed's run), ``pool wait`` (the warehouse step waiting for its pool's
    slot), ``linkage`` (warehouse step, before dbt), ``dbt``,
    ``publish`` (the serving step had started), ``ingested`` / ``published`` (the run succeeded).
    """
    from dagster import DagsterRunStatus, RunsFilter

    out = []
    created_after = datetime.fromtimestamp(since, tz=UTC)
    for record in reversed(instance.get_run_records(filters=RunsFilter(created_after=created_after))):
        run, created = record.dagster_run, record.create_timestamp.timestamp()
        warehouse = run.tags.get("zhili/warehouse") == "1"
        where, marks = ("warehouse start", {}) if warehouse else ("ingestion", {"ingestion": created})
        if warehouse:
            for event in instance.all_logs(run.run_id):
                kind = event.dagster_event.event_type_value if event.is_dagster_event else ""
                message = event.user_message or ""
                if kind == "STEP_START":  # linkage, dbt and publishing are one step each
                    step = event.step_key or ""
                    where = (
                        "publish"
                        if step.startswith("serving")
                        else "linkage"
                        if step.startswith("person_links")
                        else "dbt"
                    )
                    marks.setdefault(where, event.timestamp)
                elif where == "warehouse start" and "blocked by limit for pool" in message:
                    where = "pool wait"  # the step waits for the warehouse pool's one slot
        if run.status == DagsterRunStatus.SUCCESS:
            where = "published" if warehouse else "ingested"
        out.append(dict(created=created, end=record.end_time, where=where, marks=marks))
    return out


def _runs_since(home: Path, since: float) -> list[dict]:
    import warnings

    warnings.simplefilter("ignore")
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        return _run_marks(instance, since)


def _timeline(runs: list[dict], finished: float) -> dict[str, tuple[float, float]]:
    """(start, end) of each phase in a run that went through all of them (``finished``: when it ended)."""
    starts = {ph: min(r["marks"][ph] for r in runs if ph in r["marks"]) for ph in PHASES}
    ends = [starts[ph] for ph in PHASES[1:]] + [finished]
    return {ph: (starts[ph], end) for ph, end in zip(PHASES, ends)}


def _kill_plan(timeline: dict[str, tuple[float, float]], kills: int, rng: random.Random) -> list[tuple[str, float]]:
    """(phase, seconds into it) for each kill: spread evenly over the phases in run order (3 kills: ingestion,
    dbt, publish), each at a seeded random point of that phase's length in the clean run."""
    plan = []
    for i in range(kills):
        phase = PHASES[round(i * (len(PHASES) - 1) / (kills - 1)) if kills > 1 else len(PHASES) - 1]
        start, end = timeline[phase]
        plan.append((phase, rng.uniform(0.05, 0.95) * (end - start)))
    return plan


def _kill_in_phase(proc: subprocess.Popen, home: Path, started: float, phase: str, into: float) -> float | None:
    """SIGKILL ``proc`` ``into`` seconds after it entered ``phase`` (at once if it is already past it);
    return when, or None if it finished first."""
    import warnings

    warnings.simplefilter("ignore")
    from dagster import DagsterInstance

    target = PHASES.index(phase)
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        while proc.poll() is None:
            entered: dict[str, float] = {}
            for r in _run_marks(instance, started):
                for ph, t in r["marks"].items():
                    entered[ph] = min(t, entered.get(ph, t))
            reached = [ph for ph in PHASES[target:] if ph in entered]
            if reached:
                at = entered[phase] + into if reached[0] == phase else time.time()
                try:
                    proc.wait(timeout=max(0.0, at - time.time()))
                    return None
                except subprocess.TimeoutExpired:
                    break
            time.sleep(0.2)
        else:
            return None
    killed_at = time.time()
    kill_group(proc)
    return killed_at


def _where_killed(home: Path, started: float, killed_at: float) -> str:
    runs = [r["where"] for r in _runs_since(home, started) if r["created"] <= killed_at]
    if not runs:
        return "start-up"  # before zhili's first Dagster run: settings, landing scan, ledger
    # between two runs: after a feed's run, ingestion; after the warehouse run, zhili's closing summary
    return {"ingested": "ingestion", "published": "after publish"}.get(runs[-1], runs[-1])


def _check_after_kill(home: Path, earlier: dict[str, str], later: dict[str, str]) -> str:
    """The snapshot readers would open is a whole earlier/later one (which: returned); the warehouse is not locked."""
    import duckdb

    serving = home / "serving" / "zhili.duckdb"
    seen = "none"
    if serving.exists():
        hashes = mart_hashes(serving)  # opens it read-only
        assert hashes in (earlier, later), (
            f"the serving snapshot is neither the earlier nor the clean one: {sorted(hashes)}"
        )
        seen = "later" if hashes == later else "earlier"
    warehouse = home / "warehouse.duckdb"
    if warehouse.exists():
        duckdb.connect(str(warehouse)).close()  # read-write, at once: raises if a lock was left behind
    return seen


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    out = tmp_path_factory.mktemp("crash")
    generate(out, residents=RESIDENTS, days=DAYS, seed=11)
    full, landing = out / "landing", out / "delivered"
    first, rest = split_last_delivery(full)  # the last delivery day is the run that gets killed
    env = dict(os.environ, ZHILI_SECRET_FILE=str(out / "secret.key"))

    # the earlier snapshot: every delivery day but the last, loaded once and copied for the crashed home
    _deliver(full, landing, first)
    clean_home, home = out / "clean", out / "crashed"
    base = zhili_run(landing, clean_home, env)
    assert base.returncode == 0, base.stdout[-3000:] + base.stderr[-3000:]
    earlier = mart_hashes(clean_home / "serving" / "zhili.duckdb")
    shutil.copytree(clean_home, home, symlinks=True)

    # the clean run over the rest: the reference marts and the timeline the kills are drawn on
    _deliver(full, landing, rest)
    t0 = time.time()
    clean_run = zhili_run(landing, clean_home, env)
    clean_seconds = time.time() - t0
    assert clean_run.returncode == 0, clean_run.stdout[-3000:] + clean_run.stderr[-3000:]
    clean = mart_hashes(clean_home / "serving" / "zhili.duckdb")
    assert clean != earlier, "the last delivery day should change the marts"
    timeline = _timeline(_runs_since(clean_home, t0), t0 + clean_seconds)

    plan = _kill_plan(timeline, KILLS, random.Random(SEED))
    kills = []
    for i, (phase, into) in enumerate(plan):
        log = out / f"attempt{i}.log"
        started = time.time()
        proc = zhili_start(landing, home, env, log)
        killed_at = _kill_in_phase(proc, home, started, phase, into)
        seen = _check_after_kill(home, earlier, clean)
        kills.append(
            dict(
                aim=f"{phase} +{into:.1f} s",
                started=started,
                killed_at=killed_at,
                exit=proc.returncode,
                serving=seen,
                output=log.read_text(errors="replace"),
            )
        )
    t1 = time.time()
    final = zhili_run(landing, home, env)
    final_seconds = time.time() - t1
    for k in kills:
        k["where"] = (
            _where_killed(home, k["started"], k["killed_at"]) if k["killed_at"] else f"finished (exit {k['exit']})"
        )
    print(
        f"\ncrash test: {RESIDENTS} residents x {DAYS} days, seed {SEED}; base run {len(first)} delivery dates, "
        f"clean run over {len(rest)} more took {clean_seconds:.1f} s "
        f"({', '.join(f'{ph} {b - a:.1f} s' for ph, (a, b) in timeline.items())}); "
        f"final re-run {final_seconds:.1f} s, exit {final.returncode}"
    )
    for i, k in enumerate(kills):
        print(f"  kill {i + 1}: aimed at {k['aim']:<18} -> {k['where']:<14} serving snapshot seen: {k['serving']}")
    return dict(clean=clean, earlier=earlier, clean_home=clean_home, home=home, kills=kills, final=final, plan=plan)


def test_kills_landed(crashed):
    landed = [k for k in crashed["kills"] if k["killed_at"]]
    assert landed, f"every re-run finished before its kill moment: {crashed['plan']}"
    # the kills reach the later stages too, not only ingestion (3 kills: ingestion, dbt, publish)
    where = {k["where"] for k in landed}
    assert where & {"linkage", "dbt", "publish", "pool wait", "warehouse start"}, [k["where"] for k in landed]
    for k in crashed["kills"]:
        if not k["killed_at"]:  # a re-run that got through did so cleanly
            assert k["exit"] == 0 and "Traceback" not in k["output"], k["output"][-3000:]


def test_rerun_after_kills_equals_a_clean_run(crashed):
    final = crashed["final"]
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    assert "Traceback" not in final.stdout + final.stderr
    assert crashed["clean"], "the clean run published no marts"
    assert mart_hashes(crashed["home"] / "serving" / "zhili.duckdb") == crashed["clean"]
    assert _check_after_kill(crashed["home"], crashed["earlier"], crashed["clean"]) == "later"


def test_ledger_after_kills_has_one_loaded_row_per_file_and_balances(crashed):
    ledger = read_ledger(Zones(crashed["home"])).filter(pl.col("status").is_in(["loaded", "held"]))
    clean = read_ledger(Zones(crashed["clean_home"])).filter(pl.col("status").is_in(["loaded", "held"]))
    assert ledger.height > 0
    assert ledger["file_md5"].n_unique() == ledger.height, "a file was counted twice"
    assert ledger["is_balanced"].all(), "records read != normalised + quarantined"
    assert ledger.select(_LEDGER_KEY).sort("file_md5").equals(clean.select(_LEDGER_KEY).sort("file_md5"))


def test_no_temporary_files_left_in_serving(crashed):
    serving = crashed["home"] / "serving"
    left = [p.name for p in serving.iterdir() if p.name.endswith(".tmp")]
    left += [p.name for p in (serving / "parquet").iterdir() if p.name.endswith(".tmp")]
    assert not left, left
