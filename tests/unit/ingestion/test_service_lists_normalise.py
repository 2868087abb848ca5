"""service_lists through the workbook reader and normaliser: three sheets in one table; a need's resident and a
person resource are person records, a unit is not (its 统一社会信用代码 is checked instead); a row without its
key or 状态时间 is quarantined with its reason, a date-time typed as text is read, an absent sheet is no error;
a workbook that cannot be opened is rejected naming the file."""

from __future__ import annotations

import datetime as dt

import pytest
import xlsxwriter

from ingestion.errors import FeedFormatError
from ingestion.feeds import table_for_file
from ingestion.generator.feeds.service_lists import NEED_COLUMNS, RESOURCE_COLUMNS
from ingestion.normalise import Context, normalise
from ingestion.readers import read_file

SPEC = table_for_file("service_lists", "QD_20241105.xlsx")
CTX = Context(key=b"k" * 32, data_date=dt.date(2024, 11, 5))
NEED = "XQ520602001001202411050001"
POSTED = dt.datetime(2024, 11, 5, 9, 12)


def _need(**cells) -> dict:
    row = dict(
        需求编号=NEED,
        提出时间=POSTED,
        提出渠道="小程序",
        提出人="李四",
        证件号码="110105194912310021",
        联系电话="13812345678",
        网格编码="520602001001001",
        地址="某路1号",
        需求类别="生活服务",
        需求描述="水管漏水",
        是否微心愿="否",
        资源编号="ZY52060200100100001",
        派单时间=POSTED + dt.timedelta(minutes=30),
        接单时间=POSTED + dt.timedelta(minutes=20),  # earlier than 派单: a device clock, kept as written
        当前状态="已接单",
        状态时间=POSTED + dt.timedelta(minutes=31),
    )
    row.update(cells)
    return row


def _resource(**cells) -> dict:
    row = dict(
        资源编号="ZY52060200100100001",
        资源类型="在职党员",
        名称="王小明",
        证件号码="110105194912310021",
        联系电话="13812345678",
        所属单位="区教育局",
        服务类别="生活服务、助老助残",
        服务范围="520602001001",
        登记日期=dt.date(2024, 1, 1),
        状态="可用",
        状态时间=dt.datetime(2024, 1, 1, 9),
    )
    row.update(cells)
    return row


def _workbook(path, sheets: dict[str, tuple[list[str], list[dict]]]) -> None:
    wb = xlsxwriter.Workbook(str(path))
    fmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for name, (header, rows) in sheets.items():
        ws = wb.add_worksheet(name)
        ws.write_row(0, 0, header)
        for i, row in enumerate(rows, start=1):
            for j, h in enumerate(header):
                v = row.get(h)
                if isinstance(v, (dt.date, dt.datetime)):
                    ws.write_datetime(i, j, v if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time()), fmt)
                elif v is not None:
                    ws.write_string(i, j, str(v))
    wb.close()


def _read(tmp_path, sheets):
    path = tmp_path / "QD_20241105.xlsx"
    _workbook(path, sheets)
    read = read_file(path, SPEC, file_md5="0" * 32)
    return read, normalise(read.frame, SPEC, CTX)


def test_needs_and_resources_share_a_table_and_name_their_persons(tmp_path):
    unit = _resource(
        资源编号="ZY52060200100100002", 资源类型="联建单位", 名称="某社区物业服务中心", 证件号码="91350100M000100Y43"
    )
    typed = _need(需求编号="XQ520602001001202411050002", 提出时间="2024/11/5 10:05", 状态时间="2024/11/5 10:05")
    read, out = _read(
        tmp_path, {"需求清单": (NEED_COLUMNS, [_need(), typed]), "资源清单": (RESOURCE_COLUMNS, [_resource(), unit])}
    )
    assert read.records == 4 and out.frame.height == 4 and out.quarantine.height == 0
    f = out.frame.sort("list_kind", "record_no")
    assert f["list_kind"].to_list() == ["need", "need", "resource", "resource"]
    assert f["record_id"].to_list()[:2] == [NEED, "XQ520602001001202411050002"]
    # a date-time typed as text reads like a date cell
    posted = f["posted_at"].dt.replace_time_zone(None).to_list()
    assert posted == [POSTED, dt.datetime(2024, 11, 5, 10, 5), None, None]
    assert f["accepted_at"][0] < f["dispatched_at"][0]
    assert f["credit_code_status"].to_list() == [None, None, None, "valid"]
    assert f["unit_name"].to_list()[3] == "某社区物业服务中心"
    roles = sorted(out.person_records["role"].to_list())
    assert roles == ["service_provider", "service_requester", "service_requester"]
    # identifiers stay in the restricted person records
    assert "110105194912310021" not in " ".join(str(v) for row in out.frame.iter_rows() for v in row)


def test_a_row_without_its_key_or_status_time_is_quarantined_with_its_reason(tmp_path):
    rows = [_need(), _need(需求编号=None), _need(需求编号="XQ520602001001202411050003", 状态时间="昨天")]
    read, out = _read(
        tmp_path, {"需求清单": (NEED_COLUMNS, rows), "资源清单": (RESOURCE_COLUMNS, [_resource(资源编号=None)])}
    )
    assert read.records == 4 and out.frame.height + out.quarantine.height == 4
    assert sorted(out.quarantine["reason"].to_list()) == [
        "bad_datetime",
        "missing_required_field",
        "missing_required_field",
    ]
    assert all("QD_20241105.xlsx" == f for f in out.quarantine["file"].to_list())


def test_an_empty_id_keeps_the_need_and_flags_it(tmp_path):
    _, out = _read(tmp_path, {"需求清单": (NEED_COLUMNS, [_need(证件号码=None)])})
    assert out.frame.height == 1 and out.frame["person_key"][0] is None and out.frame["id_status"][0] == "empty"


def test_a_list_of_needs_mostly_without_ids_passes_its_gate_and_typed_bad_ids_fail_it(tmp_path):
    """A day's list where 50 of 61 needs have no 证件号码 is loaded (each resident kept and flagged, feeds README
    "Required is about columns"): a generated district held such a list whole. Typed IDs that give no person
    key still fail the file's ID floor."""
    from expectations import validate

    needs = [
        _need(需求编号=f"XQ52060200100120241105{i:03d}", 证件号码=None if i < 50 else "11010519491231002X")
        for i in range(61)
    ]
    _, out = _read(tmp_path, {"需求清单": (NEED_COLUMNS, needs)})
    assert out.frame.height == 61 and out.frame["person_key"].null_count() == 50
    v = validate("service_lists", out.frame, docs_dir=tmp_path / "docs", label="needs-without-ids")
    assert v.success, [(f.expectation, f.column, f.unexpected_count) for f in v.failures]
    typed = [dict(n, 证件号码="11010519491231002") if n["证件号码"] is None else n for n in needs]  # 17 digits
    _, out = _read(tmp_path, {"需求清单": (NEED_COLUMNS, typed)})
    v = validate("service_lists", out.frame, docs_dir=tmp_path / "docs", label="needs-bad-ids")
    assert [(f.column, f.unexpected_count) for f in v.failures] == [("person_key", 50)]
    assert "ID-validity rate" in (v.failures[0].description or "")


def test_a_workbook_that_cannot_be_opened_is_rejected_naming_the_file(tmp_path):
    path = tmp_path / "QD_20241105.xlsx"
    path.write_bytes(b"not a workbook")
    with pytest.raises(FeedFormatError, match="service_lists/QD_20241105.xlsx"):
        read_file(path, SPEC, file_md5="0" * 32)
