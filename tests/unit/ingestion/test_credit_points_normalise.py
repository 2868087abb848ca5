"""credit_points' workbook through the reader and normaliser: three sheets, one table told apart by
record_kind; each sheet's row stands on its own key and date (the others' are empty by nature); the head
and the member are two person records of an entry; 启用月份 is read as a month whatever the form."""

from __future__ import annotations

from datetime import date

import polars as pl
import xlsxwriter
from hypothesis import given
from hypothesis import strategies as st

from ingestion.feeds import table_for_file
from ingestion.normalise import Context, normalise, parse_month
from ingestion.readers import read_file

SPEC = table_for_file("credit_points", "JF_202411.xlsx")
CTX = Context(key=b"k" * 32, data_date=date(2024, 11, 1))
HEAD_ID, MEMBER_ID = "110105194912310021", "110105198001010016"

ITEMS = [
    ["项目编码", "项目名称", "项目类别", "分值", "计分对象", "每月上限", "启用月份", "停用月份"],
    ["JF001", "参加平安巡逻", "平安建设", 5, "个人", 4, "202404", ""],
    ["JF012", "清洁家园义务劳动", "文明守礼", 3, "家庭", "", "202404", "202411"],
    ["", "无编码项目", "文明守礼", 3, "家庭", "", "202404", ""],
]
ENTRIES = [
    ["流水号", "发生日期", "户编号", "户主姓名", "户主证件号码", "成员姓名", "成员证件号码", "项目编码", "分值", "事由",
     "证明材料", "审核人", "审核状态", "审核时间"],
    ["JF2024110000001", "2024-11-03", "H5206020010010001", "张三", HEAD_ID, "张小明", MEMBER_ID, "JF001", 5, "按时参加",
     "有", "王芳", "已审核", "2024-11-04 10:00:00"],
    ["JF2024110000002", "2024-11-05", "H5206020010010001", "张三", "12345", "", "", "JF012", 3, "", "无", "王芳",
     "待审核", "2024-11-06 10:00:00"],
    ["JF2024110000003", "昨天", "H5206020010010001", "张三", HEAD_ID, "", "", "JF012", 3, "", "无", "王芳", "已审核",
     "2024-11-06 10:00:00"],
]  # fmt: skip
REDEEM = [
    ["兑换单号", "兑换日期", "户编号", "户主姓名", "户主证件号码", "兑换物品", "消耗积分", "兑换点"],
    ["DH202411000001", "2024-11-20", "H5206020010010001", "张三", HEAD_ID, "毛巾x1", 10, "001爱心超市"],
    ["DH202411000002", "", "H5206020010010001", "张三", HEAD_ID, "毛巾x1", 10, "001爱心超市"],
]


def _workbook(tmp_path, sheets: dict[str, list[list]]):
    path = tmp_path / "JF_202411.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v == "":
                    continue
                (ws.write_number if isinstance(v, int) else ws.write_string)(r, c, v)
    wb.close()
    read = read_file(path, SPEC, file_md5="0" * 32)
    return read, normalise(read.frame, SPEC, CTX)


def test_three_sheets_one_table_and_each_row_stands_on_its_own_key_and_date(tmp_path):
    read, out = _workbook(tmp_path, {"积分项目": ITEMS, "积分明细": ENTRIES, "兑换记录": REDEEM})
    assert read.records == 8 and out.frame.height + out.quarantine.height == 8
    kinds = out.frame.group_by("record_kind").len().sort("record_kind")
    assert dict(kinds.iter_rows()) == {"entry": 2, "item": 2, "redemption": 1}
    reasons = sorted(zip(out.quarantine["sheet"], out.quarantine["reason"]))
    assert reasons == [
        ("兑换记录", "missing_required_field"),
        ("积分明细", "bad_date"),
        ("积分项目", "missing_required_field"),
    ]
    items = out.frame.filter(pl.col("record_kind") == "item").sort("item_code")
    assert items["valid_from_month"].to_list() == [date(2024, 4, 1)] * 2
    assert items["valid_to_month"].to_list() == [None, date(2024, 11, 1)]
    assert items["monthly_limit"].to_list() == [4, None]
    entries = out.frame.filter(pl.col("record_kind") == "entry").sort("entry_id")
    assert entries["points"].to_list() == [5, 3]
    assert entries["household_community_code"].to_list() == ["520602001001"] * 2
    # a bad head ID is kept and flagged, never quarantined
    assert entries["head_id_status"].to_list()[1] not in ("valid", None)
    assert entries["community_household_key"].n_unique() == 1


def test_head_and_member_are_two_person_records_and_identifiers_stay_restricted(tmp_path):
    _, out = _workbook(tmp_path, {"积分项目": ITEMS, "积分明细": ENTRIES, "兑换记录": REDEEM})
    people = out.person_records.sort("sheet", "record_no", "member_no")
    got = list(zip(people["sheet"], people["record_no"], people["member_no"], people["role"], people["source_key"]))
    assert got == [
        ("兑换记录", 2, 1, "household_head", "DH202411000001"),
        ("积分明细", 2, 1, "household_head", "JF2024110000001"),
        ("积分明细", 2, 2, "credit_member", "JF2024110000001"),
        ("积分明细", 3, 1, "household_head", "JF2024110000002"),
    ]
    assert people.filter(pl.col("member_no") == 2)["id_number"].to_list() == [MEMBER_ID]
    text = " ".join(str(v) for row in out.frame.iter_rows() for v in row)
    assert HEAD_ID not in text and MEMBER_ID not in text and "张小明" not in text


def test_a_sheet_missing_a_required_column_fails_alone_naming_the_file(tmp_path):
    broken = [row[1:] for row in ENTRIES]  # no 流水号
    read, out = _workbook(tmp_path, {"积分项目": ITEMS, "积分明细": broken, "兑换记录": REDEEM})
    assert "积分明细" in read.failed_sheets and "JF_202411.xlsx" in read.failed_sheets["积分明细"]
    assert set(out.frame["record_kind"]) == {"item", "redemption"}


@given(
    st.integers(1900, 2200),
    st.integers(1, 12),
    st.sampled_from(["{y}{m:02d}", "{y}-{m:02d}", "{y}/{m}", "{y}年{m}月", "{y}{m:02d}.0"]),
)
def test_a_month_in_any_written_form_is_its_first_day(year, month, form):
    text = form.format(y=year, m=month)
    got = pl.select(parse_month(pl.lit(text))).item()
    assert got == date(year, month, 1)


@given(st.one_of(st.integers(0, 99).map(lambda m: f"2024{m:02d}"), st.text(max_size=8)))
def test_anything_else_is_no_month(text):
    got = pl.select(parse_month(pl.lit(text, pl.String))).item()
    digits = text[4:] if text.startswith("2024") and len(text) == 6 and text.isascii() and text.isdigit() else ""
    if digits and 1 <= int(digits) <= 12:
        assert got == date(2024, int(digits), 1)
    elif got is not None:
        # free text can still spell a month (全角 digits, 2024年3月): it must then be a first day
        assert got.day == 1
