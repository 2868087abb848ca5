"""Memory and time of stamping and writing the links (``ingestion.linkage.core.write_links``): the step
where a whole linkage run peaks. The stamp this code writes against the one it replaced (a join of both
runs' links on the ``record_locator`` text carrying every link column), on the same synthetic links.

    .venv/bin/python benchmarks/bench_link_stamp.py                    # 2M records
    .venv/bin/python benchmarks/bench_link_stamp.py --rows 19100000    # a million residents' year

Writes a previous run's links file and this run's links (``--rows`` records in ``--files`` person-record
files, as linkage writes them: locator columns, ``record_locator``, a person key and link columns shared by
the records of a profile), where ``--removed-files`` of the previous files are gone, ``--new-files`` files
are new and ``--changed`` records of the kept files have another link. Then stamps and writes this run's
links once with each stamp, each in a child process of its own (so neither inherits the other's peak), and
prints wall time and peak RSS of each, and whether the two files hold the same rows in the same order.
Scratch files go under ``--dir`` (default: a temporary folder) and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.linkage.core import LINK_RUN_KEY, last_link_run, write_links  # noqa: E402
from ingestion.linkage.features import LOCATOR, record_locator  # noqa: E402
from tests.unit.ingestion.linkage.test_linkage_link_runs import stamp_by_locator_text  # noqa: E402

_FEEDS = ["police_population", "civil_affairs", "petitions", "grid_events", "police_incidents"]
# the runs before this one: the previous file's files arrived one run after another
_RUNS = 365


def _links(files: pl.DataFrame, *, rows: int, changed: int) -> pl.LazyFrame:
    """One row per record of ``files`` (``file_no``, ``n``: records), with the link of its profile; ``changed``
    of every ``rows`` records (by a hash of the locator) take another link."""
    persons = max(1, rows // 19)
    h = pl.col("record_locator").hash(seed=7)
    pid = (h % persons).alias("pid")
    # a person's records fall in a few profiles; probabilistic links differ by profile
    variant = (h // persons % 3).alias("variant")
    kind = pl.col("pid").hash(seed=11) % 100
    method = (
        pl.when(kind < 80)
        .then(pl.lit("id_number"))
        .when(kind < 88)
        .then(pl.lit("probabilistic"))
        .when(kind < 95)
        .then(pl.lit("singleton"))
        .otherwise(pl.lit("register_entry"))
    )
    probabilistic = pl.col("link_method") == "probabilistic"
    profile_hash = pl.struct("pid", "variant").hash(seed=13)
    frame = (
        files.lazy()
        .with_columns(pl.int_ranges(0, "n").alias("i"))
        .explode("i")
        .with_columns(
            pl.when(pl.col("feed") == "police_population")
            .then(pl.col("i") // 2 + 1)
            .otherwise(pl.col("i") + 1)
            .cast(pl.Int64)
            .alias("record_no"),
            pl.when(pl.col("feed") == "police_population")
            .then(pl.col("i") % 2 + 1)
            .otherwise(1)
            .cast(pl.Int32)
            .alias("member_no"),
        )
        .with_columns(record_locator().alias("record_locator"))
        .with_columns(pid, variant)
        .with_columns(
            pl.format(
                "{}{}",
                pl.col("pid").hash(seed=1).cast(pl.String).str.zfill(20),
                pl.col("pid").hash(seed=2).cast(pl.String).str.slice(0, 6),
            ).alias("person_key"),
            method.alias("link_method"),
        )
        .with_columns(
            pl.when(probabilistic).then(0.9 + (profile_hash % 1000) / 10_000).alias("match_probability"),
            pl.when(probabilistic).then(6.0 + (profile_hash % 1000) / 100).alias("match_weight"),
            pl.when(pl.col("link_method") == "id_number")
            .then(pl.lit("valid_id:valid"))
            .when(probabilistic)
            .then(pl.lit("splink:block_on(name_py, birth)"))
            .when(pl.col("link_method") == "register_entry")
            .then(pl.lit("same_register_entry"))
            .otherwise(pl.lit("no_link"))
            .alias("rule"),
            (pl.col("pid").hash(seed=3) % 40 + 1).cast(pl.Int64).alias("cluster_records"),
        )
        .with_columns(
            # an unlinked record: no person key
            pl.when(pl.col("link_method") != "singleton").then(pl.col("person_key")).alias("person_key")
        )
    )
    if changed:
        moved = h.hash(seed=5) % max(1, rows // changed) == 0
        frame = frame.with_columns(
            pl.when(moved).then(pl.col("cluster_records") + 1).otherwise(pl.col("cluster_records")),
            # some move to another person, or from none to one
            pl.when(moved & (h % 4 == 0))
            .then(pl.lit("x") + pl.col("record_locator").str.slice(20, 25))
            .otherwise(pl.col("person_key"))
            .alias("person_key"),
        )
    return frame.select(
        *LOCATOR,
        "record_locator",
        "person_key",
        "link_method",
        "match_probability",
        "match_weight",
        "rule",
        "cluster_records",
        pl.col("file_no"),
    )


def generate(folder: Path, *, rows: int, files: int, new_files: int, removed_files: int, changed: int) -> None:
    """``folder/previous/links.parquet`` (as the last run wrote it) and ``folder/current.parquet`` (this
    run's links, unstamped)."""
    total = files + new_files
    per = max(1, rows // files)
    table = pl.DataFrame({"file_no": range(total)}).with_columns(
        pl.col("file_no").cast(pl.Int64),
        pl.col("file_no").map_elements(lambda n: _FEEDS[n % len(_FEEDS)], return_dtype=pl.String).alias("feed"),
        # file sizes vary around the mean: a register snapshot is larger than a day's incidents
        (per // 2 + pl.col("file_no").hash(seed=9) % per).cast(pl.Int64).alias("n"),
    )
    table = table.with_columns(
        (pl.col("feed") + "_" + pl.col("file_no").cast(pl.String).str.zfill(5) + ".xlsx").alias("file"),
        pl.concat_str(pl.col("file_no").cast(pl.String), pl.lit("zhili")).hash(seed=4).cast(pl.String).alias("_h"),
        pl.when(pl.col("feed").is_in(["police_population", "civil_affairs"])).then(pl.lit("Sheet1")).alias("sheet"),
    ).with_columns(
        # a 32-hex md5 per file
        pl.col("_h")
        .map_elements(lambda s: hashlib.md5(s.encode()).hexdigest(), return_dtype=pl.String)
        .alias("file_md5")
    )
    old = table.filter(pl.col("file_no") < files)
    now = table.filter(pl.col("file_no") >= removed_files)
    (folder / "previous").mkdir(parents=True, exist_ok=True)
    # each previous file's records were stamped when it arrived; some moved in a later run
    h = pl.col("record_locator").hash(seed=8)
    arrived = 1 + pl.col("file_no") * (_RUNS - 1) // max(1, files - 1)
    later = arrived + h % (_RUNS - arrived + 1)
    previous = _links(old, rows=rows, changed=0).with_columns(
        pl.when(h % 50 == 0).then(later).otherwise(arrived).cast(pl.Int64).alias("link_run")
    )
    previous.drop("file_no").sink_parquet(
        folder / "previous" / "links.parquet",
        compression="zstd",
        statistics=True,
        engine="streaming",
        metadata={LINK_RUN_KEY: str(_RUNS)},
    )
    current = _links(now, rows=rows, changed=changed).drop("file_no")
    current.sink_parquet(folder / "current.parquet", compression="zstd", engine="streaming")


def _stamp_by_locator_text(links: pl.LazyFrame, previous: Path) -> tuple[pl.LazyFrame, int]:
    """``stamp_runs`` as it was before this benchmark (commit 1cee9cb): the join on ``record_locator``, the
    reference the unit test holds the stamp to, here lazy as ``stamp_runs`` is."""
    this_run = last_link_run(previous) + 1
    before = pl.scan_parquet(previous) if this_run > 1 else None
    return stamp_by_locator_text(links, before, this_run), this_run


def _child(variant: str, folder: Path) -> None:
    """Stamp and write ``folder/current.parquet`` against a link to the previous file in
    ``folder/<variant>/``; print seconds and peak RSS as JSON."""
    out = folder / variant
    out.mkdir(exist_ok=True)
    # a hard link: the write replaces it (written aside, renamed), the previous file stays as it was
    os.link(folder / "previous" / "links.parquet", out / "links.parquet")
    stamp = None if variant == "new" else _stamp_by_locator_text
    t0 = time.perf_counter()
    write_links(pl.scan_parquet(folder / "current.parquet"), out, stamp=stamp)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak}))


