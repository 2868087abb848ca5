"""The field rules evaluated in steps, once per distinct value, give what the one-expression forms gave.

``parse_datetime``, ``parse_date``, ``normalise_name``, ``normalise_phones`` and ``credit_code_status``
run over a materialised batch, once per distinct value (ingestion.fields ``_per_unique``), because as one
expression Polars recomputed their shared parts for every use (issues 22 and 23: a day's service list spent
most of its normalising there). These tests hold each to the single expression it replaced, kept here (or in
the module, for the dates) as the reference, over drawn text, repeated values, nulls and every context a
normaliser uses them in (a column, a literal, a ``list.eval``).
"""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import fields as f

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DATE_PIECES = (
    "2024-06-12 14:22:53",
    "2024/6/12 14:22",
    "2024年6月12日 8时5分",
    "20240612",
    "2024-06-12T14:22:53.5Z",
    "2024-06-12T14:22:53+05:30",
    "1988-04-10 02:30:00",
    "45000.25",
    "2024",
    "1988",
    "1900",
    "-",
    "/",
    ".",
    "年",
    "月",
    "日",
    " ",
    "T",
    ":",
    "时",
    "分",
    "秒",
    "Z",
    "+08:00",
    "-0530",
    "06",
    "6",
    "12",
    "13",
    "31",
    "02",
    "29",
    "00",
    "59",
    "60",
    ".123",
    "45000.5",
    "61",
    "60",
    "59.99",
    "０",
    "\u3000",
    "\u200b",
)
PHONE_PIECES = (
    "13812345678",
    "138",
    "1234",
    "5678",
    "+86",
    "0086",
    "86",
    " ",
    "-",
    "(",
    ")",
    "（",
    "）",
    "0856",
    "010",
    "5231234",
    "62345678",
    "/",
    ";",
    ",",
    "、",
    "|",
    "，",
    "；",
    "１",
    "x",
    ".",
)
NAME_PIECES = ("张", "三", "歐", "陽", "娜", " ", "\u3000", "·", "•", ".", "・", "A", "1", "匿名", "无", "\u200b", "爾")


def texts(pieces: tuple[str, ...]):
    one = st.lists(st.sampled_from(pieces), max_size=8).map("".join)
    # repeated values and nulls, as a day's file has them
    return st.lists(st.one_of(st.none(), one, st.sampled_from(pieces)), min_size=1, max_size=40).map(
        lambda v: v + v[::3]
    )


def both(expr: pl.Expr, reference: pl.Expr, values: list) -> None:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    out = frame.select(expr.alias("got"), reference.alias("want"))
    assert out.schema["got"] == out.schema["want"]
    assert out["got"].equals(out["want"], check_names=False), out.filter(pl.col("got").ne_missing(pl.col("want")))


def _names_reference(expr: pl.Expr) -> pl.Expr:
    """normalise_name as one expression (before the batch)."""
    s = f._name_rule(expr).map_batches(f._to_simplified, return_dtype=pl.String)
    s = pl.when(s.str.len_bytes() > 0).then(s)
    status = f._name_status(s)
    return pl.struct(pl.when(status.is_in(["ok", "odd"])).then(s).alias("name"), status.alias("name_status"))


def _phones_reference(expr: pl.Expr) -> pl.Expr:
    """normalise_phones as list.eval over each field (before the batch)."""

    def batch(values: pl.Series) -> pl.Series:
        frame = values.to_frame("raw").select(f.clean_text(pl.col("raw"), fold_punctuation=True).alias("s"))
        frame = frame.with_columns(
            pl.col("s")
            .str.replace_all(f._PHONE_SEP, "/")
            .str.split("/")
            .list.eval(f._one_phone(pl.element()).drop_nulls())
            .alias("phones")
        )
        phone = pl.col("phones").list.first()
        kind = (
            pl.when(pl.col("s").is_null())
            .then(pl.lit("empty"))
            .when(phone.is_null())
            .then(pl.lit("invalid"))
            .when(phone.str.contains("-"))
            .then(pl.lit("landline"))
            .when(phone.str.len_chars() == 11)
            .then(pl.lit("mobile"))
            .otherwise(pl.lit("local"))
        )
        return frame.select(
            pl.struct(
                phone.alias("phone"),
                kind.alias("phone_kind"),
                pl.when(pl.col("s").is_not_null()).then(pl.col("phones")).alias("phones"),
            ).alias(values.name)
        ).to_series()

    return expr.map_batches(batch, return_dtype=f._PHONES_DTYPE)


@FAST
@given(texts(DATE_PIECES), st.booleans())
def test_dates_and_times_in_steps_equal_the_one_expression(values, serial):
    v = pl.col("v")
    both(f.parse_datetime(v, excel_serial=serial), f._parse_datetime_expr(v, excel_serial=serial), values)
    both(f.parse_date(v, excel_serial=serial), f._parse_date_expr(v, excel_serial=serial), values)


@FAST
@given(texts(NAME_PIECES))
def test_names_in_steps_equal_the_one_expression(values):
    both(f.normalise_name(pl.col("v")), _names_reference(pl.col("v")), values)


@FAST
@given(texts(PHONE_PIECES))
def test_phones_in_steps_equal_the_list_evaluation(values):
    both(f.normalise_phones(pl.col("v")), _phones_reference(pl.col("v")), values)


@FAST
@given(texts(("91350100M000100Y43", "91350100M000100Y44", "9135", " ", "O", "I", "a")))
def test_credit_codes_once_per_code_equal_a_check_per_row(values):
    reference = pl.col("v").map_elements(f.credit_code_check, return_dtype=pl.String, skip_nulls=False)
    both(f.credit_code_status(pl.col("v")), reference, values)


def test_the_batches_work_where_the_normalisers_use_them():
    # a literal, an empty frame, a list.eval (petitions' 办理过程), a when/then around the rule
    assert pl.select(f.parse_date(pl.lit("2024年6月12日"))).item().isoformat() == "2024-06-12"
    empty = pl.DataFrame({"v": []}, schema={"v": pl.String})
    assert empty.select(f.parse_datetime(pl.col("v")), f.normalise_phones(pl.col("v")).alias("p")).height == 0
    steps = pl.DataFrame({"l": [[{"sj": "2024-06-12 14:22"}, {"sj": "x"}, {"sj": "2024-06-12 14:22"}], None, []]})
    got = steps.select(pl.col("l").list.eval(f.parse_datetime(pl.element().struct.field("sj"))))
    want = steps.select(pl.col("l").list.eval(f._parse_datetime_expr(pl.element().struct.field("sj"))))
    assert got.equals(want)
    codes = pl.DataFrame({"unit": [True, False, True], "v": ["91350100M000100Y43", None, "91350100M000100Y43"]})
    assert codes.select(pl.when("unit").then(f.credit_code_status(pl.col("v"))))["v"].to_list() == [
        "valid",
        None,
        "valid",
    ]
