"""Where one feed's files spend their ingestion time, phase by phase, on real files of a landing.

    .venv/bin/python benchmarks/profile_feed_files.py /work/bench/gen-1m-365/landing service_lists --files 10
    .venv/bin/python benchmarks/profile_feed_files.py LANDING credit_points --files 1 --skip 3 --gate --cprofile out.prof

Loads the landing's grid register into a fresh home, then takes ``--files`` of the feed's complete files
(in path order, after ``--skip``) through the project's own functions: ``stage_raw`` (verify, read the
file, write the raw zone), ``normalise_file`` (field rules, placement, pseudonyms), with ``--gate`` the GX
suite over the files together (``expectations.validate_many``, as ``zhili run`` batches them), and
``commit`` (normalised zone, person records, quarantine, ledger row). Prints each file's seconds per phase
and the medians; ``--cprofile`` writes a cProfile of all of it. Nothing is written to the landing. Issues
22 and 23 (docs/incremental_warehouse.md, "The feeds' shares").
"""

from __future__ import annotations

import argparse
import cProfile
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.feeds import GRID_FEED  # noqa: E402
from ingestion.grid_index import load_grid_index  # noqa: E402
from ingestion.landing import scan_landing  # noqa: E402
from ingestion.normalising import commit, normalise_file  # noqa: E402
from ingestion.planner import ingest_landing  # noqa: E402
from ingestion.staging import stage_raw  # noqa: E402
from ingestion.zones import Zones, ensure_zones  # noqa: E402

KEY = b"profile-feed-files-key-32-bytes!"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("landing", type=Path)
    ap.add_argument("feed")
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--gate", action="store_true", help="validate the files with their GX suite, as one batch")
    ap.add_argument("--cprofile", type=Path, help="write a cProfile of the phases here")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="profile-feed-"))
    try:
        zones = Zones(home)
        ensure_zones(zones)
        ingest_landing(args.landing, zones, key=KEY, feeds=[GRID_FEED])
        grid_index = load_grid_index(zones)
        prefixes = tuple(grid_index.prefixes) if grid_index is not None else ()
        scan = scan_landing(args.landing, loaded={})
        files = sorted((f for f in scan.complete if f.feed == args.feed), key=lambda f: f.rel)
        files = files[args.skip : args.skip + args.files]
        profile = cProfile.Profile() if args.cprofile else None
        if profile:
            profile.enable()
        rows, pending = [], []
        for landed in files:
            t0 = time.perf_counter()
            staged = stage_raw(landed, zones, loaded={})
            t1 = time.perf_counter()
            pending.append(normalise_file(staged, zones, key=KEY, grid_index=grid_index, address_prefixes=prefixes))
            rows.append({"file": landed.rel, "rows": staged.read.records, "stage": t1 - t0})
            rows[-1]["normalise"] = time.perf_counter() - t1
        verdicts = [None] * len(pending)
        gate = 0.0
        if args.gate and pending:
            from expectations import validate_many
            from expectations.gate import page_label, verdict_of

            validate_many(pending[0].table, [(pending[0].frame.head(0), "warm-up")], docs_dir=home / "docs")
            t = time.perf_counter()
            for table in dict.fromkeys(p.table for p in pending):
                at = [i for i, p in enumerate(pending) if p.table == table]
                items = [(pending[i].frame, page_label(table, pending[i].label)) for i in at]
                for i, validation in zip(at, validate_many(table, items, docs_dir=home / "docs"), strict=True):
                    verdicts[i] = verdict_of(table, validation)
            gate = (time.perf_counter() - t) / len(pending)
        for row, p, verdict in zip(rows, pending, verdicts, strict=True):
            t = time.perf_counter()
            commit(p, zones, verdict)
            row["commit"] = time.perf_counter() - t
        if profile:
            profile.disable()
            profile.dump_stats(args.cprofile)
        for row in rows:
            print(f"{row['file']}: {row['rows']} records, stage {row['stage']:.3f} s, normalise "
                  f"{row['normalise']:.3f} s, commit {row['commit']:.3f} s")  # fmt: skip
        if rows:
            med = {k: statistics.median(r[k] for r in rows) for k in ("stage", "normalise", "commit")}
            gx = f", GX gate {gate:.3f} s a file (batch of {len(rows)})" if args.gate else ""
            print(f"{args.feed}, median per file of {len(rows)}: stage {med['stage']:.3f} s, normalise "
                  f"{med['normalise']:.3f} s, commit {med['commit']:.3f} s{gx}")  # fmt: skip
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
