"""Field rules shared by every feed: real-world forms from the feed README."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from ingestion import fields as f

TZ = "Asia/Shanghai"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def with_check(first17: str) -> str:
    """Reference MOD 11-2, written independently of the module's vectorised one."""
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def one(expr: pl.Expr, value, *, dtype=pl.String):
    return pl.DataFrame({"v": [value]}, schema={"v": dtype}).select(expr.alias("out")).item()


def col(fn, value, **kwargs):
    return one(fn(pl.col("v"), **kwargs), value)


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "ABC123"),
        ("　张三　", "张三"),
        ("\u200b张\u200c三\u200d\ufeff", "张三"),
        ("  a \t\n  b  ", "a b"),
        ("a\u3000\u3000b", "a b"),
        ("（注）", "（注）"),  # Chinese punctuation is not folded by default
        ("", None),
        ("\u3000 \ufeff", None),
        (None, None),
    ],
)
def test_clean_text_folds_width_strips_and_collapses(raw, expected):
    assert col(f.clean_text, raw) == expected


def test_clean_text_folds_punctuation_only_on_request():
    assert col(f.clean_text, "＋８６－１３８", fold_punctuation=True) == "+86-138"
    assert col(f.clean_text, "＋８６－１３８") == "＋86－138"


# --------------------------------------------------------------------------- citizen ID

WORKED_EXAMPLE = "11010519491231002X"  # GB 11643-1999's own example


def test_standard_worked_example_validates():
    out = col(f.normalise_id, WORKED_EXAMPLE)
    assert out == {
        "id_number": WORKED_EXAMPLE,
        "id_status": "valid",
        "birth_date": dt.date(1949, 12, 31),
        "sex": "女",
    }


def test_fifteen_digit_id_upgrades_to_worked_example():
    out = col(f.normalise_id, "110105491231002")
    assert out["id_number"] == WORKED_EXAMPLE
    assert out["id_status"] == "upgraded_15"
    assert out["birth_date"] == dt.date(1949, 12, 31)


MALE_ID = with_check("52060219900101001")  # 铜仁市碧江区, odd sequence


@pytest.mark.parametrize(
    ("raw", "number", "status"),
    [
        (WORKED_EXAMPLE, WORKED_EXAMPLE, "valid"),
        ("11010519491231002x", WORKED_EXAMPLE, "valid"),
        ("１１０１０５１９４９１２３１００２Ｘ", WORKED_EXAMPLE, "valid"),
        ("１１０１０５１９４９１２３１００２ｘ", WORKED_EXAMPLE, "valid"),
        ("110105 19491231 002X", WORKED_EXAMPLE, "valid"),
        ("\u3000110105\u300019491231002X ", WORKED_EXAMPLE, "valid"),
        ("\ufeff\u200b11010519491231002X\u200b", WORKED_EXAMPLE, "valid"),
        (MALE_ID, MALE_ID, "valid"),
        ("110105491231002", WORKED_EXAMPLE, "upgraded_15"),
        ("", None, "empty"),
        ("   ", None, "empty"),
        (None, None, "empty"),
        ("无", None, "placeholder"),
        ("不详", None, "placeholder"),
        ("-", None, "placeholder"),
        ("0", None, "placeholder"),
        ("000000000000000000", None, "placeholder"),
        ("1.10105E+17", None, "excel_damage"),
        ("1.10105194912E+17", None, "excel_damage"),
        ("1.10105194912e+17", None, "excel_damage"),
        ("110105194912310000", None, "excel_damage"),  # last 3 digits lost
        ("110105491231002.0", None, "excel_damage"),
        ("1101051949123100", None, "wrong_length"),
        ("1101051949123100211", None, "wrong_length"),
        ("11010519491231002A", None, "bad_chars"),
        ("110105194912310X2X", None, "bad_chars"),
        ("11010549123100X", None, "bad_chars"),
        ("11010519491231003X", None, "bad_check"),  # typo in the sequence
        (with_check("11010519490230002"), None, "bad_date"),  # 30 February
        (with_check("11010518991231002"), None, "bad_date"),  # before 1900
        (with_check("11010521000101002"), None, "bad_date"),  # in the future
        ("110105491331002", None, "bad_date"),  # 15-digit, month 13
        (with_check("19000019900101001"), None, "bad_region"),
        (with_check("00000119900101001"), None, "bad_region"),
        (with_check("11010319900101001"), with_check("11010319900101001"), "valid"),  # 崇文区, abolished 2010
        (with_check("81000019900101001"), with_check("81000019900101001"), "valid"),  # HK residence permit
    ],
)
def test_normalise_id_statuses(raw, number, status):
    out = col(f.normalise_id, raw)
    assert (out["id_number"], out["id_status"]) == (number, status)
    if number is None:
        assert out["birth_date"] is None and out["sex"] is None


