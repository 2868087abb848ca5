"""The whole pipeline at a county's size: every stage's wall time and peak memory.

    .venv/bin/python benchmarks/bench_pipeline.py --residents 100000 --days 30 --json bench-100k.json
    .venv/bin/python benchmarks/bench_pipeline.py --residents 1000000 --days 365 --generated /tmp/gen-1m

What it does, each step a separate process whose whole process tree (zhili
plus the dbt subprocess) is sampled for resident memory every 0.2 s:

1. generate ``--days + 1`` days (seeded) into ``--generated`` (reused when it
   already holds a landing of that size);
2. the *full build*: ``zhili run`` on a copy of that landing without the last
   delivery day -- per feed ingestion (raw + normalised + GX gate), then the
   warehouse step (linkage, dbt build) and publish, timed from what ``zhili
   run`` prints and from the step events of its Dagster instance;
3. the *daily increment*: the last day's files are delivered into the same
   landing and ``zhili run`` runs again; its ratio to the full build; then
   ``zhili run`` once more with no new file (target: at most 15 s);
4. the *floor*: DuckDB alone reading every raw landing file of the full
   build once (``read_csv`` / ``read_json``; workbooks through Polars, as
   DuckDB's excel extension is not available offline).

Prints a table and, with ``--json``, writes the same figures as JSON. While it
works, stderr shows which stage it is in and the progress ``zhili`` itself
reports (a bar on a terminal, a plain line every 30 s elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
#: `zhili` as a module: the same entry point as the console script
ZHILI = [sys.executable, "-m", "orchestration.cli"]
_PAGE = os.sysconf("SC_PAGE_SIZE")
#: issue 20: a zhili run on a landing with no new file costs at most this many seconds
NO_NEW_FILE_TARGET_S = 15.0
#: orchestration.progress.Progress while main() runs: the stage on stderr; None = plain prints
_progress = None
#: a progress line of a zhili child (it prints them plainly: its stderr is a pipe)
_CHILD_PROGRESS = re.compile(r"^zhili (?:run|generate): (?P<what>.+?) \(")


def say(line: str = "") -> None:
    """Print a line to stdout without tearing the progress bar on stderr."""
    if _progress is not None:
        _progress.write(line)
    else:
        print(line, flush=True)


def _relay(line: str) -> None:
    hit = _CHILD_PROGRESS.match(line)
    if hit and _progress is not None:
        _progress.update(note=hit["what"])


# --------------------------------------------------------------------------
# Memory of a process tree, sampled from /proc (no psutil in the lock file)
# --------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and all its descendants."""
    kids, todo, total = _children(), [pid], 0
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
        except OSError:
            pass
        todo += kids.get(p, [])
    return total


class Sampler(threading.Thread):
    """(wall time, tree RSS) every ``interval`` seconds while ``pid`` lives."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval, self.samples, self._halt = pid, interval, [], threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.time(), tree_rss(self.pid)))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak(self, start: float = 0.0, end: float = float("inf")) -> int:
        inside = [r for t, r in self.samples if start <= t <= end]
        return max(inside, default=0)


def run_measured(cmd: list[str], *, env: dict | None = None, echo: bool = True, check: bool = True) -> dict:
    """Run ``cmd``; return wall, peak tree RSS, stdout lines with their wall-clock times, samples."""
    t0 = time.time()
    env = dict(os.environ if env is None else env, ZHILI_PROGRESS="plain")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    sampler = Sampler(proc.pid)
    sampler.start()
    err: list[str] = []

    def drain_stderr() -> None:
        for line in proc.stderr:
            err.append(line)
            _relay(line)

    drain = threading.Thread(target=drain_stderr, daemon=True)
    drain.start()
    lines = []
    for line in proc.stdout:
        lines.append((time.time(), line.rstrip("\n")))
        if echo:
            say("    | " + line.rstrip("\n"))
    rc = proc.wait()
    drain.join()
    sampler.stop()
    end = time.time()
    if rc != 0:
        sys.stderr.write("".join(err[-40:]))
        if check:
            raise SystemExit(f"{' '.join(cmd)} exited {rc}")
        say(f"  !! {' '.join(cmd[3:5])} exited {rc}: the figures below are of a FAILED run")
    return {
        "rc": rc,
        "start": t0,
        "end": end,
        "wall": end - t0,
        "peak": sampler.peak(),
        "lines": lines,
        "sampler": sampler,
        "stderr": "".join(err),
    }


# --------------------------------------------------------------------------
# Landings
# --------------------------------------------------------------------------


def generate(out: Path, residents: int, days: int, seed: int) -> dict | None:
    """Generate ``days`` days into ``out`` unless it already holds that generation."""
    stamp = out / ".bench-generated.json"
    want = {"residents": residents, "days": days, "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()) == want and (out / "landing").is_dir():
        say(f"  reusing {out} ({want})")
        return None
    m = run_measured(
        [
            *ZHILI,
            "generate",
            "--out",
            str(out),
            "--residents",
            str(residents),
            "--days",
            str(days),
            "--seed",
            str(seed),
        ],
        echo=False,
    )
    stamp.write_text(json.dumps(want))
    return m


def last_day(landing: Path) -> str:
    return max(d.name for feed in landing.iterdir() if feed.is_dir() for d in feed.iterdir() if d.is_dir())


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link a landing file (zhili only reads the landing; 12 GB at 1M need not be copied), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def split_landing(src: Path, dst: Path, withheld: str) -> list[Path]:
    """Mirror ``src`` at ``dst`` without the ``withheld`` delivery folders; return those folders."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(
        src,
        dst,
        copy_function=_link_or_copy,
        ignore=lambda d, names: [n for n in names if n == withheld and Path(d).parent == src],
    )
    return sorted(p for p in src.glob(f"*/{withheld}") if p.is_dir())


