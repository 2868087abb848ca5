import json
import zipfile
from datetime import date, datetime

import polars as pl
import pytest
import xlsxwriter

from ingestion import fields as fr
from ingestion.errors import FeedEncodingError, FeedFormatError, FeedSchemaError
from ingestion.feeds import table_for_file
from ingestion.readers import MAX_FIELD_BYTES, excel_number_text, read_file

INCIDENTS = table_for_file("police_incidents", "JQ_20241102.csv")
EVENTS = table_for_file("grid_events", "SB_20241102.csv")
ROLL = table_for_file("civil_affairs", "碧江区救助保障花名册_202411.xlsx")
PETITIONS = table_for_file("petitions", "XF_20241102.jsonl")
BOUNDARIES = table_for_file("grid_registry", "grid_boundaries.geojson")

HEADER = "警情编号,接警时间,报警人,警情类别,简要警情,处警结果,反馈时间"


def _csv(tmp_path, text, encoding="gb18030", name="JQ_20241102.csv", prefix=b""):
    path = tmp_path / name
    path.write_bytes(prefix + text.encode(encoding))
    return path


def _read(path, spec=INCIDENTS):
    return read_file(path, spec, file_md5="0" * 32)


def _flag_count(result):
    return result.frame.select("sheet", "record_no").n_unique() + result.quarantine.height


def test_gb18030_with_supplementary_plane_surname(tmp_path):
    path = _csv(tmp_path, HEADER + "\r\nJ1,2024-11-02 08:00:00,𠇔明,纠纷,吵架,已处理,2024-11-02 09:00:00\r\n")
    result = _read(path)
    assert result.encoding == "gb18030" and not result.encoding_switched
    assert result.frame["name"].to_list() == ["𠇔明"]
    assert result.frame["record_no"].to_list() == [1]
    assert result.records == 1 == _flag_count(result)
    assert result.frame.select("feed", "file", "sheet", "member_no").row(0) == (
        "police_incidents",
        "JQ_20241102.csv",
        "",
        1,
    )
    assert all(
        dtype == pl.String for name, dtype in result.frame.schema.items() if name not in ("record_no", "member_no")
    )


def test_utf8_bom_where_gb18030_declared_is_read_and_reported(tmp_path):
    path = _csv(tmp_path, HEADER + "\nJ1,t,张三,纠纷,x,已处理,t\n", encoding="utf-8", prefix=b"\xef\xbb\xbf")
    result = _read(path)
    assert (result.encoding, result.encoding_switched) == ("utf-8-sig", True)
    assert result.frame["incident_id"].to_list() == ["J1"]


def test_gb18030_where_utf8_declared_is_read_and_reported(tmp_path):
    header = "事件编号,上报时间,网格编码,事件大类,当前状态,状态时间"
    path = _csv(tmp_path, header + "\nSJ1,t,g,安全隐患,已上报,t\n", name="SB_20241102.csv")
    result = _read(path, EVENTS)
    assert (result.encoding, result.encoding_switched) == ("gb18030", True)
    assert result.frame["category"].to_list() == ["安全隐患"]


def test_bom_difference_is_not_a_switch_for_utf8_feeds(tmp_path):
    header = "事件编号,上报时间,网格编码,事件大类,当前状态,状态时间"
    path = _csv(
        tmp_path,
        header + "\nSJ1,t,g,安全隐患,已上报,t\n",
        encoding="utf-8",
        name="SB_20241102.csv",
        prefix=b"\xef\xbb\xbf",
    )
    result = _read(path, EVENTS)
    assert (result.encoding, result.encoding_switched) == ("utf-8-sig", False)


def test_undecodable_bytes_are_rejected_with_file_and_offset(tmp_path):
    path = tmp_path / "JQ_20241102.csv"
    good = (HEADER + "\nJ1,").encode("gb18030")
    path.write_bytes(good + b"\x81\x30\xff\x30\n")
    with pytest.raises(
        FeedEncodingError,
        match=rf"police_incidents/JQ_20241102\.csv: bytes at offset {len(good)} cannot be decoded: it is not GB18030",
    ) as info:
        _read(path)
    assert info.value.reason == "undecodable"