def test_normalise_id_reads_sex_from_17th_digit():
    assert col(f.normalise_id, MALE_ID)["sex"] == "男"
    assert col(f.normalise_id, WORKED_EXAMPLE)["sex"] == "女"


def test_numeric_cell_is_always_excel_damage_never_repaired():
    df = pl.DataFrame({"id": [WORKED_EXAMPLE, "110105194912310000", WORKED_EXAMPLE], "num": [True, True, False]})
    out = df.select(f.normalise_id(pl.col("id"), numeric_cell=pl.col("num")).alias("r")).unnest("r")
    assert out["id_status"].to_list() == ["excel_damage", "excel_damage", "valid"]
    assert out["id_number"].to_list() == [None, None, WORKED_EXAMPLE]


FOREIGN_PR = with_check("91156020230101001")


@pytest.mark.parametrize(
    ("raw", "doc", "number", "status"),
    [
        (WORKED_EXAMPLE, "居民身份证", WORKED_EXAMPLE, "valid"),
        (WORKED_EXAMPLE, "111", WORKED_EXAMPLE, "valid"),
        (WORKED_EXAMPLE, None, WORKED_EXAMPLE, "valid"),
        (FOREIGN_PR, "外国人永久居留身份证", FOREIGN_PR, "foreign_valid"),
        (FOREIGN_PR, None, FOREIGN_PR, "foreign_valid"),
        (FOREIGN_PR[:-1] + ("0" if FOREIGN_PR[-1] != "0" else "1"), "外国人永久居留身份证", None, "bad_check"),
        ("E12345678", "护照", None, "foreign_doc"),
        ("H01234567", "港澳居民来往内地通行证", None, "foreign_doc"),
        ("", "护照", None, "empty"),
    ],
)
def test_normalise_id_document_types(raw, doc, number, status):
    df = pl.DataFrame({"id": [raw], "doc": [doc]}, schema={"id": pl.String, "doc": pl.String})
    out = df.select(f.normalise_id(pl.col("id"), doc_type=pl.col("doc")).alias("r")).item()
    assert (out["id_number"], out["id_status"]) == (number, status)


def test_foreign_permanent_residence_card_carries_birth_date():
    out = col(f.normalise_id, FOREIGN_PR)
    assert out["birth_date"] == dt.date(2023, 1, 1)


def test_region_table_includes_historical_codes():
    codes = f.region_codes()
    assert {"110103", "110104", "520602", "810000", "820000", "830000"} <= codes
    assert "999999" not in codes


