"""The hotline_orders normalisers: what a GD order row and a GDLZ step row become, and what is
quarantined (with its reason), kept and flagged, or never carried (free text, staff names)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from ingestion.feeds import table_for_file
from ingestion.normalise import Context, normalise

KEY = b"k" * 32
CTX = Context(key=KEY, data_date=date(2024, 11, 2))

ORDER = {
    "order_id": "GD52060220241102000001",
    "called_at": "2024-11-02 09:00:00",
    "channel": "邻里牵手微信群",
    "name": "张三",
    "id_number": "",
    "phone": "13812345678",
    "request_type": "投诉",
    "category": "生态环境/噪声污染",
    "urgency": "",
    "content": "夜间施工，联系电话13812345678",
    "address": "锦江社区辖区",
    "lon": "",
    "lat": "",
    "street_name": "环北街道",
    "community_name": "锦江社区",
    "holder_unit": "锦江社区居委会",
    "dispatched_at": "2024-11-02 09:30:00",
    "signed_at": "",
    "due_at": "",
    "status": "已派单",
    "closed_at": "",
    "followed_up_at": "",
    "followup_result": "",
    "satisfaction": "",
    "reopened_flag": "否",
    "updated_at": "2024-11-02 09:30:00",
}


def _raw(file: str, rows: list[dict]) -> pl.DataFrame:
    names = sorted({k for r in rows for k in r})
    return pl.DataFrame(
        [
            {
                "feed": "hotline_orders",
                "file": file,
                "file_md5": "0" * 32,
                "sheet": "",
                "record_no": i,
                "member_no": 1,
                **r,
            }
            for i, r in enumerate(rows, 1)
        ],
        schema={
            "feed": pl.String,
            "file": pl.String,
            "file_md5": pl.String,
            "sheet": pl.String,
            "record_no": pl.Int64,
            "member_no": pl.Int32,
            **{n: pl.String for n in names},
        },
    )


def _orders(rows: list[dict]):
    return normalise(_raw("GD_20241102.csv", rows), table_for_file("hotline_orders", "GD_20241102.csv"), CTX)


def _steps(rows: list[dict]):
    return normalise(_raw("GDLZ_20241102.csv", rows), table_for_file("hotline_orders", "GDLZ_20241102.csv"), CTX)


def test_the_feed_has_an_order_and_a_step_table():
    assert table_for_file("hotline_orders", "GD_20241102.csv").table == "hotline_orders"
    assert table_for_file("hotline_orders", "GDLZ_20241102.csv").table == "hotline_steps"
    assert table_for_file("hotline_orders", "GD_2024110.csv") is None


def test_empty_urgency_is_normal_and_an_empty_deadline_is_left_for_the_warehouse():
    got = _orders(
        [ORDER, {**ORDER, "order_id": "GD52060220241102000002", "urgency": "紧急", "due_at": "2024-11-03 09:30:00"}]
    )
    assert got.quarantine.height == 0
    rows = got.frame.sort("record_no").select("urgency", "is_urgency_defaulted", "is_due_printed", "due_at").rows()
    assert rows[0][:3] == ("一般", True, False) and rows[0][3] is None
    assert rows[1][:3] == ("紧急", False, True) and rows[1][3].hour == 9
    assert got.frame["category_l1"].to_list() == ["生态环境", "生态环境"]
    assert got.frame["source_format"].to_list() == ["gd", "gd"]


def test_the_caller_is_a_person_record_and_an_anonymous_one_is_not():
    got = _orders(
        [
            ORDER,
            {**ORDER, "order_id": "GD52060220241102000002", "name": "匿名"},
            {**ORDER, "order_id": "GD52060220241102000003", "name": ""},
        ]
    )
    assert got.frame.sort("record_no")["is_anonymous"].to_list() == [False, True, True]
    assert got.person_records["source_key"].to_list() == ["GD52060220241102000001"]
    assert got.person_records["role"].to_list() == ["caller"]
    # the main table carries masked forms only; free text is reduced to its length
    assert got.frame["name_masked"].to_list()[0] == "张*" and got.frame["phone_masked"].to_list()[0] == "138****5678"
    assert "content" not in got.frame.columns and got.frame["content_chars"][0] == len(ORDER["content"])


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("order_id", "", "missing_required_field"),
        ("called_at", "", "missing_required_field"),
        ("called_at", "昨天上午", "bad_datetime"),
        ("updated_at", "2024-13-45", "bad_datetime"),
    ],
)
def test_an_order_without_its_key_or_call_time_is_quarantined_with_its_reason(field, value, reason):
    got = _orders([ORDER, {**ORDER, "order_id": "GD52060220241102000002", field: value}])
    assert got.frame.height == 1 and got.quarantine["reason"].to_list() == [reason]


def test_an_order_without_status_or_update_time_is_kept():
    got = _orders([{**ORDER, "status": "", "updated_at": ""}])
    assert got.quarantine.height == 0 and got.frame.select("status", "updated_at").row(0) == (None, None)


STEP = {
    "order_id": "GD52060220241102000001",
    "step_no": "5",
    "step": "延期批准",
    "step_at": "2024-11-06 10:00:00",
    "unit": "12345热线",
    "staff_name": "王小明",
    "note": "同意延期，延期至2024-11-20 18:00",
}


def test_a_step_keeps_the_new_deadline_of_an_extension_and_masks_the_staff_member():
    got = _steps([STEP, {**STEP, "step_no": "6", "step": "签收", "note": "张三来电，电话13812345678"}])
    assert got.quarantine.height == 0 and got.person_records.height == 0
    rows = got.frame.sort("record_no").select("step_no", "extended_to", "staff_name_masked", "note_chars").rows()
    assert rows[0][0] == 5 and (rows[0][1].month, rows[0][1].day, rows[0][1].hour) == (11, 20, 18)
    assert rows[1][1] is None and rows[0][2] == "王*明"
    assert "note" not in got.frame.columns


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("step_no", "", "missing_required_field"),
        ("step_no", "第五步", "bad_number"),
        ("step_no", "0", "bad_number"),
        ("step_at", "", "missing_required_field"),
        ("step_at", "不详", "bad_datetime"),
    ],
)
def test_a_step_without_its_number_or_time_is_quarantined_with_its_reason(field, value, reason):
    got = _steps([STEP, {**STEP, field: value}])
    assert got.frame.height == 1 and got.quarantine["reason"].to_list() == [reason]


OPEN311 = [
    {
        "service_request_id": "SR-0001",
        "status": "closed",
        "status_notes": "已办结",
        "service_name": "生态环境/噪声污染",
        "service_code": "NOISE",
        "description": "夜间施工扰民",
        "agency_responsible": "锦江社区居委会",
        "requested_datetime": "2024-11-02T09:00:00+08:00",
        "updated_datetime": "2024-11-04T01:30:00Z",
        "expected_datetime": "2024-11-09T09:00:00+08:00",
        "address": "滨江路88号",
        "lat": 27.705,
        "long": 109.005,
    },
    {
        "service_request_id": "SR-0002",
        "status": "closed",
        "status_notes": "已撤销",
        "service_name": "咨询",
        "requested_datetime": "2024-11-02T10:00:00+08:00",
        "updated_datetime": "2024-11-02T11:00:00+08:00",
    },
    {
        "service_request_id": "SR-0003",
        "status": "open",
        "service_name": "城乡建设/物业管理/电梯",
        "requested_datetime": "2024-11-02T12:00:00+08:00",
        "updated_datetime": "2024-11-02T12:00:00+08:00",
    },
    ["not", "a", "request"],
    {"service_request_id": "SR-0005", "status": "open"},
]


def _open311(tmp_path, elements) -> tuple:
    import hashlib
    import json

    from ingestion.readers import read_file

    path = tmp_path / "open311_20241102.json"
    path.write_text(json.dumps(elements, ensure_ascii=False), encoding="utf-8")
    spec = table_for_file("hotline_orders", path.name)
    read = read_file(path, spec, file_md5=hashlib.md5(path.read_bytes()).hexdigest())
    return read, normalise(read.frame, spec, CTX)


def test_an_open311_export_loads_as_orders_with_what_it_lacks_left_empty(tmp_path):
    read, got = _open311(tmp_path, OPEN311)
    assert table_for_file("hotline_orders", "open311_20241102.json").table == "hotline_orders"
    # every element is a record: kept, or quarantined with its reason (a non-object, a missing required key)
    assert read.records == 5
    assert sorted(read.quarantine["reason"].to_list()) == ["broken_json", "missing_required_keys"]
    assert read.quarantine["record_no"].sort().to_list() == [4, 5]
    f = got.frame.sort("record_no")
    assert f["source_format"].to_list() == ["open311"] * 3
    assert f["status"].to_list() == ["已办结", "已撤销", "办理中"]
    closed = f.row(0, named=True)
    assert (closed["closed_at"].day, closed["closed_at"].hour, closed["closed_at"].minute) == (4, 9, 30)  # 01:30Z
    assert closed["due_at"].day == 9 and closed["is_due_printed"] and closed["holder_unit"] == "锦江社区居委会"
    assert closed["lon"] == pytest.approx(109.005) and closed["category_l1"] == "生态环境"
    # a cancellation's time is not a close
    assert f["closed_at"][1] is None
    # what the format lacks is empty, not invented; no caller means no person record
    assert f.select(
        "request_type", "followed_up_at", "followup_result", "satisfaction", "dispatched_at", "signed_at"
    ).null_count().row(0) == (3, 3, 3, 3, 3, 3)
    assert f["is_urgency_defaulted"].all() and got.person_records.height == 0 and got.quarantine.height == 0
    assert f["category_l2"][2] == "物业管理"


@pytest.mark.parametrize("text", ["{", '{"service_request_id": "SR-1"}'])
def test_an_open311_file_that_is_not_one_array_is_refused_whole(tmp_path, text):
    from ingestion.errors import FeedFormatError
    from ingestion.readers import read_file

    path = tmp_path / "open311_20241102.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FeedFormatError, match=r"open311_20241102\.json: .*(not valid JSON|expected an array)"):
        read_file(path, table_for_file("hotline_orders", path.name), file_md5="0" * 32)