def test_commas_quotes_and_line_breaks_inside_fields(tmp_path):
    narrative = '他说"快来"，地址:滨江路,3栋\r\n第二行'
    quoted = '"' + narrative.replace('"', '""') + '"'
    path = _csv(tmp_path, HEADER + f"\r\nJ1,t,张三,纠纷,{quoted},已处理,t\r\nJ2,t,,纠纷,,处理中,t\r\n")
    result = _read(path)
    assert result.frame["narrative"].to_list() == [narrative, None]
    assert result.frame["record_no"].to_list() == [1, 2]
    assert result.records == 2 == _flag_count(result)
    assert result.quarantine.height == 0


def test_nul_byte_record_is_quarantined_and_the_rest_goes_on(tmp_path):
    path = _csv(tmp_path, HEADER + "\nJ1,t,a,纠纷,x\x00y,已处理,t\nJ2,t,b,纠纷,ok,已处理,t\n")
    result = _read(path)
    assert result.frame["incident_id"].to_list() == ["J2"]
    assert result.frame["record_no"].to_list() == [2]
    q = result.quarantine.row(0, named=True)
    assert (q["record_no"], q["reason"]) == (1, "nul_byte")
    assert "\\x00" in q["raw_text"] and "narrative" in q["message"]
    assert result.records == 2 == _flag_count(result)


