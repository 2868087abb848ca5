"""A register snapshot normalised from the previous one equals a full normalise of the file.

On a generated landing (eight weekly snapshots of ``police_population``, with the grid reorganisation
the generator puts mid-period between two of them, and weeks whose optional columns the seed drops),
``ingest_landing`` normalises each snapshot after the first from the one before (only new and changed
rows through the field rules). Every snapshot's normalised
rows, restricted person records, quarantine and ledger counts must be exactly what normalising the
whole file again gives, with locators pointing at that file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ingestion.generator import generate
from ingestion.grid_index import address_prefixes, load_grid_index
from ingestion.landing import scan_landing
from ingestion.ledger import read_ledger
from ingestion.normalise import Context, normalise
from ingestion.planner import ingest_landing
from ingestion.pseudonym import load_or_create_key
from ingestion.staging import load_staged
from ingestion.zones import Zones

TABLE = "police_population"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    out = tmp_path_factory.mktemp("snap")
    # seed 4 draws weeks that keep every column and weeks that drop some (truth/params.json, "register")
    generate(out, residents=1200, days=50, seed=4)
    zones = Zones(out / "home")
    key = load_or_create_key(zones.secret_file)
    handler = _Collect()
    logging.getLogger("ingestion.normalising").addHandler(handler)
    logging.getLogger("ingestion.normalising").setLevel(logging.INFO)
    try:
        outcomes = ingest_landing(out / "landing", zones, key=key, feeds=["grid_registry", TABLE])
    finally:
        logging.getLogger("ingestion.normalising").removeHandler(handler)
    # a week in which nothing changed repeats the previous file's bytes: a duplicate, not a snapshot to normalise
    names = {o.file for o in outcomes if o.feed == TABLE and o.status == "loaded"}
    files = [f for f in scan_landing(out / "landing").complete if f.feed == TABLE and f.name in names]
    layouts = json.loads((out / "truth" / "params.json").read_text())["register"]["weeks"]
    return zones, key, outcomes, files, handler.lines, layouts


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_snapshots_after_the_first_reuse_the_previous_one(loaded):
    _, _, outcomes, files, lines, layouts = loaded
    assert len(files) >= 6
    assert {o.status for o in outcomes if o.feed == TABLE} <= {"loaded", "duplicate"}
    reused = [line for line in lines if " rows as in " in line]
    assert len(reused) == len(files) - 1, lines
    counts = [
        tuple(int(w) for w in (line.split(": ", 1)[1].split()[0], line.split(" of ")[1].split()[0])) for line in reused
    ]
    # a snapshot's week in the generator's layouts (weekly from the first delivery)
    week = [(_data_date(f.name) - _data_date(files[0].name)).days // 7 for f in files]
    full = [not layouts[w]["drop"] for w in week]
    # when neither snapshot lacks a column, most rows repeat and some do not: both paths ran
    alike = [c for c, before, now in zip(counts, full, full[1:]) if before and now]
    assert len(alike) >= 3, f"the landing has too few pairs of full-column weeks to judge reuse: {full}"
    assert all(0 < same < total for same, total in alike), counts
    # a week that lacks a column changes every row that had a value there: never more reuse than rows
    assert all(same < total for same, total in counts), counts


def _data_date(name: str) -> dt.date:
    return dt.datetime.strptime(name.split("_")[1].split(".")[0], "%Y%m%d").date()


def test_incremental_output_equals_a_full_normalise(loaded):
    zones, key, outcomes, files, _, _ = loaded
    grid_index, prefixes = load_grid_index(zones), address_prefixes(zones)
    ledger = read_ledger(zones).filter(pl.col("feed") == TABLE)
    by_name = {o.file: o for o in outcomes if o.feed == TABLE}
    for landed in files:
        md5 = by_name[landed.name].file_md5
        staged = load_staged(zones, landed, md5)
        ctx = Context(key=key, data_date=staged.data_date, grid_index=grid_index, address_prefixes=prefixes)
        full = normalise(staged.read.frame, staged.spec, ctx)

        frame = pl.read_parquet(zones.normalised(TABLE, md5))
        assert_frame_equal(frame, full.frame)
        assert set(frame["file"]) == {landed.name} and set(frame["file_md5"]) == {md5}
        assert_frame_equal(pl.read_parquet(zones.snapshot_persons(md5)), full.person_records)
        quarantine = pl.concat([staged.read.quarantine, full.quarantine], how="vertical_relaxed")
        assert_frame_equal(pl.read_parquet(zones.quarantine(TABLE, md5)), quarantine, check_dtypes=False)
        row = ledger.filter(pl.col("file_md5") == md5).row(0, named=True)
        assert (row["rows_normalised"], row["rows_quarantined"]) == (full.frame.height, quarantine.height)
        assert row["is_balanced"] and row["records_read"] == full.frame.height + quarantine.height
