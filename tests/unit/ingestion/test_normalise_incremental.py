"""``normalise(..., previous=...)``: a snapshot from the previous one gives exactly a full normalise."""

from __future__ import annotations

import datetime as dt
import types
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ingestion import fields
from ingestion.feeds import table_for_file
from ingestion.normalise import Context, Previous, _same_grids_on, normalise

SPEC = table_for_file("police_population", "SYRK_20241108.csv")
KEY = b"k" * 32
_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def _id(first17: str) -> str:
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def _person(pid: str, name: str, first17: str, **cells: str) -> dict:
    return {
        "source_person_id": pid,
        "name": name,
        "doc_type": "居民身份证",
        "id_number": _id(first17),
        "sex": "男",
        "birth_date": first17[6:14],
        "address": "碧江区滨江大道8号3栋2单元501",
        "phone": "13812345678",
        "person_status": "在册",
        **cells,
    }


def _raw(rows: list[dict], file: str, **extra: list) -> pl.DataFrame:
    schema = {
        "feed": pl.String,
        "file": pl.String,
        "file_md5": pl.String,
        "sheet": pl.String,
        "record_no": pl.Int64,
        "member_no": pl.Int32,
        **{n: pl.String for n in SPEC.all_names},
    }
    frame = pl.DataFrame(
        [
            {
                "feed": "police_population",
                "file": file,
                "file_md5": file[5:13] * 4,
                "sheet": "",
                "record_no": i,
                "member_no": 1,
                **r,
            }
            for i, r in enumerate(rows, 1)
        ],
        schema=schema,
    )
    return frame.with_columns(pl.Series(k, v, dtype=pl.String) for k, v in extra.items())


def _previous(raw: pl.DataFrame, when: date) -> Previous:
    out = normalise(raw, SPEC, Context(key=KEY, data_date=when))
    return Previous(raw=raw, frame=out.frame, person_records=out.person_records)


A = _person("R00000000000001", "张三", "11010519491231002")
B = _person("R00000000000002", "李四", "52060119800101001")
QUARANTINED = _person("", "王五", "52060119900315002")  # no 人员编号: quarantined
GONE = _person("R00000000000004", "赵六", "52060119700101003")


def _assert_same(got, full):
    assert_frame_equal(got.frame, full.frame)
    assert_frame_equal(got.person_records, full.person_records)
    assert_frame_equal(got.quarantine, full.quarantine)


def test_repeated_rows_are_reused_and_the_rest_normalised_as_a_full_pass_would():
    before = _raw([A, B, QUARANTINED, GONE], "SYRK_20241101.csv")
    changed_b = dict(B, phone="0856-5231234", person_status="迁出", status_changed_date="2024/11/5")
    new = _person("R00000000000005", "阿依古丽•买买提", "65010119851212001")
    now = _raw([QUARANTINED, new, A, changed_b, A], "SYRK_20241108.csv")
    ctx = Context(key=KEY, data_date=date(2024, 11, 8))

    got = normalise(now, SPEC, ctx, previous=_previous(before, date(2024, 11, 1)))

    _assert_same(got, normalise(now, SPEC, ctx))
    assert got.rows_reused == 2  # A twice; B changed, the quarantined row is checked again, the new row is new
    assert got.frame["file"].unique().to_list() == ["SYRK_20241108.csv"]
    assert got.frame["record_no"].to_list() == [2, 3, 4, 5]
    assert got.person_records["record_at"].dt.date().unique().to_list() == [date(2024, 11, 8)]
    assert got.quarantine["record_no"].to_list() == [1]


def test_nothing_repeated_and_everything_repeated():
    before = _raw([A, B], "SYRK_20241101.csv")
    ctx = Context(key=KEY, data_date=date(2024, 11, 8))
    for rows, reused in (([GONE], 0), ([B, A], 2)):
        now = _raw(rows, "SYRK_20241108.csv")
        got = normalise(now, SPEC, ctx, previous=_previous(before, date(2024, 11, 1)))
        _assert_same(got, normalise(now, SPEC, ctx))
        assert got.rows_reused == reused


def test_an_unannounced_column_changes_no_row():
    # a column the contract does not know is carried in the raw zone and changes no normalised value
    before = _raw([A, B], "SYRK_20241101.csv")
    now = _raw([A, B], "SYRK_20241108.csv", 备用字段=["x", "y"])
    ctx = Context(key=KEY, data_date=date(2024, 11, 8))
    got = normalise(now, SPEC, ctx, previous=_previous(before, date(2024, 11, 1)))
    _assert_same(got, normalise(now, SPEC, ctx))
    assert got.rows_reused == 2


