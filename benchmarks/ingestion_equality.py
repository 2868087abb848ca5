"""Does a change to ingestion change its output? Ingest one landing with two versions of the code, compare.

    # the code before, e.g. a commit exported with `git archive <commit> | tar -x -C /tmp/before`
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/ingestion_equality.py ingest LANDING /tmp/home-before
    .venv/bin/python benchmarks/ingestion_equality.py ingest LANDING /tmp/home-after
    .venv/bin/python benchmarks/ingestion_equality.py compare /tmp/home-before /tmp/home-after

``ingest`` loads every feed of LANDING into a fresh HOME (grid register first, a fixed pseudonym key), each
feed's files through stage_raw, normalise_file, the GX gate batched as ``zhili run`` batches it
(expectations.gate.GateBatch) and commit; no dbt. It prints each feed's files and seconds. ``compare``
checks that the raw, normalised, held, quarantine and person-record Parquet files are the same files with
the same bytes (or, failing that, equal frames), that the readers' facts beside the raw zone are equal (a
``*.normalised.json``'s ``fingerprint`` aside: it is a digest of the normalising code, so it differs by
design), and that the ledger rows are equal but for ``seconds`` and ``processed_at``. Exit status 1 on any
difference. Used for issues 22 and 23 (docs/incremental_warehouse.md, "The feeds' shares").
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import polars as pl

if not os.environ.get("PYTHONPATH"):  # with PYTHONPATH, the code it names is the code measured
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ZONES = ("raw", "normalised", "held", "quarantine", "restricted/person_records")
LEDGER_TIMES = ("seconds", "processed_at")


def ingest(landing: Path, home: Path) -> None:
    import ingestion
    from expectations.gate import GateBatch, GateLog
    from ingestion.feeds import FEEDS, GRID_FEED
    from ingestion.grid_index import load_grid_index
    from ingestion.ledger import FileOutcome, write_ledger
    from ingestion.normalise import INCREMENTAL
    from ingestion.normalising import commit, normalise_file
    from ingestion.planner import plan_landing
    from ingestion.staging import stage_raw
    from ingestion.zones import Zones, ensure_zones

    print("code:", Path(ingestion.__file__).parent)
    shutil.rmtree(home, ignore_errors=True)
    zones = Zones(home)
    ensure_zones(zones)
    plan = plan_landing(landing, zones)
    loaded = dict(plan.loaded)
    key = b"ingestion-equality-check-key-32b"
    grid_index = None
    for feed, due in plan.due.items():
        started = time.perf_counter()
        if feed != GRID_FEED and grid_index is None:
            grid_index = load_grid_index(zones)
        prefixes = tuple(grid_index.prefixes) if grid_index is not None else ()
        one_at_a_time = any(t.table in INCREMENTAL for t in FEEDS[feed].tables)
        with GateBatch(zones.validations, GateLog(), max_files=1 if one_at_a_time else 64) as batch:
            for d in due:
                staged = stage_raw(d.landed, zones, loaded=loaded)
                if isinstance(staged, FileOutcome):
                    if staged.status in ("rejected", "duplicate", "empty"):
                        write_ledger(zones, staged)
                    continue
                loaded[staged.md5] = d.landed.rel

                def prepare(staged=staged, prefixes=prefixes):
                    pending = normalise_file(staged, zones, key=key, grid_index=grid_index, address_prefixes=prefixes)
                    return pending, lambda verdict: commit(pending, zones, verdict)

                batch.submit(d.landed.rel, prepare)
            batch.close()
        print(f"{feed}: {len(due)} files, {time.perf_counter() - started:.1f} s", flush=True)


def _meta(path: Path) -> dict:
    found = json.loads(path.read_text())
    if path.name.endswith(".normalised.json"):
        found.pop("fingerprint", None)
    return found


def _ledger(home: Path) -> pl.DataFrame:
    files = sorted((home / "ledger").glob("*.parquet"))
    rows = pl.concat([pl.read_parquet(p) for p in files], how="diagonal_relaxed").drop(LEDGER_TIMES, strict=False)
    return rows.select(sorted(rows.columns)).sort(pl.all().cast(pl.String), nulls_last=True)


def compare(a: Path, b: Path) -> int:
    differences = files = same_bytes = 0
    for zone in ZONES:
        in_a = {p.relative_to(a) for p in (a / zone).rglob("*.parquet")}
        in_b = {p.relative_to(b) for p in (b / zone).rglob("*.parquet")}
        for rel in sorted(in_a ^ in_b):
            print(f"only in {'the first' if rel in in_a else 'the second'}: {rel}")
            differences += 1
        for rel in sorted(in_a & in_b):
            files += 1
            if (a / rel).read_bytes() == (b / rel).read_bytes():
                same_bytes += 1
                continue
            x, y = pl.read_parquet(a / rel), pl.read_parquet(b / rel)
            if x.schema != y.schema or not x.equals(y):
                print(f"different: {rel} {x.shape} {y.shape}")
                differences += 1
    for path in sorted((a / "raw").rglob("*.json")):
        other = b / path.relative_to(a)
        if not other.exists() or _meta(path) != _meta(other):
            print(f"different reader facts: {path.relative_to(a)}")
            differences += 1
    ledger_a, ledger_b = _ledger(a), _ledger(b)
    if not ledger_a.equals(ledger_b):
        print(f"different ledger rows ({ledger_a.height} and {ledger_b.height})")
        differences += 1
    print(f"{files} Parquet files compared ({same_bytes} byte-identical), {ledger_a.height} ledger rows: "
          f"{differences} differences")  # fmt: skip
    return 1 if differences else 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("ingest", "compare"):
        sys.exit(__doc__)
    if sys.argv[1] == "ingest":
        ingest(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
