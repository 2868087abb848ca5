"""The service_lists generator: every quirk the page lists is in a small district's ledger, and the workbooks'
latest version of each need is the truth's."""

from __future__ import annotations

import fastexcel
import polars as pl
import pytest

from ingestion.generator import generate


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("service-gen")
    generate(out, residents=3000, days=21, seed=4)
    return out


def _sheet(out, sheet: str) -> pl.DataFrame:
    frames = []
    for p in sorted((out / "landing" / "service_lists").glob("*/QD_*.xlsx")):
        reader = fastexcel.read_excel(p.read_bytes())
        if sheet in reader.sheet_names:
            frames.append(reader.load_sheet(sheet, header_row=0, dtypes="string").to_polars())
    return pl.concat(frames, how="diagonal_relaxed")


def test_every_quirk_of_the_page_is_there(out):
    needs = pl.read_parquet(out / "truth" / "service_needs.parquet")
    resources = pl.read_parquet(out / "truth" / "service_resources.parquet")
    for flag in ("is_double_tap", "is_out_of_scope", "is_clock_skew", "is_closed_without_accept", "is_wish"):
        assert needs[flag].sum() >= 1, flag
    # a resource cancelled and registered again under a new number, the same person or unit
    again = resources.filter(pl.col("re_registered_from").is_not_null())
    assert again.height >= 1
    first = resources.filter(pl.col("resource_id").is_in(again["re_registered_from"].implode()))
    assert set(first["entity"]) == set(again["entity"])
    assert pl.read_parquet(out / "truth" / "service_projects.parquet").height >= 1
    # 接单时间 earlier than 派单时间 where the clock was off, as written
    skew = needs.filter(pl.col("is_clock_skew"))
    assert (skew["accepted_at"] < skew["dispatched_at"]).all()
    # a need closed without 接单 names its resource
    closed = needs.filter(pl.col("is_closed_without_accept"))
    assert closed["accepted_at"].is_null().all() and closed["resource_id"].is_not_null().all()


def test_the_latest_version_of_each_need_in_the_workbooks_is_the_truth(out):
    needs = pl.read_parquet(out / "truth" / "service_needs.parquet")
    rows = _sheet(out, "需求清单").with_columns(pl.col("状态时间").str.to_datetime(strict=False))
    latest = rows.sort("状态时间").group_by("需求编号").last()
    both = needs.join(latest, left_on="need_id", right_on="需求编号", how="full", coalesce=True)
    assert both.filter(pl.col("status").is_null() | pl.col("当前状态").is_null()).height == 0
    # a text date-time (typed in by hand) does not parse here: compare only the status, which every row has
    assert (both["status"] == both["当前状态"]).all()