def deliver(folders: list[Path], src: Path, dst: Path) -> None:
    """Copy delivery folders in; data files first, their .ok flags last (as a department would)."""
    for folder in folders:
        target = dst / folder.relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        files = sorted(folder.iterdir(), key=lambda p: p.name.endswith(".ok"))
        for f in files:
            shutil.copy2(f, target / f.name)


# --------------------------------------------------------------------------
# The floor: DuckDB alone reads every raw file once
# --------------------------------------------------------------------------


#: what a build writes beside its landing, per landing byte: at 1M x 365 a 13.4 GB landing gave a 23 GB home
#: before dbt and a 12 GB warehouse, and DuckDB spills beside the warehouse while it builds (measured 2026-12-07,
#: when a full build ran out of disk in dbt with 12 GB free)
HOME_PER_LANDING_BYTE = 3.0


def disk_shortfall(work: Path, landing_bytes: int) -> str | None:
    """Why the disk under ``work`` is too small for a full build and an increment of a landing this size; None
    when it is not (the landing itself is hard-linked, so only the home counts)."""
    need = HOME_PER_LANDING_BYTE * landing_bytes
    free = shutil.disk_usage(work).free
    if free >= need:
        return None
    return (
        f"{work} has {free / 2**30:.1f} GB free; a build of this {landing_bytes / 2**30:.1f} GB landing needs about "
        f"{need / 2**30:.0f} GB (its home and warehouse)"
    )


def floor_read(landing: str) -> None:
    """(runs in a child process) read every data file once; print JSON {seconds, files, rows, by_kind}."""
    import duckdb
    import polars as pl

    con = duckdb.connect()
    files = sorted(p.with_suffix("") for p in Path(landing).rglob("*.ok"))
    files = [p for p in files if p.exists()]
    t0 = time.perf_counter()
    rows = 0
    by_kind: dict[str, float] = {}
    for path in files:
        t = time.perf_counter()
        lit = "'" + str(path).replace("'", "''") + "'"
        ext = path.suffix.lower()
        if ext == ".csv":
            # DuckDB reads UTF-8 (and latin-1) natively; GB18030 files are read as latin-1 bytes: same I/O and parse
            head = path.read_bytes()[:65536]
            try:
                head.decode("utf-8")
                enc = "utf-8"
            except UnicodeDecodeError:
                enc = "latin-1"
            opts = "all_varchar=true, header=true, strict_mode=false, ignore_errors=true, null_padding=true"
            try:
                rows += con.execute(f"select count(*) from read_csv({lit}, {opts}, encoding='{enc}')").fetchone()[0]
            except duckdb.Error:
                # bytes DuckDB's decoders refuse: read the bytes and count lines (still one pass over the file)
                by_kind["csv fallbacks"] = by_kind.get("csv fallbacks", 0) + 1
                rows += (
                    con.execute(
                        f"select len(string_split(decode(content), chr(10))) - 2 from read_blob({lit})"
                    ).fetchone()[0]
                    if enc == "utf-8"
                    else path.read_bytes().count(b"\n") - 1
                )
        elif ext in (".jsonl", ".json", ".geojson"):
            fmt = "newline_delimited" if ext == ".jsonl" else "auto"
            q = f"select count(*) from read_json({lit}, format='{fmt}', ignore_errors=true, maximum_object_size=67108864)"
            rows += con.execute(q).fetchone()[0]
        elif ext == ".xlsx":
            rows += sum(f.height for f in pl.read_excel(path, sheet_id=0, has_header=False).values())
        else:
            continue
        by_kind[ext] = by_kind.get(ext, 0.0) + time.perf_counter() - t  # csv fallbacks: a count, not seconds
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - t0,
                "files": len(files),
                "rows": rows,
                "by_kind": {k: round(v, 2) for k, v in by_kind.items()},
            }
        )
    )


