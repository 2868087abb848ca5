"""credit_points' bad input through the planner (as ``zhili run`` loads it): a workbook that cannot be opened
is rejected with one sentence naming the file; a workbook whose rows cannot all stand loads the rest,
quarantines each bad row with its reason (its sheet's key or date empty or unreadable), keeps a row with an
empty or bad ID and flags it; the ledger balances (read = normalised + quarantined + skipped)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import xlsxwriter

from ingestion.planner import ingest_landing
from ingestion.pseudonym import load_or_create_key
from ingestion.zones import Zones

GOOD_ID = "11010519491231002X"
ENTRY_HEADER = [
    "流水号", "发生日期", "户编号", "户主姓名", "户主证件号码", "成员姓名", "成员证件号码", "项目编码", "分值", "事由",
    "证明材料", "审核人", "审核状态", "审核时间",
]  # fmt: skip


def _deliver(folder: Path, name: str, data: bytes, rows: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    (folder / f"{name}.ok").write_text(f"rows={rows}\nmd5={hashlib.md5(data).hexdigest()}\n", encoding="utf-8")


def _workbook(path: Path) -> int:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    items = wb.add_worksheet("积分项目")
    items.write_row(0, 0, ["项目编码", "项目名称", "项目类别", "分值", "计分对象", "每月上限", "启用月份", "停用月份"])
    items.write_row(1, 0, ["JF001", "参加平安巡逻", "平安建设", "5", "个人", "4", "202404"])
    items.write_row(2, 0, ["JF002", "志愿服务1小时", "志愿服务", "3", "个人", "8", "13月"])  # not a month
    entries = wb.add_worksheet("积分明细")
    entries.write_row(0, 0, ENTRY_HEADER)
    base = ["H5206020010010001", "张三", GOOD_ID, "张小明", "", "JF001", "5", "", "有", "王芳", "已审核"]
    entries.write_row(1, 0, ["JF2024110000001", "2024-11-03", *base, "2024-11-04 10:00:00"])  # member ID empty
    entries.write_row(2, 0, ["", "2024-11-03", *base, "2024-11-04 10:00:00"])  # no 流水号
    entries.write_row(3, 0, ["JF2024110000003", "", *base, "2024-11-04 10:00:00"])  # no 发生日期
    bad_head = [*base]
    bad_head[2] = "110105194912310021"  # wrong check character: kept, flagged
    entries.write_row(4, 0, ["JF2024110000004", "2024-11-05", *bad_head, "2024-11-06 10:00:00"])
    redeem = wb.add_worksheet("兑换记录")
    redeem.write_row(
        0, 0, ["兑换单号", "兑换日期", "户编号", "户主姓名", "户主证件号码", "兑换物品", "消耗积分", "兑换点"]
    )
    redeem.write_row(1, 0, ["DH202411000001", "2024-11-20", "H5206020010010001", "张三", GOOD_ID, "毛巾x1", "10", "x"])
    wb.close()
    return 7


def test_bad_workbooks_and_rows(tmp_path):
    landing = tmp_path / "landing" / "credit_points"
    good = tmp_path / "JF_202411.xlsx"
    rows = _workbook(good)
    _deliver(landing / "2024-12-03", "JF_202411.xlsx", good.read_bytes(), rows)
    _deliver(landing / "2025-01-03", "JF_202412.xlsx", b"PK\x03\x04 not really a workbook", 3)
    zones = Zones(tmp_path / "home")
    outcomes = ingest_landing(
        tmp_path / "landing", zones, key=load_or_create_key(zones.secret_file), feeds=("credit_points",)
    )
    by_file = {o.file: o for o in outcomes}
    rejected = by_file["JF_202412.xlsx"]
    assert rejected.status == "rejected" and "JF_202412.xlsx" in rejected.message
    assert rejected.message.count(".") <= 3 and "\n" not in rejected.message

    loaded = by_file["JF_202411.xlsx"]
    assert loaded.status == "loaded" and loaded.is_balanced
    assert loaded.records_read == rows == loaded.rows_normalised + loaded.rows_quarantined
    assert loaded.rows_quarantined == 3
    quarantine = pl.read_parquet(list(zones.quarantine("credit_points").glob("*.parquet"))).filter(
        pl.col("file") == "JF_202411.xlsx"
    )
    assert sorted(zip(quarantine["sheet"], quarantine["reason"])) == [
        ("积分明细", "missing_required_field"),
        ("积分明细", "missing_required_field"),
        ("积分项目", "bad_month"),
    ]
    frame = pl.read_parquet(list(zones.normalised("credit_points").glob("*.parquet")))
    entries = frame.filter(pl.col("record_kind") == "entry").sort("entry_id")
    assert entries["entry_id"].to_list() == ["JF2024110000001", "JF2024110000004"]
    assert entries["member_id_status"].to_list() == ["empty", "empty"]
    assert entries["head_id_status"].to_list()[0] == "valid" and entries["head_id_status"].to_list()[1] != "valid"
    # the workbook's people are person records in the restricted zone only
    records = pl.read_parquet(list(zones.person_records().glob("*.parquet")))
    records = records.filter(pl.col("file") == "JF_202411.xlsx")
    # the head of each kept entry and redemption, and each kept entry's member (named, no ID: flagged, kept)
    assert records.height == 5 and dict(records.group_by("role").len().iter_rows()) == {
        "household_head": 3,
        "credit_member": 2,
    }
    assert records.filter(pl.col("role") == "credit_member")["id_status"].to_list() == ["empty", "empty"]