def test_normalise_id_stays_vectorised_over_a_million_rows():
    n = 1_000_000
    rng = np.random.default_rng(11643)
    regions = np.array([110105, 520602, 522201, 440305, 310115], dtype=np.int64)
    region = regions[rng.integers(0, len(regions), n)]
    birth = np.datetime64("1930-01-01") + rng.integers(0, 30_000, n).astype("timedelta64[D]")
    ymd = pl.Series(birth).dt.strftime("%Y%m%d").cast(pl.Int64).to_numpy()
    seq = rng.integers(0, 1000, n)
    first17 = region * 10**11 + ymd * 1000 + seq
    total = np.zeros(n, dtype=np.int64)
    for i, w in enumerate(WEIGHTS):
        total += (first17 // 10 ** (16 - i)) % 10 * w
    check = np.array(list("10X98765432"))[total % 11]
    ids = pl.Series("id", first17).cast(pl.String) + pl.Series(check)
    out = pl.DataFrame({"id": ids}).select(f.normalise_id(pl.col("id")).alias("r")).unnest("r")
    assert out["id_status"].value_counts().to_dicts() == [{"id_status": "valid", "count": n}]
    assert out["id_number"].equals(ids, check_names=False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X42", ("11010519491231002X", 4, "肢体", 2)),
        ("11010519491231002x71", ("11010519491231002X", 7, "多重", 1)),
        ("11010519491231002X", ("11010519491231002X", None, None, None)),
        ("11010519491231002X85", ("11010519491231002X", None, None, None)),  # no category 8
        ("1101051949", (None, None, None, None)),
        (None, (None, None, None, None)),
    ],
)
def test_disability_cert_id_splits_id_category_grade(raw, expected):
    out = col(f.disability_cert_id, raw)
    assert (out["id_number"], out["category"], out["category_name"], out["grade"]) == expected


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    ("fn", "raw", "expected"),
    [
        (f.mask_id, WORKED_EXAMPLE, "110105********002X"),
        (f.mask_phone, "13812345678", "138****5678"),
        (f.mask_name, "张三", "张*"),
        (f.mask_name, "张小三", "张*三"),
        (f.mask_name, "欧阳娜娜", "欧**娜"),
        (f.mask_name, "张", "*"),
        (f.mask_id, None, None),
    ],
)
def test_masks_keep_only_the_ends(fn, raw, expected):
    assert col(fn, raw) == expected


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "name", "status"),
    [
        ("张三", "张三", "ok"),
        ("张 三", "张三", "ok"),
        ("　张　三　", "张三", "ok"),
        ("欧阳 娜 娜", "欧阳娜娜", "ok"),
        ("买买提·艾力", "买买提·艾力", "ok"),
        ("买买提•艾力", "买买提·艾力", "ok"),
        ("买买提・艾力", "买买提·艾力", "ok"),
        ("买买提.艾力", "买买提·艾力", "ok"),
        ("买买提．艾力", "买买提·艾力", "ok"),
        ("买买提‧艾力", "买买提·艾力", "ok"),
        ("买买提 · 艾力", "买买提·艾力", "ok"),
        ("陳大文", "陈大文", "ok"),
        ("張偉", "张伟", "ok"),
        ("𠇔明", "𠇔明", "ok"),  # supplementary-plane surname survives
        ("匿名", None, "anonymous"),
        ("不详", None, "anonymous"),
        ("无名氏", None, "anonymous"),
        ("未知", None, "anonymous"),
        ("张三2", "张三2", "odd"),
        ("Ｊｏｈｎ Smith", "John Smith", "odd"),
        ("", None, "empty"),
        ("\u200b", None, "empty"),
        (None, None, "empty"),
    ],
)
def test_normalise_name(raw, name, status):
    out = col(f.normalise_name, raw)
    assert (out["name"], out["name_status"]) == (name, status)