# --------------------------------------------------------------------------
# What a `zhili run` did, stage by stage
# --------------------------------------------------------------------------

_FEED_LINE = re.compile(r"^(?P<feed>\w+)\s+(?P<files>\d+) new files\s+(?P<verdict>.+?)\s+\((?P<s>[\d.]+) s\)$")
_WAREHOUSE_LINE = re.compile(r"^warehouse\s+dbt build \+ publish (?P<ok>\w+)\s+\((?P<s>[\d.]+) s")
_DONE_LINE = re.compile(r"^done in (?P<total>[\d.]+) s \(Dagster overhead (?P<dagster>[\d.]+) s, GX (?P<gx>[\d.]+) s\)")


def _warehouse_steps(home: Path, since: float) -> dict[str, tuple[float, float]]:
    """Wall-clock (start, end) of linkage, dbt build and publish in the warehouse run after ``since``."""
    import warnings

    warnings.simplefilter("ignore")
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    spans: dict[str, tuple[float, float]] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(tags={"zhili/warehouse": "1"}), limit=5):
        records = instance.all_logs(run.run_id)
        if not records or records[0].timestamp < since:
            continue
        starts, ends = {}, {}
        for r in records:
            ev = r.dagster_event
            if ev is not None and ev.event_type_value == "STEP_START":
                starts[r.step_key] = r.timestamp
            elif ev is not None and ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                ends[r.step_key] = r.timestamp
        # linkage (person_links), the dbt build and the publish are steps of their own
        for key in sorted(starts.keys() & ends.keys(), key=starts.__getitem__):
            name = "publish" if "serving" in key else "linkage" if "person_links" in key else "dbt build"
            spans[name] = (starts[key], ends[key])
        break
    return spans


def run_row(stage: str, m: dict, note: str = "") -> dict:
    """The table row of one whole measured ``zhili run``: its wall time and the process tree's peak memory."""
    return {"stage": stage, "seconds": m["wall"], "peak_mb": m["peak"] / 2**20, "note": note}


def stages_of(m: dict, home: Path) -> tuple[list[dict], dict]:
    """Per stage rows (name, seconds, peak MB) of one measured ``zhili run``; and its summary line figures."""
    rows, prev = [], m["start"]
    sampler: Sampler = m["sampler"]
    summary = {}
    for t, line in m["lines"]:
        if hit := _FEED_LINE.match(line):
            rows.append(
                {
                    "stage": f"ingest {hit['feed']}",
                    "files": int(hit["files"]),
                    "seconds": float(hit["s"]),
                    "peak_mb": sampler.peak(prev, t) / 2**20,
                    "note": hit["verdict"],
                }
            )
        elif hit := _WAREHOUSE_LINE.match(line):
            summary["warehouse_seconds"] = float(hit["s"])
            summary["warehouse_ok"] = hit["ok"] == "done"
        elif hit := _DONE_LINE.match(line):
            summary |= {
                "reported_total": float(hit["total"]),
                "dagster_overhead": float(hit["dagster"]),
                "gx": float(hit["gx"]),
            }
        if line.strip():
            prev = prev if _FEED_LINE.match(line) is None else t
    try:
        gates = json.loads((home / "gates" / "last_run.json").read_text())["gates"]
    except (OSError, ValueError, KeyError):
        gates = {}
    for row in rows:
        g = gates.get(row["stage"].removeprefix("ingest "), {})
        row["gx_seconds"] = g.get("gx_seconds")
    for name, (a, b) in _warehouse_steps(home, m["start"]).items():
        rows.append({"stage": name, "seconds": b - a, "peak_mb": sampler.peak(a, b) / 2**20})
        if name == "dbt build":
            summary["dbt_profile"] = dbt_profile(home, b - a)
            rows += dbt_profile_row(summary["dbt_profile"])
        if name == "linkage":
            rows += linkage_profile_row(home)
    return rows, summary


