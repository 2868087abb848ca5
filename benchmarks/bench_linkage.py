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
F1 of "same person" overall, for pairs that involve a record without a
valid ID, and for pairs of records neither of which comes from the police
register (police_population; "outside the police register"), with wall
time and peak RSS of each (each measured in a child process, so one does not
inherit the other's peak), and which Splink parameters ours used
(``model_source``: ``trained_here`` or ``shipped:<priors version>``;
``--model priors|trained`` forces one). ``--increment`` also times a day's run as a home does it: the
last delivery day's files linked with the model kept from the days before, scoring only pairs that touch a
unit the days before did not have (the full run above estimates its model and links everything). ``--misses`` breaks the true pairs
ours missed down by feed pair, ID status, name fault and phone/address presence.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.generator import generate  # noqa: E402
from ingestion.linkage.features import LOCATOR, VALID_ID_STATUSES  # noqa: E402
from ingestion.planner import ingest_landing  # noqa: E402
from ingestion.pseudonym import load_or_create_key  # noqa: E402
from ingestion.zones import Zones  # noqa: E402

_JOIN = ["feed", "file", "sheet", "record_no", "member_no"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _records(home: Path) -> pl.LazyFrame:
    return pl.scan_parquet(sorted((home / "restricted" / "person_records").glob("*.parquet")), missing_columns="insert")


def _ours(home: Path, out: Path, queue, model: str = "auto") -> None:
    from ingestion.linkage.core import link_files

    # as ``zhili run`` does: the records are streamed from the zone, never all in memory
    files = sorted((home / "restricted" / "person_records").glob("*.parquet"))
    key = load_or_create_key(Zones(home).secret_file)
    folder = out.with_suffix("")
    shutil.rmtree(folder, ignore_errors=True)  # a full run: no earlier keys or pinyin memo
    t = time.perf_counter()
    result = link_files(files, folder, key=key, model=model)
    seconds = time.perf_counter() - t
    pl.scan_parquet(folder / "links.parquet").select(*LOCATOR, pl.col("person_key").alias("cluster")).sink_parquet(out)
    queue.put(
        {
            "seconds": seconds,
            "peak_rss_mb": _peak_rss_mb(),
            "review": result.review.height,
            "stats": {k: v for k, v in result.stats.items() if k != "m_u"},
        }
    )


def _increment(home: Path, out: Path, queue) -> None:
    """A day's linkage as ``zhili run`` does it: every day but the last is linked first (untimed; the model it
    made is kept, as a home keeps it), then the last day's files are added and linked with the kept model,
    the previous links (person keys) and the pinyin memo in place: only that second run is timed."""
    from ingestion.ledger import read_ledger
    from ingestion.linkage.core import link_files
    from ingestion.linkage.model_store import keep_model

    zones = Zones(home)
    files = sorted(zones.person_records().glob("*.parquet"))
    ledger = read_ledger(zones).filter(pl.col("status") == "loaded")
    last = ledger["folder"].max()
    last_day = set(ledger.filter(pl.col("folder") == last)["file_md5"].to_list())
    key = load_or_create_key(zones.secret_file)
    folder = out.with_suffix("")
    shutil.rmtree(folder, ignore_errors=True)
    store = Zones(folder / "home")
    before = link_files([f for f in files if f.stem not in last_day], folder, key=key)
    kept = keep_model(
        store,
        before.model,
        {"source": before.stats["model_source"], "accept_threshold": before.stats["accept_threshold"]},
        before.tf_name,  # the name frequencies it scored with, as a kept model keeps them
    )
    published = pl.read_parquet(folder / "links.parquet", columns=["record_locator", "person_key"])
    t = time.perf_counter()
    # the pairs the days before scored, as run_linkage keeps them: only pairs touching a new unit are scored
    scored = dataclasses.replace(before.scored, model=kept.name) if before.scored is not None else None
    result = link_files(files, folder, key=key, kept=kept, scored=scored)
    seconds = time.perf_counter() - t
    now = pl.read_parquet(folder / "links.parquet", columns=["record_locator", "person_key"])
    moved = published.join(now, on="record_locator", suffix="_now").filter(
        pl.col("person_key") != pl.col("person_key_now")
    )
    pl.scan_parquet(folder / "links.parquet").select(*LOCATOR, pl.col("person_key").alias("cluster")).sink_parquet(out)
    stats = {k: v for k, v in result.stats.items() if k != "m_u"}
    stats["model_source"] = f"kept, + last day {last}: {len(last_day)} files"
    # records linked yesterday whose person_key changed today: only merges and splits (alias rows) may move one
    stats["records_whose_key_moved"] = moved.height
    queue.put({"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "review": result.review.height, "stats": stats})


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
    units = (
        frame.select(features)
        .unique()
        .collect(engine="streaming")
        .sort(features, nulls_last=True)
        .with_row_index("unique_id")
    )
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
        blocking_rules_to_generate_predictions=[
            block_on("id_number"),
            block_on("birth_date"),
            block_on("phone"),
            block_on("name"),
        ],
    )
    linker = Linker(db.register("units"), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_number"), block_on("name", "birth_date")], recall=0.9
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=42)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"), max_pairs=5e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone"), max_pairs=5e6)
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold_match_probability=0.99)
    cl_frame = pl.from_arrow(con.sql(f"select unique_id, cluster_id from {clusters.physical_name}").to_arrow_table())
    seconds = time.perf_counter() - t
    cluster_of = units.join(cl_frame, on="unique_id").select(
        *features, pl.col("cluster_id").cast(pl.String).alias("cluster")
    )
    frame.join(cluster_of.lazy(), on=features, nulls_equal=True).select(*LOCATOR, "cluster").sink_parquet(out)
    queue.put({"seconds": seconds, "peak_rss_mb": _peak_rss_mb()})