def test_normalise_name_converts_each_distinct_value_once_in_a_column():
    df = pl.DataFrame({"n": ["陳大文", "陈大文", None, "陳大文", "李四"]})
    out = df.select(f.normalise_name(pl.col("n")).struct.field("name"))
    assert out["name"].to_list() == ["陈大文", "陈大文", None, "陈大文", "李四"]


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("raw", "phone", "kind", "phones"),
    [
        ("13812345678", "13812345678", "mobile", ["13812345678"]),
        ("+8613812345678", "13812345678", "mobile", ["13812345678"]),
        ("8613812345678", "13812345678", "mobile", ["13812345678"]),
        ("+86-13812345678", "13812345678", "mobile", ["13812345678"]),
        ("+86 138 1234 5678", "13812345678", "mobile", ["13812345678"]),
        ("138 1234 5678", "13812345678", "mobile", ["13812345678"]),
        ("138-1234-5678", "13812345678", "mobile", ["13812345678"]),
        ("１３８１２３４５６７８", "13812345678", "mobile", ["13812345678"]),
        ("0856-5231234", "0856-5231234", "landline", ["0856-5231234"]),
        ("(0856)5231234", "0856-5231234", "landline", ["0856-5231234"]),
        ("（0856）5231234", "0856-5231234", "landline", ["0856-5231234"]),
        ("08565231234", "0856-5231234", "landline", ["0856-5231234"]),
        ("010-62345678", "010-62345678", "landline", ["010-62345678"]),
        ("5231234", "5231234", "local", ["5231234"]),
        ("13812345678/0856-5231234", "13812345678", "mobile", ["13812345678", "0856-5231234"]),
        ("13812345678;13987654321", "13812345678", "mobile", ["13812345678", "13987654321"]),
        ("13812345678，13987654321", "13812345678", "mobile", ["13812345678", "13987654321"]),
        ("13812345678、13987654321", "13812345678", "mobile", ["13812345678", "13987654321"]),
        ("0856-5231234 / 138 1234 5678", "0856-5231234", "landline", ["0856-5231234", "13812345678"]),
        ("1381234", "1381234", "local", ["1381234"]),
        ("12345", None, "invalid", []),
        ("无", None, "invalid", []),
        ("", None, "empty", None),
        (None, None, "empty", None),
    ],
)
def test_normalise_phones(raw, phone, kind, phones):
    out = col(f.normalise_phones, raw)
    assert (out["phone"], out["phone_kind"], out["phones"]) == (phone, kind, phones)


# --------------------------------------------------------------------------- sex


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("男", "男"),
        ("女", "女"),
        ("1", "男"),
        ("2", "女"),
        ("1.0", "男"),
        ("M", "男"),
        ("f", "女"),
        ("Male", "男"),
        ("female", "女"),
        (" 女 ", "女"),
        ("0", None),
        ("9", None),
        ("", None),
        (None, None),
        ("未知", None),
    ],
)
def test_normalise_sex(raw, expected):
    assert col(f.normalise_sex, raw) == expected


def test_id_sex_is_the_authority_and_conflict_is_flagged():
    df = pl.DataFrame({"s": ["男", "男", None, "女"], "id_sex": ["女", None, "男", "女"]})
    out = df.select(
        f.normalise_sex(pl.col("s"), id_sex=pl.col("id_sex")).alias("sex"),
        f.sex_conflict(pl.col("s"), id_sex=pl.col("id_sex")).alias("conflict"),
    )
    assert out["sex"].to_list() == ["女", "男", "男", "女"]
    assert out["conflict"].to_list() == [True, False, False, False]


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-06-12", dt.date(2024, 6, 12)),
        ("2024/6/12", dt.date(2024, 6, 12)),
        ("2024/06/12", dt.date(2024, 6, 12)),
        ("20240612", dt.date(2024, 6, 12)),
        ("2024年6月12日", dt.date(2024, 6, 12)),
        ("2024.06.12", dt.date(2024, 6, 12)),
        ("２０２４－０６－１２", dt.date(2024, 6, 12)),
        ("45455", dt.date(2024, 6, 12)),
        ("45455.0", dt.date(2024, 6, 12)),
        ("45455.75", dt.date(2024, 6, 12)),
        ("2024-06-12 14:22:53", dt.date(2024, 6, 12)),
        ("2024/6/12 14:22", dt.date(2024, 6, 12)),
        ("2024-06-12T14:22:53+08:00", dt.date(2024, 6, 12)),
        ("2024-06-12T20:00:00+00:00", dt.date(2024, 6, 13)),  # China date
        ("2024-02-30", None),
        ("2024-13-01", None),
        ("明天", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(raw, expected):
    assert col(f.parse_date, raw) == expected


def cst(*args):
    return dt.datetime(*args, tzinfo=__import__("zoneinfo").ZoneInfo(TZ))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-06-12 14:22:53", cst(2024, 6, 12, 14, 22, 53)),
        ("2024/6/12 14:22", cst(2024, 6, 12, 14, 22)),
        ("2024年6月12日 14时22分", cst(2024, 6, 12, 14, 22)),
        ("2024-06-12T14:22:53+08:00", cst(2024, 6, 12, 14, 22, 53)),
        ("2024-06-12T14:22:53.250+08:00", cst(2024, 6, 12, 14, 22, 53, 250_000)),
        ("2024-06-12T14:22:53+00:00", cst(2024, 6, 12, 22, 22, 53)),
        ("2024-06-12T14:22:53Z", cst(2024, 6, 12, 22, 22, 53)),
        ("2024-06-12T14:22:53-05:00", cst(2024, 6, 13, 3, 22, 53)),
        ("2024-06-12T14:22:53+0530", cst(2024, 6, 12, 16, 52, 53)),
        ("2024-06-12", cst(2024, 6, 12)),
        ("20240612", cst(2024, 6, 12)),
        ("45455.5", cst(2024, 6, 12, 12)),
        ("45455", cst(2024, 6, 12)),
        ("2024-06-12 25:00", None),
        ("abc", None),
        (None, None),
    ],
)
def test_parse_datetime(raw, expected):
    assert col(f.parse_datetime, raw) == expected