# A feed's share of a run (issues 22 and 23): its files in ingestion (wall time: the `ingest <feed>` row; here
# what the ledger says was read) and its models in dbt (each model's own time from the run's dbt log; dbt runs
# models on several threads, so the sum is the work done, not wall time saved by leaving the feed out)
_DBT_MODEL_LINE = re.compile(r"OK created sql \w+ model (?P<model>[\w.]+) .*? in (?P<s>[\d.]+)s\]")

_DBT_NODE_LINE = re.compile(
    r"\d+ of \d+ (?:OK created sql \w+ model (?P<model>[\w.]+)|PASS (?P<test>\S+)|OK loaded seed file (?P<seed>[\w.]+))"
    r" .*? in (?P<s>[\d.]+)s\]"
)
_DBT_FINISHED = re.compile(r"Finished running .* \((?P<s>[\d.]+)s\)\.?\s*$")


def dbt_profile(home: Path, build_seconds: float | None) -> dict | None:
    """Where the dbt build step's time went (issue 20's profile), from the run's dbt log: the models' own times
    (with the slowest five), the data tests', the seeds', what dbt reports for all its nodes, and the rest of
    the step (dbt's start and parse, dagster-dbt's events)."""
    log = home / "logs" / "dbt_last_run.log"
    if not log.exists():
        return None
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(encoding="utf-8", errors="replace"))
    kinds: dict[str, dict[str, float]] = {"model": {}, "test": {}, "seed": {}}
    for hit in _DBT_NODE_LINE.finditer(text):
        kind = next(k for k in kinds if hit[k])
        kinds[kind][hit[kind]] = float(hit["s"])
    finished = [float(h["s"]) for line in text.splitlines() if (h := _DBT_FINISHED.search(line))]
    nodes = finished[-1] if finished else None
    slowest = sorted(kinds["model"].items(), key=lambda kv: -kv[1])[:5]
    return {
        "models": len(kinds["model"]),
        "model_seconds": sum(kinds["model"].values()),
        "tests": len(kinds["test"]),
        "test_seconds": sum(kinds["test"].values()),
        "seeds": len(kinds["seed"]),
        "seed_seconds": sum(kinds["seed"].values()),
        "nodes_seconds": nodes,
        "outside_nodes_seconds": None if nodes is None or build_seconds is None else build_seconds - nodes,
        "slowest": [(name.split(".")[-1], sec) for name, sec in slowest],
    }


def linkage_profile_row(home: Path) -> list[dict]:
    """Where linkage's time and memory went (the record the person_links asset keeps), as a row under it."""
    try:
        cost = json.loads((home / "restricted" / "person_links" / "linkage_run.json").read_text())["cost"]
    except (OSError, ValueError, KeyError):
        return []
    parts = [
        f"{what} {cost[k]:.1f} s"
        for what, k in (
            ("collapse", "collapse_seconds"),
            ("Splink", "splink_seconds"),
            ("keys", "keys_seconds"),
            ("links written", "expand_seconds"),
        )
        if cost.get(k) is not None
    ]
    if cost.get("collapsed_files") is not None:
        parts.append(f"{cost['collapsed_files']} files collapsed, {cost['reused_files']} reused")
    peaks = cost.get("peak_rss_mb") or {}
    if peaks:
        parts.append("peak MB after " + ", ".join(f"{stage} {mb}" for stage, mb in peaks.items()))
    return [{"stage": "  linkage: where the time went", "seconds": None, "peak_mb": None, "note": "; ".join(parts)}]