def test_field_over_one_mib_is_quarantined(tmp_path):
    long = "长" * (MAX_FIELD_BYTES // 3 + 50_000)  # about 1.1 MiB of UTF-8
    path = _csv(tmp_path, HEADER + f"\nJ1,t,a,纠纷,ok,已处理,t\nJ2,t,a,纠纷,{long},已处理,t\n")
    result = _read(path)
    assert result.frame["incident_id"].to_list() == ["J1"]
    q = result.quarantine.row(0, named=True)
    assert (q["record_no"], q["reason"]) == (2, "field_too_long")
    assert len(q["raw_text"]) == 2000
    assert result.records == 2


def test_wrong_field_count_is_quarantined(tmp_path):
    path = _csv(
        tmp_path,
        HEADER + '\nJ1,t,a,纠纷,"x,y",已处理,t\nJ2,t,a,纠纷\nJ3,t,a,纠纷,x,已处理,t,extra\nJ4,t,a,纠纷,x,已处理,t\n',
    )
    result = _read(path)
    assert result.frame["incident_id"].to_list() == ["J1", "J4"]
    assert result.frame["narrative"].to_list() == ["x,y", "x"]
    assert result.quarantine.select("record_no", "reason").rows() == [
        (2, "wrong_field_count"),
        (3, "wrong_field_count"),
    ]
    assert result.records == 4 == _flag_count(result)


def test_missing_required_columns_are_all_named(tmp_path):
    path = _csv(tmp_path, "警情编号,报警人,处警结果\nJ1,a,已处理\n")
    with pytest.raises(
        FeedSchemaError, match=r"JQ_20241102\.csv: missing required columns \['接警时间', '警情类别', '反馈时间'\]"
    ) as info:
        _read(path)
    assert info.value.reason == "missing_required_columns"


def test_header_variants_match_and_unknown_columns_are_kept(tmp_path):
    header = " 警情编号 ,接警时间,警情类别（）,处警结果,反馈　时间,新增字段"
    header = header.replace("（）", "")
    path = _csv(tmp_path, header + "\nJ1,t,纠纷,已处理,t,v\n")
    result = _read(path)
    assert result.frame.row(0, named=True)["incident_id"] == "J1"
    assert result.frame["feedback_at"].to_list() == ["t"]
    assert result.unknown_columns == ["新增字段"] and result.frame["新增字段"].to_list() == ["v"]
    assert "报警人" in result.missing_optional and result.frame["name"].to_list() == [None]


def test_workbook_amount_header_with_full_width_unit(tmp_path):
    path = tmp_path / "碧江区救助保障花名册_202411.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("城乡低保")
    ws.write_row(0, 0, ["姓名", "身份证号码", "月保障金（元）"])
    ws.write_row(1, 0, ["张三", "52060119800101001X", 500])
    wb.close()
    result = _read(path, ROLL)
    assert result.frame["monthly_amount"].to_list() == ["500"]
    assert result.frame["_numeric_cells"].to_list() == ["monthly_amount"]


def _roll(path):
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("城乡低保")
    ws.merge_range(0, 0, 0, 4, "碧江区2024年11月城乡低保对象花名册")
    ws.write(1, 0, "填报单位:区民政局    单位:元")
    ws.write_row(2, 0, ["序号", "姓名", "身份证号码", "月保障金(元)", "保障起始日期", "临时列"])
    ws.write_row(3, 0, [1, "张三", "52060119800101001X", 500, "2024-01-01", "a"])
    ws.write_row(4, 0, [2, "李四", 110105194912000000, 520.5, 45455])
    # row 6 (index 5) left empty
    ws.write_row(6, 0, [3, "王五", "520601198001010029", "480", "2024/6/12"])
    ws.write_row(7, 0, ["合计", None, None, 1500.5])
    ws.write(9, 0, "制表人:某某")
    ws.write(10, 0, "审核人:某某")
    bad = wb.add_worksheet("特困供养")  # no 身份证号码 column
    bad.write(0, 0, "特困供养人员名册")
    bad.write_row(1, 0, ["序号", "姓名", "身份证", "性别"])
    bad.write_row(2, 0, [1, "赵六", "520601198001010029", "男"])
    bad.write_row(3, 0, [2, "钱七", "520601198001010037", "女"])
    late = wb.add_worksheet("高龄津贴")  # starts on row 3 after two empty rows
    late.write_row(2, 0, ["姓名", "身份证号码", "年龄"])
    late.write_row(4, 0, ["孙八", "520601194001010011", 84])
    wb.add_worksheet("说明").write(0, 0, "本表说明")
    wb.close()


def test_workbook_rows_numbers_skips_and_numeric_cells(tmp_path):
    path = tmp_path / "碧江区救助保障花名册_202411.xlsx"
    _roll(path)
    result = _read(path, ROLL)
    frame = result.frame.sort("sheet", "record_no")
    low = frame.filter(pl.col("sheet") == "城乡低保")
    assert low["record_no"].to_list() == [4, 5, 7]
    assert low["name"].to_list() == ["张三", "李四", "王五"]
    assert low["id_number"].to_list() == ["52060119800101001X", "110105194912000000", "520601198001010029"]
    assert low["start_date"].to_list() == ["2024-01-01", "45455", "2024/6/12"]
    assert low["_numeric_cells"].to_list() == [
        "row_counter,monthly_amount",
        "row_counter,id_number,monthly_amount,start_date",
        "row_counter",
    ]
    assert "临时列" in result.unknown_columns
    aged = frame.filter(pl.col("sheet") == "高龄津贴")
    assert aged.select("record_no", "name", "age").rows() == [(5, "孙八", "84")]
    assert result.skipped == {"title": 2, "note": 1, "header": 3, "empty": 5, "total": 1, "signature": 2}
    assert result.sheets == ["城乡低保", "特困供养", "高龄津贴"] and result.unknown_sheets == ["说明"]
    # the failing sheet fails alone; its data rows are kept in quarantine
    assert list(result.failed_sheets) == ["特困供养"]
    assert "身份证号码" in result.failed_sheets["特困供养"]
    q = result.quarantine
    assert q.select("sheet", "record_no", "reason").rows() == [
        ("特困供养", 3, "sheet_missing_required_columns"),
        ("特困供养", 4, "sheet_missing_required_columns"),
    ]
    assert result.records == 6 == _flag_count(result)
    assert result.encoding is None and not result.encoding_switched


def test_workbook_number_cells_are_told_from_text_cells_of_digits(tmp_path):
    """A 序号 typed as text ("0012") reads as text; a number cell, even beside text of the same digits, as a number.

    fastexcel types a whole column: the text view alone cannot tell ``13`` typed from ``13`` entered as text.
    """
    path = tmp_path / "碧江区救助保障花名册_202411.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("城乡低保")
    ws.write_row(0, 0, ["序号", "姓名", "身份证号码", "月保障金(元)", "保障起始日期"])
    ws.write_string(1, 0, "0012")
    ws.write_row(1, 1, ["张三", "52060119800101001X", 500])
    ws.write_datetime(1, 4, datetime(2024, 1, 1), wb.add_format({"num_format": "yyyy-mm-dd"}))
    ws.write_row(2, 0, [13, "李四"])
    ws.write_string(2, 2, "520601198001010029")
    ws.write_row(2, 3, ["480", "2024-01-01"])
    ws.write_row(3, 0, [True, "王五", "true", -0.5, 45455])
    wb.close()

    frame = _read(path, ROLL).frame.sort("record_no")

    assert frame["row_counter"].to_list() == ["0012", "13", "true"]
    assert frame["id_number"].to_list() == ["52060119800101001X", "520601198001010029", "true"]
    assert frame["monthly_amount"].to_list() == ["500", "480", "-0.5"]
    assert frame["start_date"].to_list()[1:] == ["2024-01-01", "45455"]  # row 2's is a date cell, not a number
    assert frame["_numeric_cells"].to_list() == ["monthly_amount", "row_counter", "monthly_amount,start_date"]


def test_workbook_sheet_without_number_like_text_is_parsed_once(tmp_path, monkeypatch):
    """Parsing a sheet is most of reading it: the typed view is loaded only for columns whose text could
    be a number cell's, and not at all for a sheet with none (text and date cells only)."""
    import fastexcel

    path = tmp_path / "碧江区救助保障花名册_202411.xlsx"
    wb = xlsxwriter.Workbook(path)
    low = wb.add_worksheet("城乡低保")
    low.write_row(0, 0, ["姓名", "身份证号码", "保障起始日期"])
    low.write_row(1, 0, ["张三", "52060119800101001X"])
    low.write_datetime(1, 2, datetime(2024, 1, 1), wb.add_format({"num_format": "yyyy-mm-dd"}))
    aged = wb.add_worksheet("高龄津贴")
    aged.write_row(0, 0, ["姓名", "身份证号码", "年龄"])
    aged.write_row(1, 0, ["孙八", "52060119400101001X", 84])
    wb.close()
    loads = []
    load_sheet = fastexcel.ExcelReader.load_sheet

    def spy(self, name, **options):
        loads.append((name, options.get("dtypes"), options.get("use_columns")))
        return load_sheet(self, name, **options)

    monkeypatch.setattr(fastexcel.ExcelReader, "load_sheet", spy)

    frame = _read(path, ROLL).frame.sort("sheet")

    assert loads == [
        ("城乡低保", "string", None),
        ("高龄津贴", "string", None),
        ("高龄津贴", "boolean", ["__UNNAMED__2"]),
    ]
    assert frame.select("sheet", "_numeric_cells").rows() == [("城乡低保", ""), ("高龄津贴", "age")]


def test_corrupt_workbook_is_a_format_error(tmp_path):
    path = tmp_path / "碧江区救助保障花名册_202411.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FeedFormatError, match=r"碧江区救助保障花名册_202411\.xlsx: cannot be opened") as info:
        _read(path, ROLL)
    assert info.value.reason == "unreadable"


def _jsonl(tmp_path, lines):
    path = tmp_path / "XF_20241102.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_jsonl_broken_line_is_quarantined_and_next_line_read(tmp_path):
    good = {
        "xfjbh": "XF1",
        "djsj": "2024-11-02T09:00:00+08:00",
        "blzt": "已受理",
        "xfrs": 2,
        "yq": False,
        "xfr": [{"xm": "张三", "zjhm": "X1"}, {"xm": "李四", "lxdh": "138"}],
        "wtsd": {"jd": "环北街道", "dz": "滨江路"},
        "lz": [{"zt": "已受理", "sj": "t"}],
        "bjsj": None,
        "新键": 1.5,
    }
    lonely = {"xfjbh": "XF2", "djsj": "t", "blzt": "待受理", "xfr": []}
    path = _jsonl(
        tmp_path,
        [json.dumps(good, ensure_ascii=False), '{"xfjbh": "XF9", "djsj', json.dumps(lonely), "[1, 2]", '{"djsj": "t"}'],
    )
    result = _read(path, PETITIONS)
    frame = result.frame
    assert frame.select("record_no", "member_no", "case_id", "name", "id_number", "phone").rows() == [
        (1, 1, "XF1", "张三", "X1", None),
        (1, 2, "XF1", "李四", None, "138"),
        (3, 1, "XF2", None, None, None),
    ]
    first = frame.row(0, named=True)
    assert (first["petitioner_count"], first["is_extended"], first["closed_at"]) == ("2", "false", None)
    assert (first["problem_street"], first["problem_address"], first["problem_community"]) == (
        "环北街道",
        "滨江路",
        None,
    )
    assert first["history"] == '[{"zt":"已受理","sj":"t"}]'
    assert result.unknown_columns == ["新键"] and first["新键"] == "1.5"
    q = result.quarantine
    assert q.select("record_no", "reason").rows() == [
        (2, "broken_json"),
        (4, "broken_json"),
        (5, "missing_required_keys"),
    ]
    assert q["raw_text"][0] == '{"xfjbh": "XF9", "djsj' and "column" in q["message"][0]
    assert result.records == 5 == _flag_count(result)


def test_jsonl_line_with_a_nul_byte_or_a_field_over_one_mib_is_quarantined(tmp_path):
    case = {"xfjbh": "XF1", "djsj": "2024-11-02T09:00:00+08:00", "blzt": "已受理"}
    lines = [
        json.dumps({**case, "nrzy": "含\x00字符"}, ensure_ascii=False),
        json.dumps({**case, "xfjbh": "XF2", "nrzy": "长" * 10 + "x" * (MAX_FIELD_BYTES + 4096)}, ensure_ascii=False),
        json.dumps({**case, "xfjbh": "XF3", "xfr": [{"xm": "张" * (MAX_FIELD_BYTES // 3 + 10)}]}, ensure_ascii=False),
        json.dumps({**case, "xfjbh": "XF4", "nrzy": "x" * MAX_FIELD_BYTES}, ensure_ascii=False),  # exactly the limit
    ]
    result = _read(_jsonl(tmp_path, lines), PETITIONS)
    assert result.frame["case_id"].to_list() == ["XF4"]
    q = result.quarantine
    assert q.select("record_no", "reason").rows() == [(1, "nul_byte"), (2, "field_too_long"), (3, "field_too_long")]
    assert "nrzy" in q["message"][0] and "line 1" in q["message"][0]
    assert "longer than" in q["message"][1] and "xfr.xm" in q["message"][2]
    assert result.records == 4 == _flag_count(result)


def test_jsonl_in_gb18030_is_read_and_reported_as_a_switch(tmp_path):
    # The contract: a department that switches systems may send GB18030 where UTF-8 is stated.
    path = tmp_path / "XF_20241102.jsonl"
    path.write_bytes(
        '{"xfjbh": "XF520602202411020001", "djsj": "2024-11-02 09:00:00", "blzt": "受理", "xfr": [{"xm": "张三"}]}\n'.encode(
            "gb18030"
        )
    )
    result = _read(path, PETITIONS)
    assert result.encoding == "gb18030" and result.encoding_switched
    assert result.frame["name"].to_list() == ["张三"]


def test_jsonl_in_neither_encoding_is_an_encoding_error(tmp_path):
    path = tmp_path / "XF_20241102.jsonl"
    path.write_bytes(b'{"xfjbh": "\xff\xff"}\n')
    with pytest.raises(
        FeedEncodingError, match=r"petitions/XF_20241102\.jsonl: bytes at offset 11 cannot be decoded: it is not UTF-8"
    ):
        _read(path, PETITIONS)


def test_geojson_one_row_per_feature(tmp_path):
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"网格编码": "520602001001001"},
                "geometry": {"type": "Polygon", "coordinates": [[[1, 2], [3, 4], [1, 2]]]},
            },
        ],
    }
    path = tmp_path / "grid_boundaries.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = _read(path, BOUNDARIES)
    assert result.frame.select("record_no", "grid_code", "geometry").rows() == [
        (1, "520602001001001", '{"type":"Polygon","coordinates":[[[1,2],[3,4],[1,2]]]}')
    ]
    assert result.records == 1
    path.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(FeedFormatError, match="not valid JSON"):
        _read(path, BOUNDARIES)


def test_blank_lines_are_not_records_but_are_counted(tmp_path):
    path = _csv(tmp_path, HEADER + "\nJ1,t,a,纠纷,x,已处理,t\n\nJ2,t,a,纠纷,x,已处理,t\n\n")
    result = _read(path)
    assert result.frame.select("record_no", "incident_id").rows() == [(1, "J1"), (2, "J2")]
    assert (result.records, result.skipped) == (2, {"empty": 2})


def test_stray_quote_inside_unquoted_field_is_read_literally(tmp_path):
    path = _csv(tmp_path, HEADER + '\nJ1,t,a,纠纷,他说"快,已处理,t\nJ2,t,a,纠纷,x,已处理,t\n')
    result = _read(path)
    assert result.frame["narrative"].to_list() == ['他说"快', "x"]
    assert result.records == 2


def test_undecodable_utf8_feed_names_the_utf8_offset(tmp_path):
    header = "事件编号,上报时间,网格编码,事件大类,当前状态,状态时间\n"
    good = (header + "SJ1,t,g,安全隐患,已上报,").encode("utf-8")
    path = tmp_path / "SB_20241102.csv"
    path.write_bytes(good + b"\xff\xfe\n")
    with pytest.raises(
        FeedEncodingError,
        match=rf"grid_events/SB_20241102\.csv: bytes at offset {len(good)} cannot be decoded: it is not UTF-8",
    ):
        _read(path, EVENTS)


def test_workbook_id_stored_as_number_reads_with_the_digits_excel_kept(tmp_path):
    """An ID typed into a number cell: Excel keeps 15 digits and writes ``<v>5.2260119900314E+17</v>``.

    The double nearest 522601199003140000 is 522601199003139968; read as that, the ID's birth date
    would say 1990-03-13 beside a 出生日期 cell of 1990-03-14 (seen on 85 rows at 100k residents).
    """
    path = tmp_path / "碧江区救助保障花名册_202411.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("特困供养")
    ws.write_row(0, 0, ["序号", "姓名", "身份证号码", "出生日期", "月供养金(元)"])
    ws.write_row(1, 0, [1, "张三", 522601199003140000, None, 0.1 + 0.2])
    ws.write_number(1, 3, 32946, wb.add_format({"num_format": "yyyy-mm-dd"}))  # 1990-03-14 as Excel stores it
    ws.write_row(2, 0, [2, "李四", 110105194912310000, "1949-12-31", 800])
    wb.close()
    with zipfile.ZipFile(path) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<v>5.2260119900314E+17</v>" in sheet and "<v>32946</v>" in sheet

    frame = _read(path, ROLL).frame.sort("record_no")

    assert frame["id_number"].to_list() == ["522601199003140000", "110105194912310000"]
    assert frame["monthly_amount"].to_list() == ["0.3", "800"]
    out = frame.select(
        fr.normalise_id(
            pl.col("id_number"), numeric_cell=pl.col("_numeric_cells").str.contains("id_number")
        ).struct.field("id_status"),
        pl.col("id_number").str.slice(6, 8).str.to_date("%Y%m%d").alias("id_birth"),
        fr.parse_date(pl.col("birth_date")).alias("birth_date"),
    )
    assert out["id_status"].to_list() == ["excel_damage", "excel_damage"]  # flagged, never repaired
    assert out["id_birth"].to_list() == out["birth_date"].to_list() == [date(1990, 3, 14), date(1949, 12, 31)]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("522601199003139968", "522601199003140000"),  # the borrow reached the day: 14th -> 13th
        ("522601194808009984", "522601194808010000"),  # ... and the month: day 00
        ("522601199003150016", "522601199003150000"),
        ("0.30000000000000004", "0.3"),
        ("-1234.5", "-1234.5"),
        ("1.1010519491231e+17", "110105194912310000"),
    ],
)
def test_excel_number_text_keeps_fifteen_significant_digits(text, shown):
    assert excel_number_text(text) == shown


@pytest.mark.parametrize("skip_from", [0, 512])
def test_cleaning_a_cell_once_per_value_and_skipping_plain_ascii_gives_every_cell_what_the_rule_gives(
    monkeypatch, skip_from
):
    from ingestion import readers
    from ingestion.readers import _clean, _clean_each

    monkeypatch.setattr(readers, "_CLEAN_SKIP_FROM", skip_from)  # 0: every column takes the ASCII shortcut

    values = ["J001", "J001", "ＪＦ００１", "a b", "", "\u3000", None, "张\u200b三", "2024-11-03", "2024-11-03 08:00:00",
              "13812345678", "x\ty", "~!"]  # fmt: skip
    for column in (values, values[:2], [v for v in values if v is None or v.isascii()]):
        frame = pl.DataFrame({"c": column}, schema={"c": pl.String})
        assert frame.select(_clean_each("c")).to_series().to_list() == frame.select(_clean("c")).to_series().to_list()
    cleaned = pl.DataFrame({"c": values}).select(_clean_each("c"))["c"].to_list()
    assert cleaned[:8] == ["J001", "J001", "JF001", "ab", None, None, None, "张三"]