def _run(target, home: Path, out: Path, *extra) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(home, out, queue, *extra))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _pairs(n: pl.Expr) -> pl.Expr:
    return (n * (n - 1) // 2).sum()


def pairwise(clusters: pl.DataFrame, truth: pl.DataFrame, records: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Pairwise precision/recall/F1 overall, over pairs that involve at least one record without a valid ID,
    and over pairs of records neither of which is the police register's (the links other feeds' records
    must make among themselves, e.g. a petitioner and a hotline caller)."""
    # records whose truth has no person (people from outside the generated population) cannot be scored
    f = clusters.join(
        truth.filter(pl.col("person_id").is_not_null()).select(*_JOIN, "person_id"), on=_JOIN, how="inner"
    ).join(records.select(*_JOIN, pl.col("id_status").is_in(VALID_ID_STATUSES).alias("valid")), on=_JOIN, how="inner")

    def counts(frame: pl.DataFrame) -> tuple[int, int, int]:
        tp = frame.group_by("cluster", "person_id").len().select(_pairs(pl.col("len"))).item()
        pred = frame.group_by("cluster").len().select(_pairs(pl.col("len"))).item()
        true = frame.group_by("person_id").len().select(_pairs(pl.col("len"))).item()
        return tp, pred, true

    out = {}
    all_c = counts(f)
    # a subset "involving" a kind of record: all pairs less those whose two records are both of the other kind
    subsets = {
        "overall": all_c,
        "without valid ID": tuple(a - b for a, b in zip(all_c, counts(f.filter(pl.col("valid"))))),
        "outside police register": counts(f.filter(pl.col("feed") != "police_population")),
    }
    for label, (tp, pred, true) in subsets.items():
        precision = tp / pred if pred else 1.0
        recall = tp / true if true else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1": f1, "true_pairs": true, "predicted_pairs": pred}
    return out


def misses(clusters: pl.DataFrame, truth: pl.DataFrame, home: Path, top: int = 20) -> pl.DataFrame:
    """The true pairs of records ours put in two persons, counted by what kind of pair they are."""
    features = (
        _records(home)
        .select(
            *_JOIN,
            "id_status",
            pl.col("phone").is_not_null().alias("has_phone"),
            pl.col("address_code").is_not_null().alias("has_address"),
            pl.col("birth_date").is_not_null().alias("has_birth"),
        )
        .collect()
    )
    f = (
        clusters.join(truth.filter(pl.col("person_id").is_not_null()), on=_JOIN, how="inner")
        .join(features, on=_JOIN, how="inner")
        .with_columns(name_fault=pl.col("name_fault").fill_null("none"))
    )
    split = f.group_by("person_id").agg(pl.col("cluster").n_unique().alias("k")).filter(pl.col("k") > 1)
    f = f.join(split.select("person_id"), on="person_id")
    keep = [
        "person_id",
        "cluster",
        "feed",
        "id_status",
        "name_fault",
        "has_phone",
        "has_address",
        "has_birth",
        "record_no",
        "file",
    ]
    pairs = (
        f.select(keep)
        .join(f.select(keep), on="person_id", suffix="_r")
        .filter(
            (pl.col("cluster") != pl.col("cluster_r"))
            & (
                (pl.col("file") < pl.col("file_r"))
                | ((pl.col("file") == pl.col("file_r")) & (pl.col("record_no") < pl.col("record_no_r")))
            )
        )
    )

    def both(col: str) -> pl.Expr:
        lo = pl.min_horizontal(pl.col(col).cast(pl.String), pl.col(f"{col}_r").cast(pl.String))
        hi = pl.max_horizontal(pl.col(col).cast(pl.String), pl.col(f"{col}_r").cast(pl.String))
        return pl.concat_str(lo, hi, separator=" + ").alias(col)

    return (
        pairs.select(
            both("feed"),
            both("id_status"),
            both("name_fault"),
            both("has_phone"),
            both("has_address"),
            both("has_birth"),
        )
        .group_by(pl.all())
        .len()
        .sort("len", descending=True)
        .head(top)
        .with_columns((pl.col("len") / pairs.height).round(3).alias("share"))
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--residents", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--generated", type=Path, help="reuse a folder holding landing/, truth/ and home/ (ingested)")
    ap.add_argument(
        "--home", type=Path, help="the ingested home to use (default: <generated>/home); ingested first if empty"
    )
    ap.add_argument("--skip-plain", action="store_true", help="do not run the plain Splink yardstick")
    ap.add_argument(
        "--model",
        choices=["auto", "priors", "trained"],
        default="auto",
        help="ours: train here when the records are enough, else the shipped priors (auto); or force one",
    )
    ap.add_argument("--misses", action="store_true", help="break the true pairs ours missed down by kind")
    ap.add_argument(
        "--increment",
        action="store_true",
        help="also time a day's run: the last delivery day linked with the model kept from the days before",
    )
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
        sorted((home / "restricted" / "person_records").glob("*.parquet")),
        columns=[*_JOIN, "id_status"],
        missing_columns="insert",
    )
    truth = pl.read_parquet(
        base / "truth" / "person_records.parquet", columns=[*_JOIN, "person_id", "id_fault", "name_fault"]
    )
    no_valid = records.filter(~pl.col("id_status").is_in(VALID_ID_STATUSES)).height
    scored = records.join(truth, on=_JOIN)
    print(
        f"person records: {records.height} ({no_valid} without a valid ID); true persons among them: "
        f"{scored.select(pl.col('person_id').drop_nulls().n_unique()).item()}; "
        f"records without a true person (not scored): {scored.filter(pl.col('person_id').is_null()).height}"
    )

    rows = []
    runs = [("zhili linkage", _ours)] + ([("zhili linkage, one more day", _increment)] if args.increment else [])
    runs += [] if args.skip_plain else [("plain Splink", _plain_splink)]
    for label, target in runs:
        out = home / f"bench_{target.__name__.strip('_')}.parquet"  # beside the home: a reused landing stays read-only
        info = _run(target, home, out, *([args.model] if target is _ours else []))
        scores = pairwise(pl.read_parquet(out), truth, records)
        if "stats" in info:
            label = f"{label} ({info['stats'].get('model_source')})"
            print(f"{label} stats: {info['stats']}")
        rows.append((label, info, scores))
        if args.misses and target is _ours:
            with pl.Config(tbl_rows=40, tbl_width_chars=200, fmt_str_lengths=60):
                print(f"true pairs ours missed, by kind (top 20):\n{misses(pl.read_parquet(out), truth, home)}")

    print()
    print("| model | subset | precision | recall | F1 | true pairs | predicted pairs | time (s) | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, info, scores in rows:
        for subset, s in scores.items():
            print(
                f"| {label} | {subset} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | {s['true_pairs']} | "
                f"{s['predicted_pairs']} | {info['seconds']:.1f} | {info['peak_rss_mb']:.0f} |"
            )


if __name__ == "__main__":
    main()
