"""A person with an empty ID or name is kept and flagged, never quarantined (feeds README, "Required is about columns").

End to end through the pipeline on one hand-made benefit roll: the ledger balances, nothing is
quarantined for an empty personal field, and the kept rows are counted in ``rows_person_flagged``.
"""

from __future__ import annotations

import hashlib
from datetime import date

import polars as pl
import pytest
import xlsxwriter

from ingestion.feeds import table_for_file
from ingestion.ledger import read_ledger
from ingestion.normalise import PERSONAL_FIELDS, Context, _required, normalise
from ingestion.planner import ingest_landing
from ingestion.zones import Zones

KEY = b"k" * 32
ROLL_FILE = "碧江区救助保障花名册_202411.xlsx"
VALID = "520601198001010014"


def _landing(tmp_path):
    folder = tmp_path / "landing" / "civil_affairs" / "2024-12-01"
    folder.mkdir(parents=True)
    path = folder / ROLL_FILE
    wb = xlsxwriter.Workbook(path)
    alone = wb.add_worksheet("独居空巢老人")
    alone.merge_range(0, 0, 0, 5, "碧江区2024年11月独居空巢老人花名册")
    alone.write_row(1, 0, ["序号", "姓名", "身份证号码", "年龄", "类型", "住址", "联系电话"])
    alone.write_row(2, 0, [1, "张三", VALID, 84, "独居", "滨江大道8号3栋501", "13812345678"])
    alone.write_row(3, 0, [2, "李四", "", 86, "独居", "滨江大道8号3栋502", "13812345679"])  # ID cell empty
    alone.write_row(4, 0, [3, "", "520601193801010028", 86, "空巢", "滨江大道8号4栋101", ""])  # name cell empty
    alone.write_row(5, 0, [4, "王五", "无", 90, "独居", "滨江大道9号", "0856-5231234"])  # placeholder
    alone.write_row(6, 0, [5, "匿名", "   ", 81, "留守", "锦江社区", ""])  # blank ID, anonymous name
    poor = wb.add_worksheet("城乡低保")
    poor.write_row(0, 0, ["序号", "户主姓名", "姓名", "与户主关系", "身份证号码", "月保障金(元)"])
    poor.write_row(1, 0, [1, "赵六", "赵六", "户主", "\u200b", 500])  # only a zero-width char
    poor.write_row(2, 0, [2, "赵六", "赵小六", "子女", "52060120100101001", 500])  # 17 chars: wrong length
    wb.close()
    data = path.read_bytes()
    (folder / f"{ROLL_FILE}.ok").write_text(f"rows=7\r\nmd5={hashlib.md5(data).hexdigest()}\r\n", encoding="utf-8")
    return tmp_path / "landing"


def test_empty_personal_fields_keep_the_row_and_the_ledger_counts_them(tmp_path):
    zones = Zones(tmp_path / "home")
    outcomes = ingest_landing(_landing(tmp_path), zones, key=KEY)
    (outcome,) = [o for o in outcomes if o.feed == "civil_affairs"]
    assert outcome.status == "loaded", outcome.message
    assert (outcome.records_read, outcome.rows_normalised, outcome.rows_quarantined) == (7, 7, 0)
    assert outcome.is_balanced
    # 李四 (empty), 3 (no name), 王五 (无), 匿名 with a blank ID, 赵六 (zero-width only); not the wrong-length ID
    assert outcome.rows_person_flagged == 5
    ledger = read_ledger(zones).filter(pl.col("feed") == "civil_affairs")
    assert ledger.select("records_read", "rows_normalised", "rows_quarantined", "rows_person_flagged").row(0) == (
        7,
        7,
        0,
        5,
    )

    frame = pl.read_parquet(sorted((zones.normalised("civil_affairs")).glob("*.parquet")), missing_columns="insert")
    by_row = {
        (s, r): (st, ns, k)
        for s, r, st, ns, k in frame.select("sheet", "record_no", "id_status", "name_status", "person_key").iter_rows()
    }
    assert by_row[("独居空巢老人", 4)] == ("empty", "ok", None)
    assert by_row[("独居空巢老人", 5)][:2] == ("valid", "empty") and by_row[("独居空巢老人", 5)][2] is not None
    assert by_row[("独居空巢老人", 6)][:2] == ("placeholder", "ok")
    assert by_row[("独居空巢老人", 7)][:2] == ("empty", "anonymous")
    assert by_row[("城乡低保", 2)][0] == "empty"
    assert by_row[("城乡低保", 3)][0] == "wrong_length"
    # every kept beneficiary is a person record for linkage, masked forms only in the main table
    people = pl.read_parquet(sorted(zones.person_records().glob("*.parquet")), missing_columns="insert")
    assert people.filter(pl.col("feed") == "civil_affairs").height == 7
    assert frame.filter(pl.col("record_no") == 4)["name_masked"].to_list() == ["李*"]


def test_no_normaliser_can_require_a_personal_value():
    spec = table_for_file("police_population", "SYRK_20241108.csv")
    for field in sorted(PERSONAL_FIELDS):
        with pytest.raises(ValueError, match="personal fields"):
            _required(pl.DataFrame(), spec, ["source_person_id", field])


@pytest.mark.parametrize(
    ("feed", "file", "row"),
    [
        (
            "police_population",
            "SYRK_20241108.csv",
            {"source_person_id": "R00000000000001", "doc_type": "居民身份证", "person_status": "在册"},
        ),
        (
            "police_incidents",
            "JQ_20241102.csv",
            {
                "incident_id": "J52060220241102000001",
                "received_at": "2024-11-02 08:00:00",
                "category": "纠纷",
                "outcome": "已处理",
                "feedback_at": "2024-11-02 09:00:00",
            },
        ),
        (
            "petitions",
            "XF_20241102.jsonl",
            {"case_id": "XF5206022024110200001", "registered_at": "2024-11-02T08:00:00+08:00", "status": "已受理"},
        ),
        (
            "grid_events",
            "SB_20241102.csv",
            {
                "event_id": "SJ52060200100100120241102001",
                "reported_at": "2024-11-02 08:00:00",
                "grid_code_reported": "520602001001001",
                "category": "特殊人群",
                "status": "已上报",
                "status_at": "2024-11-02 08:00:00",
                "people_involved": "李四:;:;王五:无",
            },
        ),
    ],
)
def test_every_person_feed_keeps_a_row_whose_personal_fields_are_all_empty(feed, file, row):
    spec = table_for_file(feed, file)
    raw = pl.DataFrame(
        [{"feed": feed, "file": file, "file_md5": "0" * 32, "sheet": "", "record_no": 1, "member_no": 1, **row}],
        schema={
            "feed": pl.String,
            "file": pl.String,
            "file_md5": pl.String,
            "sheet": pl.String,
            "record_no": pl.Int64,
            "member_no": pl.Int32,
            **{n: pl.String for n in row},
        },
    )
    out = normalise(raw, spec, Context(key=KEY, data_date=date(2024, 11, 2)))
    assert out.quarantine.height == 0
    assert out.frame.height == 1
