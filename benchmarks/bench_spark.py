"""``zhili run`` on DuckDB and on Spark, side by side on one landing (issue 25): wall time, peak memory and where
the time goes, for the full build and a day's increment, and whether the two engines published the same marts.

    .venv/bin/python benchmarks/bench_spark.py --residents 100000 --days 30 --json .bench/spark-100k.json

1. generate ``--days + 1`` days (seeded) into ``--generated`` (reused when it already holds that generation);
2. per engine, one after the other (never both at once, so each has the machine): ``zhili run`` on a copy of the
   landing without the last day (the *full build*), then with the last day delivered (the *increment*), each a
   process whose whole tree (zhili, dbt, Spark's JVMs) is sampled for resident memory every 0.2 s
   (``bench_pipeline.run_measured``); the two homes share one pseudonym key;
3. per stage, from each run's Dagster step events: ingestion per feed, linkage, dbt build, publish;
4. the published marts compared by their serving versions: the publisher names each table's Parquet version by a
   digest of its column types and rows, so a table Spark built is the same as DuckDB's exactly when both homes'
   catalogues read a version of the same name (the Poisson tails' p-values and the review pairs' scores are equal to
   a relative 1e-12 only, and ops' ledger carries each run's clock: those are named, not counted as differences;
   test_spark_run.py compares them within that tolerance).

Needs Java and the ``spark`` extra (``make test-venv``); DuckDB's figures come from the same run for the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pipeline import (  # noqa: E402
    ZHILI,
    deliver,
    generate,
    landing_arguments,
    last_day,
    run_measured,
    say,
    split_landing,
    stages_of,
)

ENGINES = ("duckdb", "spark")
#: tables whose versions may differ between engines for a known reason (the test compares them otherwise)
KNOWN_APART = {
    "marts.mart_alert_spike_scores": "p_value equal to a relative 1e-12 (Java's exp and ln)",
    "marts.mart_alert_hotline_topic_scores": "p_value equal to a relative 1e-12 (Java's exp and ln)",
    "marts.mart_link_review": "pairs scored again on Spark: match probability and weight in the last bits",
    "ops.ops_ingest_ledger": "each run's clock (processed_at, seconds, ledger_key)",
}


def _versions(home: Path) -> dict[str, str]:
    """table -> the names of the Parquet versions the home's current serving catalogue reads (one, or a table's
    parts: publish_snapshot's ``parts``)."""
    record = json.loads((home / "serving" / "snapshot.json").read_text())
    manifest = home / "serving" / Path(record["snapshot"]).with_suffix(".json")
    return {
        table: " ".join(Path(p).name for p in ([paths] if isinstance(paths, str) else paths))
        for table, paths in json.loads(manifest.read_text())["tables"].items()
    }


def compare(homes: dict[str, Path]) -> dict:
    duck, spark = (_versions(homes[e]) for e in ENGINES)
    differ = sorted(t for t in duck.keys() | spark.keys() if duck.get(t) != spark.get(t))
    return {
        "tables": len(duck.keys() | spark.keys()),
        "same": len(duck.keys() | spark.keys()) - len(differ),
        "apart_known": {t: KNOWN_APART[t] for t in differ if t in KNOWN_APART},
        "apart_unexplained": [t for t in differ if t not in KNOWN_APART],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    landing_arguments(ap, "the landing copies and homes")
    args = ap.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="zhili-bench-spark-"))
    generated = Path(args.generated) if args.generated else scratch / "generated"
    work = Path(args.work) if args.work else scratch / "work"
    try:
        generated.mkdir(parents=True, exist_ok=True)
        say(f"generating {args.residents} residents x {args.days + 1} days into {generated}")
        generate(generated, args.residents, args.days + 1, args.seed)
        src = generated / "landing"
        withheld = last_day(src)
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        env = dict(os.environ, ZHILI_SECRET_FILE=str(work / "secret.key"))
        env.pop("ZHILI_ENGINE", None)
        result = {
            "residents": args.residents,
            "days": args.days,
            "seed": args.seed,
            "machine": {
                "cpus": os.cpu_count(),
                "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                "python": platform.python_version(),
            },
            "runs": [],
        }
        homes = {}
        for engine in ENGINES:
            landing, homes[engine] = work / f"landing-{engine}", work / f"home-{engine}"
            held = split_landing(src, landing, withheld)
            for step in ("full build", "increment"):
                if step == "increment":
                    deliver(held, src, landing)
                say(f"{engine}: {step}")
                command = [*ZHILI, "run", "--landing", str(landing), "--home", str(homes[engine]), "--engine", engine]
                measured = run_measured(command, env=env)
                stages, _ = stages_of(measured, homes[engine])
                result["runs"].append(
                    {
                        "engine": engine,
                        "step": step,
                        "seconds": measured["wall"],
                        "peak_mb": measured["peak"] / 2**20,
                        "stages": {
                            s["stage"]: round(s["seconds"], 1)
                            for s in stages
                            if s["stage"] in ("linkage", "dbt build", "publish")
                        },
                        "ingest_seconds": round(
                            sum(s["seconds"] for s in stages if s["stage"].startswith("ingest ")), 1
                        ),
                    }
                )
        result["marts"] = compare(homes)
        _print(result)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(result, indent=1))
        return 0
    finally:
        if not args.work:
            shutil.rmtree(scratch, ignore_errors=True)


def _print(result: dict) -> None:
    m = result["machine"]
    print(
        f"\nzhili on DuckDB and on Spark: {result['residents']} residents, {result['days']} days + 1 ({m['cpus']} CPUs, {m['memory_gb']} GB)"
    )
    print(
        f"{'engine':<8} {'step':<12} {'wall s':>8} {'peak MB':>8} {'ingest s':>9} {'linkage s':>10} {'dbt s':>8} {'publish s':>10}"
    )
    for r in result["runs"]:
        s = r["stages"]
        print(
            f"{r['engine']:<8} {r['step']:<12} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f} {r['ingest_seconds']:>9.1f} "
            f"{s.get('linkage', float('nan')):>10.1f} {s.get('dbt build', float('nan')):>8.1f} {s.get('publish', float('nan')):>10.1f}"
        )
    by = {(r["engine"], r["step"]): r["seconds"] for r in result["runs"]}
    for step in ("full build", "increment"):
        print(f"{step}: Spark {by['spark', step] / by['duckdb', step]:.1f}x DuckDB's wall time")
    c = result["marts"]
    print(
        f"published tables the same on both engines: {c['same']} of {c['tables']}; apart for a known reason: "
        f"{', '.join(c['apart_known']) or 'none'}; apart unexplained: {', '.join(c['apart_unexplained']) or 'none'}"
    )


if __name__ == "__main__":
    sys.exit(main())
