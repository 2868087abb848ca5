"""The register's household columns (户号, 与户主关系): field rules, reading snapshots before and after the
register exported them, and what the normaliser lets out of ingestion."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import fields as fr
from ingestion.feeds import table_for_file
from ingestion.normalise import Context, normalise
from ingestion.readers import read_file

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REGISTER = table_for_file("police_population", "SYRK_20241108.csv")
WIDE = str.maketrans("0123456789", "０１２３４５６７８９")
PADDING = st.sampled_from(["", " ", "\u3000", "\u200b", "\ufeff"])


def _apply(expr: pl.Expr, values: list[str | None]) -> list[dict]:
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(expr.alias("out"))["out"].to_list()


@FAST
@given(st.lists(st.tuples(st.sampled_from(fr.HOUSEHOLD_RELATIONS), PADDING, PADDING), min_size=1, max_size=20))
def test_a_relation_on_the_code_list_is_known_whatever_the_padding(cases):
    out = _apply(fr.normalise_relation(pl.col("v")), [a + r + b for r, a, b in cases])
    assert [o["relation"] for o in out] == [r for r, _, _ in cases]
    assert all(o["is_known"] for o in out)


@FAST
@given(st.lists(st.text(alphabet="保姆寄居表朋友租户亲戚", min_size=1, max_size=4), min_size=1, max_size=20))
def test_a_relation_off_the_code_list_is_kept_as_written_and_flagged(values):
    out = _apply(fr.normalise_relation(pl.col("v")), values)
    for value, o in zip(values, out):
        assert o["relation"] == value and o["is_known"] is False


def test_household_book_words_and_gb4761_codes_map_onto_the_code_list():
    out = _apply(fr.normalise_relation(pl.col("v")), ["本人", "长子", "女儿", "妻", "10", "母亲", "", None])
    assert [o["relation"] for o in out] == ["户主", "子", "女", "配偶", "配偶", "父母", None, None]
    assert [o["is_known"] for o in out] == [True] * 6 + [None, None]


@FAST
@given(st.lists(st.tuples(st.integers(10**8, 10**9 - 1), st.booleans(), PADDING), min_size=1, max_size=20))
def test_a_nine_digit_household_number_is_valid_in_any_width(cases):
    raw = [p + (str(n).translate(WIDE) if wide else str(n)) + p for n, wide, p in cases]
    out = _apply(fr.normalise_household_no(pl.col("v")), raw)
    assert [o["household_no"] for o in out] == [str(n) for n, _, _ in cases]
    assert {o["household_no_status"] for o in out} == {"valid"}


@FAST
@given(
    st.lists(
        st.one_of(
            st.integers(0, 10**8 - 1).map(str),
            st.integers(10**9, 10**12).map(str),
            st.text(alphabet="0123456789AB-", min_size=1, max_size=12).filter(lambda s: not s.isdigit()),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_any_other_household_number_is_kept_and_flagged_malformed(values):
    out = _apply(fr.normalise_household_no(pl.col("v")), values)
    for value, o in zip(values, out):
        assert o["household_no"] == value and o["household_no_status"] == "malformed"


BASE = "人员编号,姓名,证件类型,证件号码,民族,现住地址,人员状态"
ROW = "R52060200000001,张三,居民身份证,110105194912310021,汉族,某路1号,在册"


def _register_file(tmp_path, header: str, rows: list[str]):
    path = tmp_path / "SYRK_20241108.csv"
    path.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode("gb18030"))
    return read_file(path, REGISTER, file_md5="0" * 32)


def test_a_snapshot_from_before_the_household_columns_reports_them_neither_missing_nor_new(tmp_path):
    before = _register_file(tmp_path, BASE, [ROW])
    assert "户号" not in before.missing_optional and "与户主关系" not in before.missing_optional
    assert "性别" in before.missing_optional  # an ordinary optional column is still reported
    after = _register_file(tmp_path, BASE + ",户号,与户主关系", [ROW + ",５２０６０２００１,本人"])
    assert after.unknown_columns == [] and "户号" not in after.missing_optional
    assert after.frame["household_no"].to_list() == ["５２０６０２００１"]


def test_the_household_number_leaves_ingestion_only_keyed_and_masked(tmp_path):
    rows = [
        ROW + ",731904256,本人",
        ROW.replace("0001,", "0002,") + ",７３１９０４２５６,保姆",
        ROW.replace("0001,", "0003,") + ",73190425,子",
    ]
    read = _register_file(tmp_path, BASE + ",户号,与户主关系", rows)
    out = normalise(read.frame, REGISTER, Context(key=b"k" * 32, data_date=date(2024, 11, 8))).frame
    assert out.height == 3  # nothing dropped: a malformed number or an unknown relation keeps the row
    assert out["household_no_status"].to_list() == ["valid", "valid", "malformed"]
    assert out["relation_to_head"].to_list() == ["户主", "保姆", "子"]
    assert out["is_relation_known"].to_list() == [True, False, True]
    keys = out["household_key"].to_list()
    assert keys[0] == keys[1] != keys[2] and all(k and len(k) == 26 for k in keys)
    cells = [str(v) for row in out.rows() for v in row]
    assert not [c for c in cells if "73190425" in c]
    assert out["household_no_masked"].to_list() == ["731**4256", "731**4256", "731*0425"]
    # keyed: another pseudonym key gives other household keys
    other = normalise(read.frame, REGISTER, Context(key=b"j" * 32, data_date=date(2024, 11, 8))).frame
    assert set(other["household_key"]).isdisjoint(keys)
