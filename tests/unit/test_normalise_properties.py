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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.feeds import PROGRAMMES, table_for_file
from ingestion.normalise import Context, normalise

# each example normalises its rows twice (as drawn, and with clean personal fields): few examples, many rows
FAST = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = b"k" * 32
CTX = Context(key=KEY, data_date=date(2024, 11, 2))
CLEAN = {"id_number": "520601198001010014", "name": "张三", "phone": "13812345678"}

ids = st.one_of(
    st.sampled_from(["", " ", "\u3000", "\u200b", "\ufeff ", "无", "不详", "-", "/", "0", "000000000000000000", "NULL",
                     "1.10105E+17", "110105194912310000", "52060119800101001", "5206011980010100141", "52060119800101001Ｘx",
                     "520601198013010014", "520601198001010015", "abc", "身份证", "52060119800101001X"]),
    st.none(),
    st.text(max_size=20),
)
names = st.one_of(st.sampled_from(["", " ", "\u3000", "\u200b", "匿名", "不详", "无名氏", "123", "A", "·", "张 三", "陳偉"]),
                  st.none(), st.text(max_size=8))
phones = st.one_of(st.sampled_from(["", " ", "无", "0", "12345", "138-1234", "+86", "13812345678/"]), st.none(), st.text(max_size=15))
# key and time values: mostly fine, sometimes empty or unreadable (those rows are quarantined either way)
keys = st.sampled_from(["K1", "K1", "K1", "", None])
times = st.sampled_from(["2024-11-02 08:00:00", "2024/11/2 8:00", "2024-11-02T08:00:00+08:00", "", None, "昨天上午"])


def _raw(feed: str, file: str, rows: list[dict], sheet: str = "") -> pl.DataFrame:
    names_ = sorted({k for r in rows for k in r})
    return pl.DataFrame(
        [{"feed": feed, "file": file, "file_md5": "0" * 32, "sheet": sheet, "record_no": i, "member_no": 1, **r}
         for i, r in enumerate(rows, 1)],
        schema={"feed": pl.String, "file": pl.String, "file_md5": pl.String, "sheet": pl.String, "record_no": pl.Int64,
                "member_no": pl.Int32, **{n: pl.String for n in names_}},
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
@given(st.lists(st.fixed_dictionaries({
    "source_person_id": keys.map(lambda k: k and "R00000000000001"), "doc_type": st.sampled_from(["居民身份证", "", "护照"]),
    "person_status": st.sampled_from(["在册", "迁出", ""]), "id_number": ids, "name": names, "phone": phones,
}), min_size=1, max_size=20))
def test_police_population(rows):
    got = _check("police_population", "SYRK_20241108.csv", rows, ("id_number", "name", "phone"))
    # every kept register row is a person record for linkage
    assert got.person_records.height == got.frame.height


@FAST
@given(st.lists(st.fixed_dictionaries({
    "incident_id": keys, "received_at": times, "category": st.sampled_from(["纠纷", ""]), "outcome": st.just("已处理"),
    "feedback_at": times, "id_number": ids, "name": names, "phone": phones,
}), min_size=1, max_size=20))
def test_police_incidents(rows):
    _check("police_incidents", "JQ_20241102.csv", rows, ("id_number", "name", "phone"))


@FAST
@given(st.sampled_from(sorted(PROGRAMMES)), st.lists(st.fixed_dictionaries({
    "id_number": ids, "name": names, "phone": phones, "row_counter": st.sampled_from(["1", "", "2"]),
}), min_size=1, max_size=20))
def test_civil_affairs_every_sheet(sheet, rows):
    got = _check("civil_affairs", "碧江区救助保障花名册_202411.xlsx", rows, ("id_number", "name", "phone"), sheet=sheet)
    # a roll row has no key or time of its own to lack: nothing is ever quarantined, everyone stays a person
    assert got.quarantine.height == 0
    assert got.frame.height == got.person_records.height == len(rows)
    assert got.person_records["role"].unique().to_list() == ["beneficiary"]


@FAST
@given(st.lists(st.fixed_dictionaries({
    "case_id": keys.map(lambda k: k and "XF5206022024110200001"), "registered_at": times, "status": st.sampled_from(["已受理", ""]),
    "id_number": ids, "name": names, "phone": phones,
}), min_size=1, max_size=20))
def test_petitions(rows):
    _check("petitions", "XF_20241102.jsonl", rows, ("id_number", "name", "phone"))


pairs = st.lists(st.tuples(names.map(lambda n: (n or "").replace(":", "").replace(";", "")),
                           ids.map(lambda i: (i or "").replace(":", "").replace(";", ""))), max_size=3)


@FAST
@given(st.lists(st.fixed_dictionaries({
    "event_id": keys, "reported_at": times, "grid_code_reported": st.just("520602001001001"), "category": st.just("特殊人群"),
    "status": st.just("已上报"), "status_at": times,
    "people_involved": pairs.map(lambda ps: ";".join(f"{n}:{i}" for n, i in ps)),
}), min_size=1, max_size=20))
def test_grid_events(rows):
    _check("grid_events", "SB_20241102.csv", rows, ("people_involved",))