def test_parse_datetime_dtype_is_china_time():
    df = pl.DataFrame({"v": ["2024-06-12"]})
    assert df.select(f.parse_datetime(pl.col("v"))).dtypes == [pl.Datetime("us", TZ)]


def test_excel_serial_can_be_switched_off():
    assert col(f.parse_date, "45455", excel_serial=False) is None
    assert col(f.parse_date, "2024-06-12", excel_serial=False) == dt.date(2024, 6, 12)


def test_is_unparsed_flags_non_blank_values_that_gave_null():
    df = pl.DataFrame({"v": ["2024-06-12", "明天", "", None]})
    out = df.select(f.is_unparsed(pl.col("v"), f.parse_date(pl.col("v"))).alias("u"))
    assert out["u"].to_list() == [False, True, False, False]


# --------------------------------------------------------------------------- numbers and codes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234.50", Decimal("1234.50")),
        ("￥1234", Decimal("1234.00")),
        ("¥ 1,234", Decimal("1234.00")),
        ("1234元", Decimal("1234.00")),
        ("１２３４．５", Decimal("1234.50")),
        ("１，２３４．５０元", Decimal("1234.50")),
        ("1.2万", Decimal("12000.00")),
        ("-5", Decimal("-5.00")),
        ("1.234", None),
        ("abc", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_money(raw, expected):
    assert col(f.parse_money, raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", 12), ("12.0", 12), ("１２", 12), ("12人", 12), (" 3 户", 3), ("12.5", None), ("x", None), (None, None)],
)
def test_parse_int(raw, expected):
    assert col(f.parse_int, raw) == expected


ETHNIC = {"01": "汉族", "02": "蒙古族", "03": "回族", "汉": "汉族"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("01", "汉族"),
        ("1", "汉族"),
        ("1.0", "汉族"),
        ("０１", "汉族"),
        ("汉族", "汉族"),
        ("汉", "汉族"),
        ("03", "回族"),
        ("99", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_code(raw, expected):
    assert one(f.normalise_code(pl.col("v"), ETHNIC), raw) == expected


def test_normalise_code_accepts_numeric_columns():
    assert one(f.normalise_code(pl.col("v"), ETHNIC), 2, dtype=pl.Int64) == "蒙古族"


def test_normalise_code_rejects_colliding_keys():
    with pytest.raises(ValueError, match=r"mapping key '1' collides"):
        f.normalise_code(pl.col("v"), {"01": "汉族", "1": "蒙古族"})
