"""Person linkage quality and cost against the generator's truth, with a plain Splink yardstick.

    .venv/bin/python benchmarks/bench_linkage.py --residents 100000 --days 30
    .venv/bin/python benchmarks/bench_linkage.py --generated /tmp/gen-100k   # reuse a generated + ingested folder
    .venv/bin/python benchmarks/bench_linkage.py --generated .bench/gen-100000-365 --home /tmp/home-100k
        # a generated folder read-only: ingest (once) into a home of your own

Generates a landing, ingests it, then on the same normalised person records
runs (1) ``ingestion.linkage.core.link_files`` (as ``zhili run`` does) and (2) a plain Splink model —
standard comparisons (NameComparison, DateOfBirthComparison, ExactMatch on
phone, LevenshteinAtThresholds on the address and ExactMatch on the ID
number), default settings, no Chinese-specific normalisation — trained the
same way (u by random sampling, m by EM, λ from deterministic rules) and
clustered at match probability 0.99. Prints pairwise precision, recall and
F1 of "same person" overall and for pairs that involve a record without a
valid ID, with wall time and peak RSS of each (each measured in a child
process, so one does not inherit the other's peak).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.generator import generate  # noqa: E402
from ingestion.linkage.features import LOCATOR, VALID_ID_STATUSES  # noqa: E402
from ingestion.pipeline import ingest_landing  # noqa: E402
from ingestion.pseudonym import load_or_create_key  # noqa: E402
from ingestion.zones import Zones  # noqa: E402

_JOIN = ["feed", "file", "sheet", "record_no", "member_no"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _records(home: Path) -> pl.LazyFrame:
    return pl.scan_parquet(sorted((home / "restricted" / "person_records").glob("*.parquet")), missing_columns="insert")


def _ours(home: Path, out: Path, queue) -> None:
    from ingestion.linkage.core import link_files

    # as ``zhili run`` does: the records are streamed from the zone, never all in memory
    files = sorted((home / "restricted" / "person_records").glob("*.parquet"))
    key = load_or_create_key(Zones(home).secret_file)
    folder = out.with_suffix("")
    t = time.perf_counter()
    result = link_files(files, folder, key=key)
    seconds = time.perf_counter() - t
    pl.scan_parquet(folder / "links.parquet").select(*LOCATOR, pl.col("person_key").alias("cluster")).sink_parquet(out)
    queue.put({"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "review": result.review.height,
               "stats": {k: v for k, v in result.stats.items() if k != "m_u"}})


def _plain_splink(home: Path, out: Path, queue) -> None:
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t = time.perf_counter()
    frame = _records(home).select(
        *LOCATOR,
        pl.col("name"),
        pl.col("birth_date"),
        pl.col("phone"),
        pl.col("address_canonical").alias("address"),
        pl.when(pl.col("id_status").is_in(VALID_ID_STATUSES)).then(pl.col("id_number")).alias("id_number"),
    )
    # identical rows are one comparison unit (a no-op for quality, needed for the run to finish)
    features = ["name", "birth_date", "phone", "address", "id_number"]
    units = frame.select(features).unique().collect(engine="streaming").sort(features, nulls_last=True).with_row_index("unique_id")
    con = duckdb.connect()
    con.register("u_arrow", units.to_arrow())
    con.execute("create table units as select * from u_arrow")
    db = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("name"),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
            cl.ExactMatch("phone"),
            cl.LevenshteinAtThresholds("address", [1, 2]),
            cl.ExactMatch("id_number"),
        ],
        blocking_rules_to_generate_predictions=[block_on("id_number"), block_on("birth_date"), block_on("phone"), block_on("name")],
    )
    linker = Linker(db.register("units"), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match([block_on("id_number"), block_on("name", "birth_date")], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=42)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"), max_pairs=5e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone"), max_pairs=5e6)
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold_match_probability=0.99)
    cl_frame = pl.from_arrow(con.sql(f"select unique_id, cluster_id from {clusters.physical_name}").to_arrow_table())
    seconds = time.perf_counter() - t
    cluster_of = units.join(cl_frame, on="unique_id").select(*features, pl.col("cluster_id").cast(pl.String).alias("cluster"))
    frame.join(cluster_of.lazy(), on=features, nulls_equal=True).select(*LOCATOR, "cluster").sink_parquet(out)
    queue.put({"seconds": seconds, "peak_rss_mb": _peak_rss_mb()})


def _run(target, home: Path, out: Path) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(home, out, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _pairs(n: pl.Expr) -> pl.Expr:
    return (n * (n - 1) // 2).sum()


def pairwise(clusters: pl.DataFrame, truth: pl.DataFrame, records: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Pairwise precision/recall/F1 overall and over pairs that involve at least one record without a valid ID."""
    # records whose truth has no person (people from outside the generated population) cannot be scored
    f = (
        clusters.join(truth.filter(pl.col("person_id").is_not_null()).select(*_JOIN, "person_id"), on=_JOIN, how="inner")
        .join(records.select(*_JOIN, pl.col("id_status").is_in(VALID_ID_STATUSES).alias("valid")), on=_JOIN, how="inner")
    )

    def counts(frame: pl.DataFrame) -> tuple[int, int, int]:
        tp = frame.group_by("cluster", "person_id").len().select(_pairs(pl.col("len"))).item()
        pred = frame.group_by("cluster").len().select(_pairs(pl.col("len"))).item()
        true = frame.group_by("person_id").len().select(_pairs(pl.col("len"))).item()
        return tp, pred, true

    out = {}
    all_c = counts(f)
    valid_c = counts(f.filter(pl.col("valid")))
    for label, (tp, pred, true) in {"overall": all_c, "without valid ID": tuple(a - b for a, b in zip(all_c, valid_c))}.items():
        precision = tp / pred if pred else 1.0
        recall = tp / true if true else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1": f1, "true_pairs": true, "predicted_pairs": pred}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--generated", type=Path, help="reuse a folder holding landing/, truth/ and home/ (ingested)")
    ap.add_argument("--home", type=Path, help="the ingested home to use (default: <generated>/home); ingested first if empty")
    ap.add_argument("--skip-plain", action="store_true", help="do not run the plain Splink yardstick")
    args = ap.parse_args(argv)

    if args.generated:
        base = args.generated
    else:
        base = Path(tempfile.mkdtemp(prefix="bench-linkage-"))
        t = time.perf_counter()
        generate(base, residents=args.residents, days=args.days, seed=args.seed)
        print(f"generated {args.residents} residents x {args.days} days in {time.perf_counter() - t:.1f}s -> {base}")
    if not (base / "landing").is_dir() or not (base / "truth" / "person_records.parquet").is_file():
        ap.error(f"{base} holds no generated landing/ and truth/person_records.parquet")
    home = args.home or base / "home"
    if not (home / "restricted" / "person_records").exists():
        zones = Zones(home)
        t = time.perf_counter()
        ingest_landing(base / "landing", zones, key=load_or_create_key(zones.secret_file))
        print(f"ingested in {time.perf_counter() - t:.1f}s")
    # the parent keeps only what scoring needs: the children each read the full records themselves
    records = pl.read_parquet(
        sorted((home / "restricted" / "person_records").glob("*.parquet")), columns=[*_JOIN, "id_status"], missing_columns="insert"
    )
    truth = pl.read_parquet(base / "truth" / "person_records.parquet", columns=[*_JOIN, "person_id"])
    no_valid = records.filter(~pl.col("id_status").is_in(VALID_ID_STATUSES)).height
    scored = records.join(truth, on=_JOIN)
    print(f"person records: {records.height} ({no_valid} without a valid ID); true persons among them: "
          f"{scored.select(pl.col('person_id').drop_nulls().n_unique()).item()}; "
          f"records without a true person (not scored): {scored.filter(pl.col('person_id').is_null()).height}")

    rows = []
    runs = [("zhili linkage", _ours)] + ([] if args.skip_plain else [("plain Splink", _plain_splink)])
    for label, target in runs:
        out = home / f"bench_{target.__name__.strip('_')}.parquet"  # beside the home: a reused landing stays read-only
        info = _run(target, home, out)
        scores = pairwise(pl.read_parquet(out), truth, records)
        rows.append((label, info, scores))
        if "stats" in info:
            print(f"{label} stats: {info['stats']}")

    print()
    print(f"| model | subset | precision | recall | F1 | true pairs | predicted pairs | time (s) | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, info, scores in rows:
        for subset, s in scores.items():
            print(f"| {label} | {subset} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | {s['true_pairs']} | "
                  f"{s['predicted_pairs']} | {info['seconds']:.1f} | {info['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