def test_a_week_without_a_contract_column_reuses_only_the_rows_that_had_no_value_there():
    no_phone = dict(B, phone=None)
    before = _raw([A, no_phone], "SYRK_20241101.csv")
    now = _raw([A, no_phone], "SYRK_20241108.csv").drop("phone")  # this week's export lacks 联系电话
    ctx = Context(key=KEY, data_date=date(2024, 11, 8))
    got = normalise(now, SPEC, ctx, previous=_previous(before, date(2024, 11, 1)))
    _assert_same(got, normalise(now, SPEC, ctx))
    assert got.rows_reused == 1  # A had a phone: normalised afresh; B had none: the same row
    # and back again: the week after has the column, empty for B as before
    again = normalise(before, SPEC, ctx, previous=_previous(now, date(2024, 11, 1)))
    _assert_same(again, normalise(before, SPEC, ctx))
    assert again.rows_reused == 1


def test_an_empty_cell_is_the_same_whether_quoted_or_not():
    before = _raw([dict(A, status_changed_date=None)], "SYRK_20241101.csv")
    now = _raw([dict(A, status_changed_date="")], "SYRK_20241108.csv")
    ctx = Context(key=KEY, data_date=date(2024, 11, 8))
    got = normalise(now, SPEC, ctx, previous=_previous(before, date(2024, 11, 1)))
    _assert_same(got, normalise(now, SPEC, ctx))
    assert got.rows_reused == 1


def test_an_id_whose_validity_depends_on_the_day_is_checked_again(monkeypatch):
    # normalised on 2024-06-01, a birth date of 2024-06-15 was "in the future" (bad_date); today it is not
    born = _person("R00000000000009", "小明", "52060120240615001")
    before = _raw([born, A], "SYRK_20240601.csv")

    class Then(dt.date):
        @classmethod
        def today(cls):
            return dt.date(2024, 6, 1)

    monkeypatch.setattr(fields, "_dt", types.SimpleNamespace(**{**vars(dt), "date": Then}))
    previous = _previous(before, date(2024, 6, 1))
    monkeypatch.undo()
    assert previous.frame["id_status"].to_list() == ["bad_date", "valid"]

    now = _raw([born, A], "SYRK_20240608.csv")
    ctx = Context(key=KEY, data_date=date(2024, 6, 8))
    got = normalise(now, SPEC, ctx, previous=previous)
    _assert_same(got, normalise(now, SPEC, ctx))
    assert got.frame["id_status"].to_list() == ["valid", "valid"] and got.rows_reused == 1


@pytest.mark.parametrize(
    ("before", "after", "same"),
    [
        (date(2024, 11, 8), date(2024, 11, 15), True),
        (date(2024, 11, 8), date(2024, 11, 26), False),  # a grid ends and another starts on 11-26
        (date(2024, 11, 26), date(2024, 12, 3), True),
        (date(2024, 11, 25), date(2024, 11, 26), False),
        (date(2024, 12, 3), date(2024, 11, 8), False),  # an older snapshot after a newer one
    ],
)
def test_placement_is_reused_only_when_no_grid_starts_or_ends_between_the_dates(before, after, same):
    grids = pl.DataFrame(
        {"valid_from": [date(2021, 2, 8), date(2024, 11, 26)], "valid_to": [date(2024, 11, 26), None]},
        schema={"valid_from": pl.Date, "valid_to": pl.Date},
    )
    ctx = Context(key=KEY, data_date=after, grid_index=types.SimpleNamespace(grids=grids))
    assert _same_grids_on(ctx, before) is same


def test_rows_whose_hashes_collide_are_compared_cell_by_cell(monkeypatch):
    # every row hashes alike: only a row whose cells really equal the kept previous row may be reused
    monkeypatch.setattr(pl.Expr, "hash", lambda self, *args, **kwargs: self.is_null().cast(pl.UInt64))
    before = _raw([A, B], "SYRK_20241101.csv")
    now = _raw([B, A, dict(A, phone="13900000000")], "SYRK_20241108.csv")
    ctx = Context(key=KEY, data_date=date(2024, 11, 8))
    got = normalise(now, SPEC, ctx, previous=_previous(before, date(2024, 11, 1)))
    _assert_same(got, normalise(now, SPEC, ctx))
    assert got.rows_reused == 1  # A, the first previous row; B collides with it and is normalised afresh
