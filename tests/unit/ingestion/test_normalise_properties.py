"""Property: an empty or unusable personal field never quarantines a row (feeds README, "Required is about columns").

For every person feed and every sheet of the benefit roll, Hypothesis draws rows whose
non-personal required fields are sometimes empty or unreadable and whose personal fields
(ID, name, phone; grid events' 涉及人员 pairs) are drawn from the forms the README lists,
usable or not. The quarantine must then be exactly what it is for the same rows with
clean personal fields: decided by the key and the time, never by the person. Every kept
row of a roll or the register stays a person record, flagged by id_status/name_status.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.feeds import PROGRAMMES, feed, table_for_file
from ingestion.normalise import PERSONAL_FIELDS, Context, normalise

# each example normalises its rows twice (as drawn, and with clean personal fields): few examples, many rows
FAST = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = b"k" * 32
CTX = Context(key=KEY, data_date=date(2024, 11, 2))
CLEAN = {"id_number": "520601198001010014", "name": "张三", "phone": "13812345678"}

ids = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\u3000",
            "\u200b",
            "\ufeff ",
            "无",
            "不详",
            "-",
            "/",
            "0",
            "000000000000000000",
            "NULL",
            "1.10105E+17",
            "110105194912310000",
            "52060119800101001",
            "5206011980010100141",
            "52060119800101001Ｘx",
            "520601198013010014",
            "520601198001010015",
            "abc",
            "身份证",
            "52060119800101001X",
        ]
    ),
    st.none(),
    st.text(max_size=20),
)
names = st.one_of(
    st.sampled_from(["", " ", "\u3000", "\u200b", "匿名", "不详", "无名氏", "123", "A", "·", "张 三", "陳偉"]),
    st.none(),
    st.text(max_size=8),
)
phones = st.one_of(
    st.sampled_from(["", " ", "无", "0", "12345", "138-1234", "+86", "13812345678/"]), st.none(), st.text(max_size=15)
)
# key and time values: mostly fine, sometimes empty or unreadable (those rows are quarantined either way)
keys = st.sampled_from(["K1", "K1", "K1", "", None])
times = st.sampled_from(["2024-11-02 08:00:00", "2024/11/2 8:00", "2024-11-02T08:00:00+08:00", "", None, "昨天上午"])


def _raw(feed: str, file: str, rows: list[dict], sheet: str = "") -> pl.DataFrame:
    names_ = sorted({k for r in rows for k in r})
    return pl.DataFrame(
        [
            {"feed": feed, "file": file, "file_md5": "0" * 32, "sheet": sheet, "record_no": i, "member_no": 1, **r}
            for i, r in enumerate(rows, 1)
        ],
        schema={
            "feed": pl.String,
            "file": pl.String,
            "file_md5": pl.String,
            "sheet": pl.String,
            "record_no": pl.Int64,
            "member_no": pl.Int32,
            **{n: pl.String for n in names_},
        },
    )


def _cleaned(rows: list[dict], personal: tuple[str, ...]) -> list[dict]:
    out = []
    for r in rows:
        r = dict(r)
        for field in personal:
            if field == "people_involved":
                r[field] = "张三:520601198001010014"
            else:
                r[field] = CLEAN[field]
        out.append(r)
    return out


def _check(feed: str, file: str, rows: list[dict], personal: tuple[str, ...], sheet: str = "") -> None:
    spec = table_for_file(feed, file)
    got = normalise(_raw(feed, file, rows, sheet), spec, CTX)
    clean = normalise(_raw(feed, file, _cleaned(rows, personal), sheet), spec, CTX)
    quarantined = sorted(got.quarantine["record_no"].to_list())
    assert quarantined == sorted(clean.quarantine["record_no"].to_list())
    # the ledger's balance: every row is normalised or quarantined, once
    kept = got.frame["record_no"].unique().to_list()
    assert sorted(kept + quarantined) == list(range(1, len(rows) + 1))
    assert set(got.quarantine["reason"].to_list()) <= {"missing_required_field", "bad_datetime", "bad_code", "bad_date"}
    return got


@FAST
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "source_person_id": keys.map(lambda k: k and "R00000000000001"),
                "doc_type": st.sampled_from(["居民身份证", "", "护照"]),
                "person_status": st.sampled_from(["在册", "迁出", ""]),
                "id_number": ids,
                "name": names,
                "phone": phones,
            }
        ),
        min_size=1,
        max_size=20,
    )
)
def test_police_population(rows):
    got = _check("police_population", "SYRK_20241108.csv", rows, ("id_number", "name", "phone"))
    # every kept register row is a person record for linkage
    assert got.person_records.height == got.frame.height


@FAST
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "incident_id": keys,
                "received_at": times,
                "category": st.sampled_from(["纠纷", ""]),
                "outcome": st.just("已处理"),
                "feedback_at": times,
                "id_number": ids,
                "name": names,
                "phone": phones,
            }
        ),
        min_size=1,
        max_size=20,
    )
)
def test_police_incidents(rows):
    _check("police_incidents", "JQ_20241102.csv", rows, ("id_number", "name", "phone"))


@FAST
@given(
    st.sampled_from(sorted(PROGRAMMES)),
    st.lists(
        st.fixed_dictionaries(
            {
                "id_number": ids,
                "name": names,
                "phone": phones,
                "row_counter": st.sampled_from(["1", "", "2"]),
            }
        ),
        min_size=1,
        max_size=20,
    ),
)
def test_civil_affairs_every_sheet(sheet, rows):
    got = _check("civil_affairs", "碧江区救助保障花名册_202411.xlsx", rows, ("id_number", "name", "phone"), sheet=sheet)
    # a roll row has no key or time of its own to lack: nothing is ever quarantined, everyone stays a person
    assert got.quarantine.height == 0
    assert got.frame.height == got.person_records.height == len(rows)
    assert got.person_records["role"].unique().to_list() == ["beneficiary"]


@FAST
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "case_id": keys.map(lambda k: k and "XF5206022024110200001"),
                "registered_at": times,
                "status": st.sampled_from(["已受理", ""]),
                "id_number": ids,
                "name": names,
                "phone": phones,
            }
        ),
        min_size=1,
        max_size=20,
    )
)
def test_petitions(rows):
    _check("petitions", "XF_20241102.jsonl", rows, ("id_number", "name", "phone"))


pairs = st.lists(
    st.tuples(
        names.map(lambda n: (n or "").replace(":", "").replace(";", "")),
        ids.map(lambda i: (i or "").replace(":", "").replace(";", "")),
    ),
    max_size=3,
)


@FAST
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "event_id": keys,
                "reported_at": times,
                "grid_code_reported": st.just("520602001001001"),
                "category": st.just("特殊人群"),
                "status": st.just("已上报"),
                "status_at": times,
                "people_involved": pairs.map(lambda ps: ";".join(f"{n}:{i}" for n, i in ps)),
            }
        ),
        min_size=1,
        max_size=20,
    )
)
def test_grid_events(rows):
    _check("grid_events", "SB_20241102.csv", rows, ("people_involved",))


# --- "Required" is about columns: only the key and the dating time quarantine -----------------------

#: a usable value for every required column of every table (snake_case names)
GOOD = {
    "grid_code": "520602001001001",
    "grid_name": "锦江社区第1网格",
    "community_code": "520602001001",
    "street_code": "520602001",
    "county_code": "520602",
    "valid_from": "2020-01-01",
    "address_code": "A0001",
    "standard_address": "贵州省铜仁市碧江区环北街道锦江社区滨江路88号3栋",
    "source_person_id": "R00000000000001",
    "doc_type": "居民身份证",
    "person_status": "在册",
    "incident_id": "J52060220241102000001",
    "received_at": "2024-11-02 08:00:00",
    "category": "纠纷",
    "outcome": "已处理",
    "feedback_at": "2024-11-02 09:00:00",
    "case_id": "XF5206022024110200001",
    "registered_at": "2024-11-02T08:00:00+08:00",
    "status": "已受理",
    "event_id": "SJ52060200100100120241102001",
    "reported_at": "2024-11-02 08:00:00",
    "grid_code_reported": "520602001001001",
    "status_at": "2024-11-02 10:00:00",
    "visit_id": "ZF52060200100100120241102001",
    "visited_at": "2024-11-02 09:00:00",
    "worker_id": "W01000001",
    "subject_type": "独居老人",
    "visit_mode": "入户",
    "post": "专职网格员",
    "hired_date": "2020-03-01",
    **CLEAN,
}
#: the file name each table is read from
FILES = {
    "grid_units": "grid_units.csv",
    "address_points": "address_points.csv",
    "police_population": "SYRK_20241108.csv",
    "police_incidents": "JQ_20241102.csv",
    "civil_affairs": "碧江区救助保障花名册_202411.xlsx",
    "petitions": "XF_20241102.jsonl",
    "grid_events": "SB_20241102.csv",
    "grid_visits": "ZF_20241102.csv",
    "grid_workers": "WGY_202410.csv",
}
#: the kept value a blanked column takes: null, except a grid row's parent codes (prefixes of its key)
FROM_KEY = {"community_code": "520602001001", "street_code": "520602001", "county_code": "520602"}
EMPTY = st.sampled_from(["", " ", "\u3000", "\u200b", "\ufeff", None])


def _tables() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(feed, file, sheet, required columns that are neither key nor dating time) for every table and sheet."""
    out = []
    for feed_slug in (
        "grid_registry",
        "police_population",
        "police_incidents",
        "civil_affairs",
        "petitions",
        "grid_events",
        "grid_visits",
    ):
        for spec in feed(feed_slug).tables:
            for sheet in sorted(spec.sheets) or [""]:
                cols = spec.columns_for(sheet or None)
                blankable = tuple(c.name for c in cols if c.required and c.name not in spec.stands_on)
                if spec.table in FILES:
                    out.append((feed_slug, FILES[spec.table], sheet, blankable))
    return out