def dbt_profile_row(profile: dict | None) -> list[dict]:
    """The profile as a stage row under ``dbt build``."""
    if not profile:
        return []
    outside = profile["outside_nodes_seconds"]
    return [
        {
            "stage": "  dbt: where the time went",
            "seconds": None,
            "peak_mb": None,
            "note": f"{profile['models']} models {profile['model_seconds']:.1f} s, {profile['tests']} data tests "
            f"{profile['test_seconds']:.1f} s, {profile['seeds']} seeds {profile['seed_seconds']:.1f} s"
            + (f"; outside the nodes (dbt start, parse, events) {outside:.1f} s" if outside is not None else "")
            + "; slowest: "
            + ", ".join(f"{n} {s:.1f}" for n, s in profile["slowest"]),
        }
    ]


class Share(NamedTuple):
    """One feed's slice of a run: its ledger feeds, the dbt models it owns (by name) and the marts to count."""

    label: str
    ledger_feeds: tuple[str, ...]
    models: re.Pattern
    counted: tuple[tuple[str, str], ...]  # (mart, what its rows are)
    #: the ledger's files of a feed shared with others (the register carries the household columns)
    shared_files: bool = False


HOTLINE_MODELS = re.compile(r"hotline|cross_channel")
SHARES = (
    Share(
        "hotline", ("hotline_orders",), HOTLINE_MODELS, (("fct_hotline_order", "orders"), ("fct_hotline_step", "steps"))
    ),
    Share(
        "grid_visits",
        ("grid_visits",),
        re.compile(r"grid_visits|grid_workers|_visit|grid_worker|grid_staffing|worker_scorecard"),
        (("fct_visit", "visits"), ("dim_grid_worker", "workers")),
    ),
    Share("credit_points", ("credit_points",), re.compile(r"credit"), (("fct_credit_entry", "entries"),)),
    Share(
        "service_lists",
        ("service_lists",),
        re.compile(r"service"),
        (("fct_service_need", "needs"), ("dim_service_resource", "resources"), ("fct_service_project", "projects")),
    ),
    Share(
        "households (police_population's 户号 columns)",
        ("police_population",),
        # not mart_credit_household_match: the points ledger's share
        re.compile(r"(?<!credit_)household"),
        (("dim_household", "households"), ("bridge_household_member", "memberships")),
        shared_files=True,
    ),
)


def feed_share(home: Path, since: float, share: Share) -> list[dict]:
    """Two stage rows for ``share`` in the run that started at ``since`` (epoch seconds): its files, its models."""
    import duckdb
    import polars as pl

    rows = []
    ledger = sorted((home / "ledger").glob("*.parquet"))
    if ledger:
        files = pl.read_parquet(ledger).filter(
            pl.col("feed").is_in(share.ledger_feeds) & (pl.col("processed_at").dt.epoch("s") >= int(since))
        )
        whose = " (the whole register: the columns are not separable by file)" if share.shared_files else ""
        rows.append(
            {
                "stage": f"{share.label}: files (ledger)",
                "seconds": None,
                "peak_mb": None,
                "note": f"{files.height} files{whose}: {int(files['records_read'].sum() or 0)} records read, "
                f"{int(files['rows_normalised'].sum() or 0)} normalised, {int(files['rows_quarantined'].sum() or 0)} "
                f"quarantined (time: the ingest {'/'.join(share.ledger_feeds)} row)",
            }
        )
    log = home / "logs" / "dbt_last_run.log"
    if log.exists():
        text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(encoding="utf-8", errors="replace"))
        models = {
            m["model"]: float(m["s"])
            for m in _DBT_MODEL_LINE.finditer(text)
            if share.models.search(m["model"].split(".")[-1])
        }
        counts = ""
        serving = home / "serving" / "zhili.duckdb"
        if serving.exists():
            with duckdb.connect(str(serving), read_only=True) as con:
                n = [
                    f"{con.execute(f'select count(*) from marts.{t}').fetchall()[0][0]} {what}"
                    for t, what in share.counted
                ]
            counts = "; " + ", ".join(n) + " in the marts"
        slowest = ", ".join(f"{k.split('.')[-1]} {v:.1f}" for k, v in sorted(models.items(), key=lambda kv: -kv[1])[:3])
        rows.append(
            {
                "stage": f"{share.label}: dbt models (sum of model times)",
                "seconds": sum(models.values()),
                "peak_mb": None,
                "note": f"{len(models)} models{counts}; slowest: {slowest}",
            }
        )
    return rows


