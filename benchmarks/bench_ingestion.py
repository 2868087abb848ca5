"""Ingestion throughput and quality against the generator's truth.

    .venv/bin/python benchmarks/bench_ingestion.py --residents 30000 --days 60
    .venv/bin/python benchmarks/bench_ingestion.py --generated /tmp/gen-1m   # reuse a generated folder

Prints, per feed: files, records, seconds, records/s, CPU seconds (all threads:
steadier than wall time on a shared machine), and the same files read by a
bare Polars reader (``pl.read_csv`` / ``pl.read_ndjson`` / ``pl.read_excel``)
measured in the same run, with the ratio; the peak RSS of
the process; and, scored against ``truth/``: share of personal records with a
valid normalised ID (and the statuses of the rest), share of events placed in
their true grid (and of those at buildings the reorganisation moved between existing grids), share of
residents placed in their true grid (first register snapshot: home grid then; latest: current grid).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.feeds import FEED_ORDER as ORDER  # noqa: E402
from ingestion.generator import generate  # noqa: E402
from ingestion.planner import ingest_landing  # noqa: E402
from ingestion.pseudonym import load_or_create_key  # noqa: E402
from ingestion.zones import Zones  # noqa: E402

_VALID = ["valid", "upgraded_15", "foreign_valid", "rescued_cert"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_read(path: Path) -> int:
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy", truncate_ragged_lines=True).height
    if path.suffix == ".jsonl":
        return sum(1 for _ in path.open("rb"))  # pl.read_ndjson stops at the first broken line
    if path.suffix == ".xlsx":
        return sum(f.height for f in pl.read_excel(path, sheet_id=0, has_header=False).values())
    return 0


def complete_files(landing: Path, feed: str) -> list[Path]:
    return sorted(p.with_suffix("") for p in (landing / feed).rglob("*.ok"))


def score(zones: Zones, truth: Path) -> list[str]:
    """Quality against the truth; lazy scans of the columns it needs, so it fits at 1M x 365 (53M records)."""
    lines = []
    records = pl.scan_parquet(str(zones.person_records() / "*.parquet")).select(
        "feed", "file", "record_no", "id_status", "grid_code"
    )
    counts = records.group_by("feed", "id_status").len().collect()
    total = counts["len"].sum()
    is_valid = pl.col("id_status").is_in(_VALID)
    valid = counts.filter(is_valid)["len"].sum()
    lines.append(f"personal records: {total}; with a valid normalised ID: {valid} ({valid / max(total, 1):.2%})")
    rest = counts.filter(~is_valid).sort("feed", "len", descending=[False, True])
    for feed, status, n in rest.iter_rows():
        lines.append(f"  not valid: {feed:<18} {status:<16} {n:>8} ({n / max(total, 1):.3%})")

    events = pl.read_parquet(truth / "events.parquet")
    placed = pl.concat(
        [
            pl.scan_parquet(str(zones.normalised(t) / "*.parquet"))
            .select("feed", "file", "record_no", "grid_code", "placement_method", "address_code")
            .collect()
            for t in ("police_incidents", "grid_events", "petitions")
        ]
    )
    joined = placed.join(
        events.select("feed", "file", "record_no", pl.col("grid_code").alias("true_grid"), "placement_hint"),
        on=["feed", "file", "record_no"],
    )
    for hint, frame in sorted(joined.group_by("placement_hint"), key=lambda kv: str(kv[0])):
        share = frame.select((pl.col("grid_code") == pl.col("true_grid")).fill_null(False).mean()).item()
        lines.append(f"events with {hint[0]!s:<15}: {frame.height:>8}, in their true grid {share:.2%}")
    locatable = joined.filter(pl.col("placement_hint").is_in(["address_point", "coordinate"]))
    share = locatable.select((pl.col("grid_code") == pl.col("true_grid")).fill_null(False).mean()).item()
    lines.append(f"events with an address point or coordinate placed in their true grid: {share:.2%}")
    # buildings the reorganisation moved between two grids that exist before and after it (no code created
    # or retired): their events must be placed by the grid of the day, not the building's latest grid
    truth_points = pl.read_parquet(truth / "address_points.parquet").select("address_code", "grid_before", "grid_after")
    grids = pl.read_parquet(truth / "grids.parquet")
    steady = grids.filter(pl.col("valid_to").is_null() & (pl.col("valid_from") == pl.col("valid_from").min()))[
        "grid_code"
    ]
    moved = truth_points.filter(
        (pl.col("grid_before") != pl.col("grid_after"))
        & pl.col("grid_before").is_in(steady.implode())
        & pl.col("grid_after").is_in(steady.implode())
    )
    at_moved = (
        placed.select("feed", "file", "record_no", "address_code")
        .join(moved.select("address_code"), on="address_code")
        .join(joined, on=["feed", "file", "record_no"])
    )
    share = at_moved.select((pl.col("grid_code") == pl.col("true_grid")).fill_null(False).mean()).item()
    lines.append(
        f"events placed at a building reassigned between existing grids ({moved.height} buildings): "
        f"{at_moved.height}, in their true grid {share if share is not None else float('nan'):.2%}"
    )

    register = records.filter(pl.col("feed") == "police_population")
    first_file = register.select(pl.col("file").min()).collect().item()
    persons = (
        pl.scan_parquet(truth / "persons.parquet")
        .filter(pl.col("is_resident"))
        .select("person_id", pl.col("grid_code").alias("true_grid"))
    )
    truth_records = (
        pl.scan_parquet(truth / "person_records.parquet")
        .filter((pl.col("feed") == "police_population") & (pl.col("file") == first_file))
        .select("file", "record_no", "person_id")
    )
    first = (
        register.filter(pl.col("file") == first_file)
        .join(truth_records, on=["file", "record_no"])
        .join(persons, on="person_id")
        .select(n=pl.len(), share=(pl.col("grid_code") == pl.col("true_grid")).fill_null(False).mean())
        .collect()
    )
    lines.append(
        f"residents (first register snapshot, {first['n'].item()} records) placed in their true home grid: {first['share'].item():.2%}"
    )
    # the latest snapshot against each person's current true grid (their building's grid after the reorganisation)
    last_file = register.select(pl.col("file").max()).collect().item()
    current = (
        pl.scan_parquet(truth / "persons.parquet")
        .filter(pl.col("is_resident"))
        .select("person_id", "address_code")
        .join(
            pl.scan_parquet(truth / "address_points.parquet").select(
                "address_code", pl.col("grid_after").alias("true_grid")
            ),
            on="address_code",
        )
    )
    truth_last = (
        pl.scan_parquet(truth / "person_records.parquet")
        .filter((pl.col("feed") == "police_population") & (pl.col("file") == last_file))
        .select("file", "record_no", "person_id")
    )
    last = (
        register.filter(pl.col("file") == last_file)
        .join(truth_last, on=["file", "record_no"])
        .join(current, on="person_id")
        .select(n=pl.len(), share=(pl.col("grid_code") == pl.col("true_grid")).fill_null(False).mean())
        .collect()
    )
    lines.append(
        f"residents (latest register snapshot, {last['n'].item()} records) placed in their true current grid: {last['share'].item():.2%}"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=30000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=20241101)
    parser.add_argument("--generated", type=Path, help="an existing generate --out folder")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--feeds",
        nargs="+",
        choices=ORDER,
        help="only these feeds (grid_registry is loaded first whenever another feed is asked)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="zhili-bench-"))
    generated = args.generated
    if generated is None:
        generated = work / "gen"
        t = time.perf_counter()
        generate(generated, residents=args.residents, days=args.days, seed=args.seed)
        print(f"generated {args.residents} residents x {args.days} days in {time.perf_counter() - t:.1f} s")
    landing = generated / "landing"
    zones = Zones(work / "home")
    key = load_or_create_key(zones.secret_file)

    feeds = [f for f in ORDER if args.feeds is None or f in args.feeds or f == "grid_registry"]
    print(
        f"{'feed':<18} {'files':>5} {'records':>10} {'seconds':>8} {'rec/s':>10} {'cpu s':>8} | {'bare s':>7} {'bare cpu':>8} {'ratio':>6}"
    )
    total_t = total_cpu = 0.0
    for feed in feeds:
        files = complete_files(landing, feed)
        t, c = time.perf_counter(), time.process_time()
        bare_rows = sum(bare_read(p) for p in files)
        bare, bare_cpu = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        outcomes = ingest_landing(landing, zones, key=key, feeds=[feed])
        secs, cpu = time.perf_counter() - t, time.process_time() - c
        total_t += secs
        total_cpu += cpu
        recs = sum(o.records_read or 0 for o in outcomes if o.feed == feed)
        unbalanced = sum(1 for o in outcomes if o.status == "loaded" and not o.is_balanced)
        print(
            f"{feed:<18} {len(files):>5} {recs:>10} {secs:>8.2f} {recs / max(secs, 1e-9):>10.0f} {cpu:>8.2f} | {bare:>7.2f} {bare_cpu:>8.2f} {secs / max(bare, 1e-9):>6.1f}x"
            + (f"  UNBALANCED {unbalanced}" if unbalanced else "")
            + f"  (bare rows {bare_rows})"
        )
    print(
        f"ingestion total {total_t:.1f} s, {total_cpu:.1f} CPU s; peak RSS {peak_rss_mb():.0f} MB (2 cores, 24 GB; "
        f"load average at the end {os.getloadavg()[0]:.1f})"
    )
    if args.feeds is None:
        for line in score(zones, generated / "truth"):
            print(line)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