def _run_child(variant: str, folder: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--dir", str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same_rows(a: Path, b: Path, *, batch: int = 2_000_000) -> tuple[bool, bool]:
    """(same rows in the same order, same rows in some order), a batch at a time; the unordered check
    (sorted by locator, in memory) only when the ordered one fails."""
    n = pl.scan_parquet(a).select(pl.len()).collect().item()
    if n != pl.scan_parquet(b).select(pl.len()).collect().item():
        return False, False
    in_order = all(
        pl.scan_parquet(a).slice(k, batch).collect().equals(pl.scan_parquet(b).slice(k, batch).collect())
        for k in range(0, n, batch)
    )
    if in_order:
        return True, True
    return False, pl.read_parquet(a).sort("record_locator").equals(pl.read_parquet(b).sort("record_locator"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="records in the previous run's links")
    parser.add_argument("--files", type=int, default=2_700, help="person-record files the previous run linked")
    parser.add_argument("--new-files", type=int, default=10, help="files new to this run")
    parser.add_argument("--removed-files", type=int, default=2, help="previous files withdrawn")
    parser.add_argument("--changed", type=int, default=5_000, help="records of kept files whose link moves")
    parser.add_argument("--dir", type=Path, help="scratch folder (default: a temporary one), deleted afterwards")
    parser.add_argument("--child", choices=["old", "new"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.dir)
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-link-stamp-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        generate(
            folder,
            rows=args.rows,
            files=args.files,
            new_files=args.new_files,
            removed_files=args.removed_files,
            changed=args.changed,
        )
        previous = pl.scan_parquet(folder / "previous" / "links.parquet").select(pl.len()).collect().item()
        current = pl.scan_parquet(folder / "current.parquet").select(pl.len()).collect().item()
        print(
            f"generated in {time.perf_counter() - t0:.0f}s: previous {previous:,} rows, current {current:,} rows "
            f"({args.files:,} files, {args.new_files} new, {args.removed_files} withdrawn, ~{args.changed:,} moved)"
        )
        figures = {variant: _run_child(variant, folder) for variant in ("old", "new")}
        for variant, label in (("old", "join on record_locator text"), ("new", "join on integer locator")):
            f = figures[variant]
            print(f"{variant}  {label:30s} {f['seconds']:7.1f} s  {f['peak_rss_mb']:8.0f} MB peak RSS")
        old, new = folder / "old" / "links.parquet", folder / "new" / "links.parquet"
        in_order, same = _same_rows(old, new)
        meta = [pl.read_parquet_metadata(p).get(LINK_RUN_KEY) for p in (old, new)]
        this_run = int(meta[1])
        fresh = pl.scan_parquet(new).filter(pl.col("link_run") == this_run).select(pl.len()).collect().item()
        print(
            f"same rows in the same order: {in_order}; same rows: {same}; same {LINK_RUN_KEY}: "
            f"{meta[0] == meta[1]} ({meta[1]}); records stamped with this run: {fresh:,}"
        )
        if not same or meta[0] != meta[1]:
            sys.exit("the two stamps differ")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
