"""grid_visits' two tables through the reader and normaliser: the visited resident is a person record and a
row without its key or time is quarantined with its reason; the roster's workers are staff, masked and never
person records."""

from __future__ import annotations

from datetime import date

from ingestion.feeds import table_for_file
from ingestion.normalise import Context, normalise
from ingestion.readers import read_file

VISITS = table_for_file("grid_visits", "ZF_20241105.csv")
ROSTER = table_for_file("grid_visits", "WGY_202410.csv")
CTX = Context(key=b"k" * 32, data_date=date(2024, 11, 5))
VISIT_HEADER = "走访编号,走访时间,网格员工号,网格员,网格编码,走访对象类型,对象姓名,对象证件号码,对象电话,地址,户编号,走访方式,走访主题,发现问题,关联事件编号,经度,纬度,备注"


def _visits(tmp_path, rows: list[str]):
    path = tmp_path / "ZF_20241105.csv"
    path.write_text("\n".join([VISIT_HEADER, *rows]) + "\n", encoding="utf-8")
    read = read_file(path, VISITS, file_md5="0" * 32)
    return read, normalise(read.frame, VISITS, CTX)


def test_the_registry_knows_both_tables_by_file_name():
    assert VISITS.table == "grid_visits" and VISITS.encoding == "utf-8"
    assert ROSTER.table == "grid_workers" and ROSTER.encoding == "gb18030"
    assert table_for_file("grid_visits", "SB_20241105.csv") is None


def test_a_visit_names_its_resident_and_a_row_without_key_or_time_is_quarantined(tmp_path):
    ok = "ZF520602001001001202411050001,2024-11-05 09:12:00,W01000001,张三,520602001001001,独居老人,李四,110105194912310021,13812345678,某路1号,,入户,日常走访,是,,108.1,27.7,"
    no_time = ok.replace("ZF520602001001001202411050001,2024-11-05 09:12:00", "ZF520602001001001202411050002,")
    no_key = ok.replace("ZF520602001001001202411050001,", ",")
    bad_time = ok.replace("ZF520602001001001202411050001,2024-11-05 09:12:00", "ZF520602001001001202411050003,昨天")
    read, out = _visits(tmp_path, [ok, no_time, no_key, bad_time])
    assert read.records == 4 and out.frame.height + out.quarantine.height == 4
    assert out.frame["visit_id"].to_list() == ["ZF520602001001001202411050001"]
    assert out.frame["has_problem"].to_list() == [True]
    assert sorted(out.quarantine["reason"].to_list()) == [
        "bad_datetime",
        "missing_required_field",
        "missing_required_field",
    ]
    people = out.person_records
    assert people["role"].to_list() == ["visited"] and people["source_key"].to_list() == [
        "ZF520602001001001202411050001"
    ]
    # display forms only outside the restricted zone
    assert "110105194912310021" not in " ".join(str(v) for v in out.frame.row(0))


def test_workers_are_masked_staff_not_person_records(tmp_path):
    path = tmp_path / "WGY_202410.csv"
    text = (
        "工号,姓名,证件号码,联系电话,岗位,网格编码,微网格,岗位档次,入职日期,离职日期,调岗日期,上年度考核等次\r\n"
        "W01000001,王小明,110105194912310021,13812345678,专职网格员,520602001001001,,3,2020-03-01,,2024-10-15,合格\r\n"
    )
    path.write_bytes(text.encode("gb18030"))
    read = read_file(path, ROSTER, file_md5="1" * 32)
    out = normalise(read.frame, ROSTER, Context(key=b"k" * 32, data_date=date(2024, 10, 1)))
    assert out.person_records.height == 0
    row = out.frame.row(0, named=True)
    assert row["worker_name_masked"] == "王*明" and row["worker_phone_masked"] == "138****5678"
    assert row["worker_id_masked"] == "110105********0021"
    assert row["moved_date"] == date(2024, 10, 15) and row["roster_month"] == date(2024, 10, 1) and row["pay_step"] == 3
    assert not any("110105194912310021" == str(v) or "13812345678" == str(v) for v in row.values())