TABLES = _tables()


def test_every_table_but_petitions_has_required_values_that_do_not_quarantine():
    # petitions.md makes xfjbh, djsj and blzt all quarantine; every other page requires more than its key and time
    assert {f for f, _, _, b in TABLES if not b} == {"petitions"}
    assert len([t for t in TABLES if t[0] == "civil_affairs"]) == len(PROGRAMMES)


@FAST
@given(st.sampled_from([t for t in TABLES if t[3]]), st.data())
def test_an_empty_required_value_other_than_key_and_dating_time_never_quarantines(table, data):
    feed_slug, file, sheet, blankable = table
    spec = table_for_file(feed_slug, file)
    names = [c.name for c in spec.columns_for(sheet or None) if c.required]
    rows = []
    for _ in range(data.draw(st.integers(1, 8), label="rows")):
        blank = data.draw(st.sets(st.sampled_from(blankable), min_size=1), label="blanked")
        rows.append({n: (data.draw(EMPTY, label=n) if n in blank else GOOD[n]) for n in names})
    got = normalise(_raw(feed_slug, file, rows, sheet), spec, CTX)
    assert got.quarantine.height == 0, got.quarantine.select("record_no", "message").rows()
    kept = got.frame.filter(pl.col("member_no") == 1).sort("record_no")
    assert kept["record_no"].to_list() == list(range(1, len(rows) + 1))
    for n in set(blankable) - PERSONAL_FIELDS:
        if n in kept.columns:  # the value stays null (grid parent codes: read from the key)
            blanked = [i for i, r in enumerate(rows) if (r[n] or "").strip(" \u3000\u200b\ufeff") == ""]
            assert [kept[n][i] for i in blanked] == [FROM_KEY.get(n) if spec.table == "grid_units" else None] * len(
                blanked
            )


@pytest.mark.parametrize(
    ("feed_slug", "file", "sheet", "blankable"), TABLES, ids=[f"{t[0]}:{t[1]}:{t[2]}" for t in TABLES]
)
def test_an_empty_key_or_dating_time_quarantines_the_row_naming_the_field(feed_slug, file, sheet, blankable):
    spec = table_for_file(feed_slug, file)
    names = [c.name for c in spec.columns_for(sheet or None) if c.required]
    rows = [{n: GOOD[n] for n in names}]  # record 1 is whole, each next one lacks one of what it stands on
    rows += [{n: (None if n == gone else GOOD[n]) for n in names} for gone in spec.stands_on]
    got = normalise(_raw(feed_slug, file, rows, sheet), spec, CTX)
    q = got.quarantine.sort("record_no")
    assert q["record_no"].to_list() == list(range(2, len(rows) + 1))
    assert q["reason"].unique().to_list() in ([], ["missing_required_field"])
    for message, gone in zip(q["message"].to_list(), spec.stands_on):
        assert f"({gone}) is empty" in message
    assert got.frame.filter(pl.col("member_no") == 1)["record_no"].to_list() == [1]