def hotline_share(home: Path, since: float) -> list[dict]:
    """The 12345 hotline's share (issue 22) and each community feed's (issue 23) of the run started at ``since``."""
    return [row for share in SHARES for row in feed_share(home, since, share)]


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def landing_arguments(ap: argparse.ArgumentParser, work: str) -> None:
    """The options every pipeline bench takes: the generation (size, seed, where it is kept), the work folder
    (``work`` says what goes there) and the JSON figures."""
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=20241101)
    ap.add_argument("--generated", help="folder for the generated deliveries (kept and reused); default a temp folder")
    ap.add_argument("--work", help=f"folder for {work}; default a temp folder (removed)")
    ap.add_argument("--json", help="write the figures here as JSON")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    landing_arguments(ap, "the landing copy and state folder")
    ap.add_argument("--ignore-disk", action="store_true", help="start even when the disk looks too small for the build")
    ap.add_argument("--floor-only", help=argparse.SUPPRESS)
    ap.add_argument(
        "--check-residents",
        metavar="HOME",
        help="only compare HOME's published dim_resident per grid with --generated's truth, and print it",
    )
    args = ap.parse_args(argv)
    if args.floor_only:
        floor_read(args.floor_only)
        return 0
    if args.check_residents:
        print(json.dumps(residents_check(Path(args.generated) / "truth", Path(args.check_residents)), indent=1))
        return 0

    temp = Path(tempfile.mkdtemp(prefix="zhili-bench-"))
    gen_dir = Path(args.generated) if args.generated else temp / "generated"
    work = Path(args.work) if args.work else temp / "work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    landing, home = work / "landing", work / "home"
    result: dict = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "residents": args.residents,
        "days": args.days,
        "seed": args.seed,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * _PAGE / 2**30, 1),
            "loadavg_at_start": os.getloadavg(),
            "python": platform.python_version(),
        },
        "started_at": datetime.now().isoformat(timespec="seconds"),
    }
    stages: list[dict] = []
    global _progress
    from orchestration.progress import Progress

    _progress = Progress("bench", prefix="bench_pipeline")
    _progress.stage("generate", 4, "stages")
    try:
        say(f"generate: {args.residents} residents, {args.days} + 1 days (seed {args.seed}) into {gen_dir}")
        m = generate(gen_dir, args.residents, args.days + 1, args.seed)
        if m:
            stages.append({"stage": "generate", "seconds": m["wall"], "peak_mb": m["peak"] / 2**20})
        src = gen_dir / "landing"
        withheld = last_day(src)
        folders = split_landing(src, landing, withheld)
        size = sum(p.stat().st_size for p in landing.rglob("*") if p.is_file())
        result["landing_bytes"] = size
        result["increment_day"] = withheld
        short = disk_shortfall(work, size)
        if short and not args.ignore_disk:
            say(f"  !! {short}; free some space, pass --work on a bigger disk, or --ignore-disk")
            return 2

        _progress.update(1, name="floor", note="DuckDB reads every raw file")
        say(f"floor: DuckDB reads every raw file once ({size / 2**20:.0f} MB)")
        fm = run_measured([sys.executable, __file__, "--floor-only", str(landing)], echo=False)
        floor = json.loads(fm["lines"][-1][1])
        stages.append(
            {
                "stage": "floor: duckdb reads raw files",
                "seconds": floor["seconds"],
                "peak_mb": fm["peak"] / 2**20,
                "note": f"{floor['files']} files, {floor['rows']} rows; by kind {floor['by_kind']}",
            }
        )

        env = dict(os.environ, ZHILI_SECRET_FILE=str(work / "secret.key"))
        _progress.update(2, name="full build", note="")
        say(f"full build: zhili run on {args.days} days")
        full = run_measured([*ZHILI, "run", "--landing", str(landing), "--home", str(home)], env=env, check=False)
        rows, summary = stages_of(full, home)
        stages += rows
        stages += hotline_share(home, full["start"])
        stages.append({"stage": "GX gates (share of ingest)", "seconds": summary.get("gx"), "peak_mb": None})
        stages.append({"stage": "Dagster overhead", "seconds": summary.get("dagster_overhead"), "peak_mb": None})
        stages.append(run_row("FULL zhili run", full))

        keys_before = work / "person-keys-before.parquet"
        save_person_keys(home, keys_before)

        _progress.update(3, name="daily increment", note="")
        say(f"daily increment: deliver {withheld} ({len(folders)} folders), zhili run again")
        deliver(folders, src, landing)
        inc = run_measured([*ZHILI, "run", "--landing", str(landing), "--home", str(home)], env=env, check=False)
        inc_rows, inc_summary = stages_of(inc, home)
        inc_rows += hotline_share(home, inc["start"])
        for r in inc_rows:
            r["stage"] = "  increment: " + r["stage"]
        stages += inc_rows
        stages.append(run_row("INCREMENT zhili run", inc, f"{inc['wall'] / full['wall']:.1%} of the full build"))
        result |= {
            "full_rc": full["rc"],
            "identity": identity_stability(home, keys_before, withheld),
            "increment_rc": inc["rc"],
            "full_seconds": full["wall"],
            "full_peak_mb": full["peak"] / 2**20,
            "increment_seconds": inc["wall"],
            "increment_peak_mb": inc["peak"] / 2**20,
            "increment_ratio": inc["wall"] / full["wall"],
            "floor_seconds": floor["seconds"],
            "full_over_floor": full["wall"] / max(floor["seconds"], 1e-9),
            "full_summary": summary,
            "increment_summary": inc_summary,
            "serving_bytes": (home / "serving" / "zhili.duckdb").stat().st_size
            if (home / "serving" / "zhili.duckdb").exists()
            else None,
            "residents_per_grid": residents_check(gen_dir / "truth", home),
        }
        # a day with no new file: zhili run on the same landing again; the target is <= 15 s (issue 20)
        _progress.update(3, name="no new file", note="")
        say("no new file: zhili run again on the same landing")
        idle = run_measured([*ZHILI, "run", "--landing", str(landing), "--home", str(home)], env=env, check=False)
        verdict = "met" if idle["wall"] <= NO_NEW_FILE_TARGET_S else "MISSED"
        stages.append(run_row("NO-NEW-FILE zhili run", idle, f"target <= {NO_NEW_FILE_TARGET_S:.0f} s: {verdict}"))
        result |= {
            "nofile_rc": idle["rc"],
            "nofile_seconds": idle["wall"],
            "nofile_within_target": idle["wall"] <= NO_NEW_FILE_TARGET_S,
        }
        _progress.update(4, name="done", note="")
    finally:
        _progress.close()
        _progress = None
        result["stages"] = stages
        result["loadavg_at_end"] = os.getloadavg()
        _print_table(result)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str))
            print(f"wrote {args.json}")
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
        if not args.generated:
            shutil.rmtree(temp, ignore_errors=True)
    return 0


