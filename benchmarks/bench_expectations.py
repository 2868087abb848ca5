"""What one suite costs: seconds to validate police_incidents frames of growing size.

    .venv/bin/python benchmarks/bench_expectations.py [rows ...]
    .venv/bin/python benchmarks/bench_expectations.py --files 30 --file-rows 30

Prints wall and CPU seconds per validation (conversion to pandas, the GX run
and the HTML page). With ``--files N`` it instead validates N small daily
files (every third with one call placed only in its community, so that file
is re-checked alone) one by one with ``validate`` and then all at once with
``validate_many``, and prints the cost per file of each. A benchmark that
prints figures, not a timed test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingestion.schemas import SCHEMAS, TZ, conform  # noqa: E402

__all__ = ["incidents_frame", "main"]


def incidents_frame(rows: int) -> pl.DataFrame:
    """A clean police_incidents frame of ``rows`` rows (one daily file), built vectorised."""
    i = pl.int_range(1, rows + 1, dtype=pl.Int64)
    categories = pl.Series(["刑事案件", "治安案件", "交通事故", "纠纷", "群众求助", "其他警情"])
    start = dt.datetime(2024, 6, 11)
    frame = (
        pl.DataFrame({"record_no": pl.int_range(1, rows + 1, eager=True)})
        .with_columns(
            feed=pl.lit("police_incidents"),
            file=pl.lit("JQ_20240611.csv"),
            file_md5=pl.lit("0123456789abcdef0123456789abcdef"),
            member_no=pl.lit(1, pl.Int32),
            data_date=pl.lit(dt.date(2024, 6, 11)),
            # J + county + yyyymmdd + 5-digit sequence; beyond 99,999 rows the date part moves on
            incident_id=pl.format(
                "J520602{}{}",
                (pl.lit(start.date()) + pl.duration(days=i // 100_000)).dt.strftime("%Y%m%d"),
                (i % 100_000).cast(pl.String).str.zfill(5),
            ),
            received_at=(
                pl.lit(start) + pl.duration(milliseconds=(i * 80_000_000 // max(rows, 1)))
            ).dt.replace_time_zone(TZ),
            report_channel=pl.lit("110电话"),
            id_status=pl.when(i % 3 == 0).then(pl.lit("valid")).otherwise(pl.lit("empty")),
            name_status=pl.lit("ok"),
            phone_kind=pl.lit("mobile"),
            sex=pl.when(i % 2 == 0).then(pl.lit("男")).otherwise(pl.lit("女")),
            birth_date=pl.lit(dt.date(1980, 1, 1)) + pl.duration(days=i % 15_000),
            is_anonymous=pl.lit(False),
            category=pl.lit(categories).gather(i % len(categories)),
            narrative_chars=i % 300,
            outcome=pl.lit("已处理"),
            lon=pl.lit(109.19),
            lat=pl.lit(27.73),
            coordinate_status=pl.lit("ok"),
            grid_code=pl.format("520602001001{}", (i % 1000).cast(pl.String).str.zfill(3)),
            community_code=pl.lit("520602001001"),
            street_code=pl.lit("520602001"),
            placement_method=pl.lit("address_point"),
        )
        .with_columns(
            # the shape of a keyed pseudonym (26 base32 characters); uniqueness is not checked
            person_key=pl.when(pl.col("id_status") == "valid").then(pl.lit("abcdefghijklmnopqrstuvwxyz")),
            feedback_at=pl.col("received_at") + pl.duration(hours=1),
        )
    )
    return conform(frame, SCHEMAS["police_incidents"])


def daily_files(files: int, rows: int) -> list[tuple[pl.DataFrame, str]]:
    """``files`` daily police_incidents frames of ``rows`` rows; every third has one unplaced call."""
    out = []
    base = incidents_frame(rows)
    for n in range(files):
        day = dt.date(2024, 6, 1) + dt.timedelta(days=n)
        name = f"JQ_{day:%Y%m%d}.csv"
        shift = pl.duration(days=(day - dt.date(2024, 6, 11)).days)
        frame = base.with_columns(
            file=pl.lit(name), data_date=pl.lit(day),
            received_at=pl.col("received_at") + shift, feedback_at=pl.col("feedback_at") + shift,
        )  # fmt: skip
        if n % 3 == 2:
            first = pl.int_range(pl.len()) == 0
            frame = frame.with_columns(
                grid_code=pl.when(first).then(None).otherwise(pl.col("grid_code")),
                placement_method=pl.when(first).then(pl.lit("community_name")).otherwise(pl.col("placement_method")),
            )
        out.append((frame, f"{day}_{name}"))
    return out


def _many(files: int, rows: int, docs: Path) -> None:
    from expectations.runner import validate, validate_many

    items = daily_files(files, rows)
    cpu, wall = time.process_time(), time.perf_counter()
    alone = [validate("police_incidents", frame, docs_dir=docs / "alone", label=label) for frame, label in items]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"{files} files of {rows} rows, one validate each: {wall / files:.3f} s wall, {cpu / files:.3f} s CPU per file"
    )
    cpu, wall = time.process_time(), time.perf_counter()
    together = validate_many("police_incidents", items, docs_dir=docs / "together")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{files} files of {rows} rows, validate_many:       {wall / files:.3f} s wall, {cpu / files:.3f} s CPU per file "
          f"(sum of per-file seconds reported: {sum(v.seconds for v in together):.2f} s)")  # fmt: skip
    same = all(a.success == b.success and a.failures == b.failures for a, b in zip(alone, together, strict=True))
    print(f"  same verdicts and failures per file: {same}; passed {sum(v.success for v in together)} of {files}")


def main(argv: list[str] | None = None) -> None:
    from expectations.runner import validate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--files", type=int, default=0, help="compare validate and validate_many on this many daily files"
    )
    parser.add_argument("--file-rows", type=int, default=30, help="rows per daily file with --files")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp)
        cpu, wall = time.process_time(), time.perf_counter()
        validate("police_incidents", incidents_frame(10), docs_dir=docs, label="warm-up")
        print(f"first call (GX import, context, suite): {time.perf_counter() - wall:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU")  # fmt: skip
        if args.files:
            _many(args.files, args.file_rows, docs)
            return
        for rows in args.rows:
            frame = incidents_frame(rows)
            cpu, wall = time.process_time(), time.perf_counter()
            v = validate("police_incidents", frame, docs_dir=docs, label=f"bench-{rows}")
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"{rows:>9,} rows: {wall:6.2f} s wall, {cpu:6.2f} s CPU, {v.evaluated} expectations, "
                  f"success={v.success}, failures={[(f.expectation, f.column) for f in v.failures]}")  # fmt: skip


if __name__ == "__main__":
    main()
