"""What the gate costs a weekly register snapshot: the whole file through GX, against judging it by its changes.

    .venv/bin/python benchmarks/bench_versions_gate.py --residents 30000 --days 22 --seed 4
    .venv/bin/python benchmarks/bench_versions_gate.py --residents 3000 --days 30 --seed 11 --versions-only

First prints the register's versions against its snapshot rows (what the versions store saves).

Generates a district (kept under --out), loads its register without a gate, then for every snapshot after
the first gates it twice: ``validate`` (every expectation on every row, as before issue 20) and
``validate_many(judge=...)`` (schema, locator, rates and keys from aggregates over the file, GX row rules on
the rows new or changed against the snapshot before: ingestion.versions.rows_to_judge). The GX context is
built before timing. Prints seconds per snapshot; a benchmark that prints figures, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TABLE = "police_population"


def main(argv: list[str] | None = None) -> None:
    from expectations.runner import validate, validate_many
    from ingestion.generator import generate
    from ingestion.ledger import read_ledger
    from ingestion.planner import ingest_landing
    from ingestion.pseudonym import load_or_create_key
    from ingestion.versions import load_store, rows_to_judge
    from ingestion.zones import Zones

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=30000)
    parser.add_argument("--days", type=int, default=22)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--versions-only", action="store_true", help="print the versions line, time no gate")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "zhili-bench-versions-gate")
    args = parser.parse_args(argv)
    gen = args.out / f"gen-{args.residents}x{args.days}-{args.seed}"
    if not (gen / "landing").exists():
        generate(gen, residents=args.residents, days=args.days, seed=args.seed)
    zones = Zones(args.out / f"home-{args.residents}x{args.days}-{args.seed}")
    ingest_landing(gen / "landing", zones, key=load_or_create_key(zones.secret_file), feeds=["grid_registry", TABLE])
    store = load_store(zones, TABLE)
    snaps = sorted(store.snapshots, key=store.snapshots.get)
    ledger = read_ledger(zones).filter((pl.col("feed") == TABLE) & (pl.col("status") == "loaded"))
    rows = int(ledger["rows_normalised"].sum())
    print(
        f"{args.residents} residents x {args.days} days seed {args.seed}: {store.versions.height} versions for "
        f"{rows} snapshot rows ({len(snaps)} snapshots)"
    )
    if args.versions_only:
        return
    docs = args.out / "validations"
    first = pl.read_parquet(zones.normalised(TABLE, snaps[0].split("@")[0]))
    validate(TABLE, first.head(50), docs_dir=docs, label="warm-up")  # GX import and context: not timed
    print(f"{args.residents} residents x {args.days} days seed {args.seed}: gate seconds per register snapshot")
    print(f"{'snapshot':<12} {'rows':>8} {'judged':>8} {'whole file':>11} {'by changes':>11}")
    for snap in snaps[1:]:
        md5, when = snap.split("@")[0], store.snapshots[snap]
        frame = pl.read_parquet(zones.normalised(TABLE, md5))
        absent = json.loads(zones.raw_meta(TABLE, md5, "json").read_text()).get("absent_columns", [])
        started = time.perf_counter()
        whole = validate(TABLE, frame, docs_dir=docs, label=f"whole-{md5}")
        t_whole = time.perf_counter() - started
        started = time.perf_counter()
        judge = rows_to_judge(zones, TABLE, md5, when, frame, absent=absent)
        quick = validate_many(TABLE, [(frame, f"changes-{md5}")], docs_dir=docs, judge=[judge])[0]
        t_quick = time.perf_counter() - started
        assert quick.success == whole.success
        print(
            f"{when.isoformat():<12} {frame.height:>8} {quick.judged_rows if quick.judged_rows is not None else '-':>8}"
            f" {t_whole:>10.2f}s {t_quick:>10.2f}s"
        )


if __name__ == "__main__":
    main()