def save_person_keys(home: Path, out: Path) -> None:
    """Every published personal record's person key (record_locator -> person_key), kept for the comparison
    after the increment; streamed by DuckDB (tens of millions of rows at 1M x 365)."""
    import duckdb

    serving = home / "serving" / "zhili.duckdb"
    if serving.exists():
        with duckdb.connect(str(serving), read_only=True) as con:
            con.execute(
                f"copy (select record_locator, person_key from marts.person_source_links) to '{out}' (format parquet)"
            )
            con.execute(
                f"copy (select alias_key from marts.person_key_aliases) to '{_aliases_of(out)}' (format parquet)"
            )


def _aliases_of(keys: Path) -> Path:
    return keys.with_name(keys.stem + "-aliases.parquet")


def identity_stability(home: Path, before: Path, day: str) -> dict | None:
    """Issue 20's identity target over the increment: the pre-existing records whose person key changed, how
    many of those an alias the increment added explains (old key -> current key), and the keys that vanished
    without an alias."""
    import duckdb

    serving = home / "serving" / "zhili.duckdb"
    if not (serving.exists() and before.exists()):
        return None
    with duckdb.connect(str(serving), read_only=True) as con:
        row = con.execute(
            f"""
            with before as (select * from read_parquet('{before}')),
            after as (select record_locator, person_key from marts.person_source_links),
            aliases as (select * from marts.person_key_aliases),
            new_aliases as (select * from aliases anti join read_parquet('{_aliases_of(before)}') using (alias_key)),
            changed as (
                select b.record_locator, b.person_key as old_key, a.person_key as new_key
                from before as b join after as a using (record_locator)
                where a.person_key is distinct from b.person_key
            ),
            gone as (
                select distinct person_key from before where person_key is not null
                except select person_key from after
            )
            select
                (select count(*) from before),
                (select count(*) from before anti join after using (record_locator)),
                (select count(*) from changed),
                (select count(*) from changed where exists (
                    select 1 from new_aliases
                    where new_aliases.old_person_key = changed.old_key
                        and new_aliases.current_person_key = changed.new_key
                )),
                (select count(*) from gone),
                (select count(*) from gone where person_key not in (select old_person_key from aliases)),
                (select count(*) from new_aliases)
            """
        ).fetchone()
    keys = ("records_before", "records_no_longer_published", "records_key_changed", "changes_explained_by_alias")
    out = dict(zip((*keys, "keys_gone", "keys_gone_without_alias", "aliases_added"), row, strict=True))
    return out | {"day": day}


