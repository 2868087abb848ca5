"""Bad input through ``zhili run``: the ``corrupt_landing`` pack plus a truncated file, binary garbage
named ``.csv``, a header-only file and a workbook whose header is on row 3.

Each damaged file gets its expected outcome in the ledger (rejected with a message naming the file,
waiting for its flag, refused, quarantined rows with reasons, reported drift or encoding, or a
no-op), ``zhili run`` exits 0 with no traceback on stdout/stderr, and the ledger balances for every
loaded file. Small scale (CI): 1,000 residents over 5 days; ``ZHILI_BAD_INPUT_RESIDENTS`` / ``_DAYS`` for
the full-scale run (README).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import polars as pl
import pytest

from ingestion.generator import Corruption, corrupt_landing, generate
from ingestion.ledger import read_ledger
from ingestion.zones import Zones
from tests.runs import scale, zhili_run


def _flag(path: Path, data: bytes, rows: int) -> None:
    path.with_name(path.name + ".ok").write_text(f"rows={rows}\nmd5={hashlib.md5(data).hexdigest()}\n")


def _biggest(landing: Path, pattern: str) -> Path:
    taken = {c for c in landing.rglob("*") if c.is_file()}
    return max(
        (p for p in landing.rglob(pattern) if p.with_name(p.name + ".ok").exists() and p in taken),
        key=lambda p: p.stat().st_size,
    )


def _extra_faults(landing: Path, damaged: set[Path]) -> list[Corruption]:
    out = []
    folder = landing / "grid_events" / "2024-11-03"
    # a transfer cut off half-way: the flag still describes the whole file
    src = next(
        p
        for p in sorted((landing / "police_incidents").glob("2024-*/JQ_*.csv"), key=lambda p: -p.stat().st_size)
        if p not in damaged
    )
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    out.append(Corruption(src, "police_incidents", "truncated", "reject_file"))
    # binary garbage under a name the feed expects, with a flag that matches it
    garbage = folder / "SB_20241120.csv"
    folder.mkdir(parents=True, exist_ok=True)
    blob = bytes(range(256)) * 40 + os.urandom(2048)
    garbage.write_bytes(blob)
    _flag(garbage, blob, 10)
    out.append(Corruption(garbage, "grid_events", "binary_garbage", "reject_file"))
    # a header and no records
    header_only = folder / "SB_20241121.csv"
    sample = next(
        p for p in sorted((landing / "grid_events").rglob("SB_*.csv")) if p not in damaged and p.stat().st_size > 100
    )
    head = sample.read_bytes().split(b"\n", 1)[0] + b"\n"
    header_only.write_bytes(head)
    _flag(header_only, head, 0)
    out.append(Corruption(header_only, "grid_events", "header_only", "empty_or_no_records"))
    # a workbook whose header row is row 3 (a title and a blank row above it)
    book = next((p for p in sorted((landing / "civil_affairs").rglob("*.xlsx")) if p not in damaged), None)
    if book is not None:
        sheets = pl.read_excel(book, sheet_id=0, has_header=False, raise_if_empty=False)
        import xlsxwriter

        moved = book.with_name(book.stem.rsplit("_", 1)[0] + "_202501.xlsx")
        moved = book.parent.parent / "2025-01-01" / moved.name
        moved.parent.mkdir(parents=True, exist_ok=True)
        wb = xlsxwriter.Workbook(moved)
        for name, frame in sheets.items():
            ws = wb.add_worksheet(name)
            ws.write(0, 0, f"{name}（2025年1月）")
            for r, row in enumerate(frame.iter_rows()):
                for c, v in enumerate(row):
                    if v is not None:
                        ws.write(r + 2, c, v)
        wb.close()
        # the flag counts what the original flag counted for the same rows
        rows = int(
            dict(l.split("=", 1) for l in book.with_name(book.name + ".ok").read_text().split() if "=" in l)["rows"]
        )
        _flag(moved, moved.read_bytes(), rows)
        out.append(Corruption(moved, "civil_affairs", "header_on_row_3", "load_balanced"))
    return out


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad")
    residents, days = scale("BAD_INPUT")
    generate(out, residents=residents, days=days, seed=31)
    landing, home = out / "bad_landing", out / "home"
    faults = corrupt_landing(out / "landing", landing, seed=31)
    faults += _extra_faults(landing, {f.path for f in faults})
    env = dict(os.environ, ZHILI_SECRET_FILE=str(out / "secret.key"))
    proc = zhili_run(landing, home, env)
    return dict(faults=faults, proc=proc, ledger=read_ledger(Zones(home)), landing=landing)


def _row(ledger: pl.DataFrame, fault: Corruption, landing: Path) -> dict | None:
    rel = fault.path.relative_to(landing)
    rows = ledger.filter(
        (pl.col("feed") == rel.parts[0]) & (pl.col("folder") == rel.parts[1]) & (pl.col("file") == fault.path.name)
    )
    rows = rows.sort("processed_at")
    return rows.row(-1, named=True) if rows.height else None


def test_run_exits_0_without_traceback(bad):
    proc = bad["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout and "Traceback" not in proc.stderr


def test_every_damaged_file_gets_its_expected_outcome(bad):
    ledger, wrong = bad["ledger"], []
    for f in bad["faults"]:
        if f.kind == "resend_renamed":
            continue  # test_renamed_resend_is_a_no_op
        row = _row(ledger, f, bad["landing"])
        status = row and row["status"]
        ok = {
            "reject_file": lambda: status == "rejected" and f.path.name in (row["message"] or "") and row["reason"],
            "wait_for_flag": lambda: status == "waiting" and row["reason"] == "no_flag",
            "refuse_name": lambda: status == "refused" and row["reason"] and row["message"],
            "no_change": lambda: status in ("duplicate", "empty") and row["message"],
            "load_and_report_encoding": lambda: status in ("loaded", "held") and row["is_encoding_switched"],
            "load_and_report_drift": lambda: (
                status in ("loaded", "held") and row["unknown_columns"] not in (None, "[]")
            ),
            "quarantine_record": lambda: status in ("loaded", "held") and (row["rows_quarantined"] or 0) > 0,
            "fail_sheet": lambda: status in ("loaded", "held") and (row["rows_quarantined"] or 0) > 0,
            "flag_damaged_ids": lambda: status in ("loaded", "held"),
            "empty_or_no_records": lambda: status in ("empty", "loaded") and (row["records_read"] or 0) == 0,
            "load_balanced": lambda: status in ("loaded", "held") and (row["records_read"] or 0) > 0,
        }[f.expected]
        if row is None or not ok():
            wrong.append(
                f"{f.feed}/{f.kind} ({f.expected}): {f.path.name} -> "
                + ("no ledger row" if row is None else f"{status} {row['reason']}: {row['message']}")
            )
    assert not wrong, "\n".join(wrong)


def test_ledger_balances_and_explains_every_file(bad):
    ledger = bad["ledger"]
    loaded = ledger.filter(pl.col("status").is_in(["loaded", "held"]))
    assert loaded.height > 0
    assert loaded["is_balanced"].all(), loaded.filter(~pl.col("is_balanced")).select("feed", "folder", "file")
    loaded = loaded.with_columns(total=pl.col("rows_normalised") + pl.col("rows_quarantined"))
    assert (loaded["records_read"] == loaded["total"]).all()
    others = ledger.filter(pl.col("status").is_in(["rejected", "refused", "waiting", "duplicate", "held"]))
    assert others.filter(pl.col("reason").is_null() | pl.col("message").is_null()).is_empty()


def test_renamed_resend_is_a_no_op(bad):
    """A byte-identical resend under a copy-dialog name (``JQ_20241102(1).csv``) is a duplicate, not a refusal."""
    resends = [f for f in bad["faults"] if f.kind == "resend_renamed"]
    assert resends, "corrupt_landing made no renamed resend"
    wrong = []
    for f in resends:
        row = _row(bad["ledger"], f, bad["landing"])
        if (
            row is None
            or row["status"] not in ("duplicate", "empty")
            or not row["message"]
            or row["file_md5"] != hashlib.md5(f.path.read_bytes()).hexdigest()
        ):
            wrong.append(f"{f.path.name}: {row and row['status']} {row and row['message']}")
    assert not wrong, "\n".join(wrong)