def residents_check(truth: Path, home: Path) -> dict | None:
    """The published ``dim_resident`` per grid against the truth (issue 6: within 0.5 % per grid)."""
    import duckdb
    import polars as pl

    from ingestion.generator.truth import residents_per_grid_against

    serving = home / "serving" / "zhili.duckdb"
    if not serving.exists():
        return None
    with duckdb.connect(str(serving), read_only=True) as con:
        both = residents_per_grid_against(truth, con)
    off = both.with_columns(((pl.col("mart") - pl.col("truth")).abs() / pl.col("truth").clip(1)).alias("off"))
    total_truth, total_mart = int(both["truth"].sum()), int(both["mart"].sum())
    return {
        "grids": both.height,
        "truth": total_truth,
        "mart": total_mart,
        "total_off": abs(total_mart - total_truth) / max(total_truth, 1),
        "max_grid_off": float(off["off"].max()) if off.height else 0.0,
        "grids_over_half_percent": int(
            off.filter((pl.col("off") > 0.005) & ((pl.col("mart") - pl.col("truth")).abs() > 1)).height
        ),
    }


def _print_table(result: dict) -> None:
    print()
    print(
        f"zhili pipeline benchmark: {result['residents']} residents, {result['days']} days "
        f"({result['machine']['cpus']} CPUs, {result['machine']['memory_gb']} GB; load average at start "
        f"{', '.join(f'{x:.1f}' for x in result['machine']['loadavg_at_start'])})"
    )
    print(f"{'stage':<40} {'wall s':>9} {'peak MB':>9} {'GX s':>7}  note")
    print("-" * 100)
    for s in result["stages"]:
        sec = "" if s.get("seconds") is None else f"{s['seconds']:.1f}"
        mb = "" if s.get("peak_mb") is None else f"{s['peak_mb']:.0f}"
        gx = "" if s.get("gx_seconds") is None else f"{s['gx_seconds']:.1f}"
        print(f"{s['stage']:<40} {sec:>9} {mb:>9} {gx:>7}  {s.get('note', '')}")
    if "increment_ratio" in result:
        print(
            f"\nfull build {result['full_seconds']:.1f} s, peak {result['full_peak_mb']:.0f} MB; "
            f"daily increment {result['increment_seconds']:.1f} s = {result['increment_ratio']:.1%} of the full build; "
            f"full build = {result['full_over_floor']:.0f}x the DuckDB floor"
        )
    if "nofile_seconds" in result:
        print(
            f"a day with no new file: {result['nofile_seconds']:.1f} s "
            f"({'within' if result['nofile_within_target'] else 'OVER'} the {NO_NEW_FILE_TARGET_S:.0f} s target)"
        )
    if result.get("residents_per_grid"):
        r = result["residents_per_grid"]
        print(
            f"dim_resident against the truth: {r['mart']:,} register residents vs {r['truth']:,} "
            f"({r['total_off']:.3%} off) over {r['grids']} grids; worst grid {r['max_grid_off']:.2%} off, "
            f"{r['grids_over_half_percent']} grids more than 0.5 % and one person off"
        )
    if result.get("identity"):
        i = result["identity"]
        print(
            f"identity over the increment ({i['day']}): {i['records_key_changed']:,} of {i['records_before']:,} "
            f"pre-existing records changed person key, {i['changes_explained_by_alias']:,} of them through an "
            f"alias the increment added ({i['aliases_added']:,} aliases); {i['keys_gone']:,} keys no longer "
            f"published, {i['keys_gone_without_alias']:,} of them without an alias; "
            f"{i['records_no_longer_published']:,} records no longer published"
        )


if __name__ == "__main__":
    sys.exit(main())
