"""The GX suites and runner on small frames built to the ingestion contract.

GX takes seconds to import; the runner keeps one context per process, so the
whole module pays for it once.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from expectations import Failure, Validation, ValidationError, expected_columns, suite_for, validate, validate_many
from expectations.runner import rate_upper_bound
from expectations.suites import MIN_PLACED_POLICE_INCIDENTS, TABLES
from ingestion.schemas import SCHEMAS, TZ, conform

MD5 = "0123456789abcdef0123456789abcdef"
GRID = "520602001001001"
# Personal-looking display values: none of them may appear in anything returned or written.
ID_MASKED = "520602********471X"
NAME_MASKED = "龙*"
PHONE_MASKED = "138****9876"


def _key(i: int) -> str:
    # the shape of ingestion.pseudonym's keys: 26 base32 characters
    return base64.b32encode(i.to_bytes(16, "big")).decode().rstrip("=").lower()


def incidents(n: int = 40, *, file: str = "JQ_20240611.csv") -> pl.DataFrame:
    start = dt.datetime(2024, 6, 11, 8, 0)
    received = [start + dt.timedelta(minutes=7 * i) for i in range(n)]
    rows = {
        "feed": ["police_incidents"] * n,
        "file": [file] * n,
        "file_md5": [MD5] * n,
        "sheet": [None] * n,
        "record_no": list(range(1, n + 1)),
        "member_no": [1] * n,
        "data_date": [dt.date(2024, 6, 11)] * n,
        "incident_id": [f"J52060220240611{i:05d}" for i in range(1, n + 1)],
        "received_at": received,
        "report_channel": ["110电话"] * n,
        "person_key": [_key(i) if i % 4 else None for i in range(n)],
        "id_status": ["valid" if i % 4 else "empty" for i in range(n)],
        "id_masked": [ID_MASKED if i % 4 else None for i in range(n)],
        "name_masked": [NAME_MASKED] * n,
        "name_status": ["ok"] * n,
        "phone_masked": [PHONE_MASKED] * n,
        "phone_kind": ["mobile"] * n,
        "sex": ["女"] * n,
        "birth_date": [dt.date(1975, 3, 2)] * n,
        "is_anonymous": [False] * n,
        "category": ["纠纷"] * n,
        "subcategory": ["邻里纠纷"] * n,
        "narrative_chars": [42] * n,
        "police_station": ["环北派出所"] * n,
        "outcome": ["已处理"] * n,
        "feedback_at": [r + dt.timedelta(hours=1) for r in received],
        "lon": [109.19] * n,
        "lat": [27.73] * n,
        "coordinate_status": ["ok"] * n,
        "address_canonical": ["滨江路88号3栋"] * n,
        "address_code": ["A0001"] * n,
        "grid_code": [GRID] * n,
        "community_code": [GRID[:12]] * n,
        "street_code": [GRID[:9]] * n,
        "placement_method": ["address_point"] * n,
    }
    frame = pl.DataFrame(rows).with_columns(pl.col("received_at", "feedback_at").dt.replace_time_zone(TZ))
    return conform(frame, SCHEMAS["police_incidents"])


def roll(n: int = 12, *, file: str = "碧江区救助保障花名册_202411.xlsx") -> pl.DataFrame:
    rows = {
        "feed": ["civil_affairs"] * n,
        "file": [file] * n,
        "file_md5": [MD5] * n,
        "sheet": ["城乡低保"] * n,
        "record_no": list(range(4, n + 4)),  # Excel rows after title, note and header
        "member_no": [1] * n,
        "data_date": [dt.date(2024, 11, 1)] * n,
        "programme": ["low_income"] * n,
        "person_key": [_key(100 + i) for i in range(n)],
        "id_status": ["valid"] * n,
        "id_masked": [ID_MASKED] * n,
        "name_masked": [NAME_MASKED] * n,
        "name_status": ["ok"] * n,
        "phone_kind": ["empty"] * n,
        "sex": ["男"] * n,
        "birth_date": [dt.date(1950, 1, 1)] * n,
        "is_id_damaged": [False] * n,
        "relation_to_head": ["户主"] * n,
        "benefit_type": ["农村低保"] * n,
        "household_size": [3] * n,
        "monthly_amount": [580.0] * n,
        "start_date": [dt.date(2019, 5, 1)] * n,
        "community_name": ["锦江社区"] * n,
        "street_name": ["环北街道"] * n,
        "grid_code": [GRID] * n,
        "community_code": [GRID[:12]] * n,
        "street_code": [GRID[:9]] * n,
        "placement_method": ["address_point"] * n,
    }
    return conform(pl.DataFrame(rows), SCHEMAS["civil_affairs"])


def petitions(n_cases: int = 6) -> pl.DataFrame:
    # every case has two petitioners: rows share case_id, member_no 1 and 2
    records = [(c, m) for c in range(1, n_cases + 1) for m in (1, 2)]
    n = len(records)
    registered = dt.datetime(2024, 6, 11, 9, 30)
    rows = {
        "feed": ["petitions"] * n,
        "file": ["XF_20240611.jsonl"] * n,
        "file_md5": [MD5] * n,
        "record_no": [c for c, _ in records],
        "member_no": [m for _, m in records],
        "data_date": [dt.date(2024, 6, 11)] * n,
        "case_id": [f"XF52060220240611{c:04d}" for c, _ in records],
        "registered_at": [registered] * n,
        "channel": ["来访"] * n,
        "petitioner_count": [2] * n,
        "petitioners_listed": [2] * n,
        "is_collective": [False] * n,
        "status": ["已受理"] * n,
        "community_code": [GRID[:12]] * n,
        "street_code": [GRID[:9]] * n,
        "placement_method": ["community_name"] * n,
    }
    frame = pl.DataFrame(rows).with_columns(pl.col("registered_at").dt.replace_time_zone(TZ))
    return conform(frame, SCHEMAS["petitions"])


def events(n: int = 40, *, file: str = "SB_20241101.csv") -> pl.DataFrame:
    """A grid-events daily file: every event reported at a time with seconds, status 已上报 at that time."""
    start = dt.datetime(2024, 11, 1, 8, 0, 19)
    reported = [start + dt.timedelta(minutes=7 * i, seconds=i) for i in range(n)]
    rows = {
        "feed": ["grid_events"] * n,
        "file": [file] * n,
        "file_md5": [MD5] * n,
        "record_no": list(range(1, n + 1)),
        "member_no": [1] * n,
        "data_date": [dt.date(2024, 11, 1)] * n,
        "event_id": [f"SJ{GRID}20241101{i:03d}" for i in range(1, n + 1)],
        "reported_at": reported,
        "grid_code_reported": [GRID] * n,
        "category": ["安全隐患"] * n,
        "subcategory": ["燃气隐患"] * n,
        "handling_level": ["网格"] * n,
        "status": ["已上报"] * n,
        "status_at": reported,
        "people_count": [0] * n,
        "lon": [109.19] * n,
        "lat": [27.73] * n,
        "coordinate_status": ["ok"] * n,
        "grid_code": [GRID] * n,
        "community_code": [GRID[:12]] * n,
        "street_code": [GRID[:9]] * n,
        "placement_method": ["address_point"] * n,
    }
    frame = pl.DataFrame(rows).with_columns(pl.col("reported_at", "status_at").dt.replace_time_zone(TZ))
    return conform(frame, SCHEMAS["grid_events"])


def _set(frame: pl.DataFrame, column: str, rows: dict[int, object]) -> pl.DataFrame:
    """``frame`` with ``column`` replaced at the given 0-based row positions."""
    values = frame[column].to_list()
    for i, value in rows.items():
        values[i] = value
    return frame.with_columns(pl.Series(column, values, dtype=frame.schema[column]))


def _failure(v: Validation, expectation: str, column: str) -> Failure:
    found = [f for f in v.failures if f.expectation == expectation and f.column == column]
    assert found, f"no failure {expectation} on {column}; got {[(f.expectation, f.column) for f in v.failures]}"
    return found[0]


def _assert_no_personal_values(v: Validation, *extra: str) -> None:
    text = repr(v) + v.html_path.read_text(encoding="utf-8")
    for value in (ID_MASKED, NAME_MASKED, PHONE_MASKED, *extra):
        assert value not in text


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gx") / "docs"


# Each validation costs about a second of GX overhead, so the frames below each
# carry several independent defects (on different rows and columns) and are
# validated once per module.


def clean_incidents() -> pl.DataFrame:
    """Two daily files (the same ids in both is fine); a quarter of the callers
    gave no ID; one row placed by community name only (97.5% placed, floor 97%)."""
    first = _set(incidents(file="JQ_20240611.csv"), "grid_code", {0: None})
    first = _set(first, "placement_method", {0: "community_name"})
    return pl.concat([first, incidents(file="JQ_20240612.csv")])


def clean_roll() -> pl.DataFrame:
    """Three Excel-damaged IDs without a person key: 37 of 40 keyed, floor 90%."""
    damaged = {i: None for i in (3, 7, 11)}
    return _set(_set(roll(40), "person_key", damaged), "id_status", dict.fromkeys(damaged, "excel_damage"))


LATE = dt.datetime(2024, 6, 20, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def broken_incidents() -> pl.DataFrame:
    frame = incidents()
    frame = _set(frame, "category", {2: "打架斗殴"})  # record 3: not a 警情类别
    frame = _set(frame, "incident_id", {4: None, 9: None})  # records 5, 10: the key empty
    frame = _set(frame, "outcome", {11: None})  # record 12: a required value that keeps its row (97.5% filled)
    frame = _set(frame, "incident_id", {6: "J5206022024061100006"})  # record 7 repeats record 6's version
    frame = _set(frame, "feedback_at", {6: frame["feedback_at"][5]})
    frame = _set(frame, "outcome", {6: frame["outcome"][5]})
    unplaced = {i: None for i in range(0, 40, 2)}  # records 1, 3, ..., 39: 50% placed
    frame = _set(frame, "grid_code", unplaced)
    frame = _set(frame, "placement_method", dict.fromkeys(unplaced, "unplaced"))
    late = {39: LATE}  # record 40: a call nine days after its file's date
    frame = _set(frame, "received_at", late)
    return _set(frame, "feedback_at", {39: LATE + dt.timedelta(hours=1)})


@pytest.fixture(scope="module")
def clean(docs: Path) -> dict[str, Validation]:
    frames = {"police_incidents": clean_incidents(), "civil_affairs": clean_roll(), "petitions": petitions()}
    return {table: validate(table, frame, docs_dir=docs, label=f"clean-{table}") for table, frame in frames.items()}


@pytest.fixture(scope="module")
def broken(docs: Path) -> Validation:
    return validate("police_incidents", broken_incidents(), docs_dir=docs, label="JQ_20240611.csv")


def test_every_table_has_a_suite_named_after_it() -> None:
    assert {suite_for(t).name for t in TABLES} == set(SCHEMAS)
    assert suite_for("police_incidents") is suite_for("police_incidents")  # built once


@pytest.mark.parametrize("table", ["police_incidents", "civil_affairs", "petitions"])
def test_clean_frame_passes_and_writes_its_page(clean: dict[str, Validation], table: str, docs: Path) -> None:
    v = clean[table]
    assert v.failures == []
    assert v.success
    assert v.suite == table
    assert v.evaluated == len(suite_for(table).expectations)
    assert v.html_path == docs / table / f"clean-{table}.html"
    assert "passed" in v.html_path.read_text(encoding="utf-8")
    assert f'href="{table}/clean-{table}.html"' in (docs / "index.html").read_text(encoding="utf-8")


def test_clean_rows_are_counted(clean: dict[str, Validation]) -> None:
    assert [clean[t].rows for t in ("police_incidents", "civil_affairs", "petitions")] == [80, 40, 12]


def test_broken_frame_fails_exactly_the_rules_it_breaks(broken: Validation) -> None:
    assert not broken.success
    assert sorted((f.expectation, f.column) for f in broken.failures) == [
        ("expect_column_pair_values_a_to_be_greater_than_b", "_latest_at, feedback_at"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "_latest_at, received_at"),
        ("expect_column_values_to_be_in_set", "category"),
        ("expect_column_values_to_not_be_null", "grid_code"),
        ("expect_column_values_to_not_be_null", "incident_id"),
        ("expect_compound_columns_to_be_unique", "file, incident_id, feedback_at, outcome"),
    ]


def test_bad_code_names_the_code_expectation_and_its_row(broken: Validation) -> None:
    f = _failure(broken, "expect_column_values_to_be_in_set", "category")
    assert f.unexpected_count == 1
    assert f.unexpected_percent == pytest.approx(100 / 40)
    assert f.sample_locators == ["JQ_20240611.csv#record 3"]


def test_null_key_fails_not_null(broken: Validation) -> None:
    f = _failure(broken, "expect_column_values_to_not_be_null", "incident_id")
    assert f.unexpected_count == 2
    assert f.sample_locators == ["JQ_20240611.csv#record 5", "JQ_20240611.csv#record 10"]


def test_required_values_that_keep_their_row_fail_the_file_only_under_their_floor(docs: Path) -> None:
    columns = ("category", "outcome", "feedback_at")
    # one empty cell in each: 97.5% filled passes (the row was kept, "Required is about columns") ...
    few = incidents(40)
    for c in columns:
        few = _set(few, c, {3: None})
    v = validate("police_incidents", few, docs_dir=docs, label="few-empty")
    assert v.success, [(f.expectation, f.column, f.unexpected_count) for f in v.failures]
    # ... half empty is a broken column, not a dirty one
    for c in columns:
        v = validate(
            "police_incidents",
            _set(incidents(40), c, dict.fromkeys(range(0, 40, 2))),
            docs_dir=docs,
            label=f"half-empty-{c}",
        )
        f = _failure(v, "expect_column_values_to_not_be_null", c)
        assert f.unexpected_count == 20 and "at least 95% of rows" in (f.description or "")


def test_duplicate_key_within_a_file_fails_uniqueness(broken: Validation) -> None:
    f = _failure(broken, "expect_compound_columns_to_be_unique", "file, incident_id, feedback_at, outcome")
    assert f.unexpected_count == 2
    assert f.sample_locators == ["JQ_20240611.csv#record 6", "JQ_20240611.csv#record 7"]


def test_low_placement_rate_fails_with_the_stated_threshold(broken: Validation) -> None:
    f = _failure(broken, "expect_column_values_to_not_be_null", "grid_code")
    assert f.unexpected_count == 20
    assert f.unexpected_percent == pytest.approx(50.0)
    assert f"at least {MIN_PLACED_POLICE_INCIDENTS:.0%}" in (f.description or "")
    assert f.sample_locators[:3] == [f"JQ_20240611.csv#record {r}" for r in (1, 3, 5)]


def test_a_rate_under_its_floor_by_sampling_noise_only_passes(docs: Path) -> None:
    # 82 calls of which 17 unplaced (79 % < 80 %): a day of real deliveries, not a broken file
    frame = incidents(82)
    unplaced = {i: None for i in range(0, 68, 4)}
    frame = _set(_set(frame, "grid_code", unplaced), "placement_method", dict.fromkeys(unplaced, "community_name"))
    v = validate("police_incidents", frame, docs_dir=docs, label="noise")
    assert v.success, [(f.expectation, f.column, f.unexpected_count) for f in v.failures]
    page = v.html_path.read_text(encoding="utf-8")
    assert "79.3% of 82 rows is under the 80% floor only by sampling noise" in page
    assert rate_upper_bound(65, 82) > MIN_PLACED_POLICE_INCIDENTS > rate_upper_bound(20, 40)
    # the same rate over a register's size is no noise
    assert rate_upper_bound(79_000, 100_000) < MIN_PLACED_POLICE_INCIDENTS


def test_a_later_time_written_to_the_minute_is_not_an_inversion(docs: Path) -> None:
    # generated district 100,000 x 1, seed 25: 6 of 110 events 已上报 with 状态时间 "2024/11/1 08:21" beside
    # 上报时间 "2024-11-01 08:21:19" held the whole file as "status_at before reported_at"
    frame = events(40)
    minutes = {i: frame["reported_at"][i].replace(second=0) for i in range(0, 40, 5)}  # 8 of 40 (20%)
    v = validate("grid_events", _set(frame, "status_at", minutes), docs_dir=docs, label="events-minutes")
    assert v.success, [(f.expectation, f.column, f.unexpected_count) for f in v.failures]
    # a status a minute before its report's minute is still an inversion
    early = {i: t - dt.timedelta(minutes=1) for i, t in minutes.items()}
    v = validate("grid_events", _set(frame, "status_at", early), docs_dir=docs, label="events-inverted")
    f = _failure(v, "expect_column_pair_values_a_to_be_greater_than_b", "status_at, _reported_at_minute")
    assert f.unexpected_count == 8 and f.sample_locators[:2] == ["SB_20241101.csv#record 1", "SB_20241101.csv#record 6"]
    # the same for a 110 call's feedback written to the minute
    calls = incidents(40)
    calls = calls.with_columns(pl.col("received_at") + pl.duration(seconds=37))
    to_minute = {i: calls["received_at"][i].replace(second=0) for i in range(0, 40, 5)}
    v = validate("police_incidents", _set(calls, "feedback_at", to_minute), docs_dir=docs, label="calls-minutes")
    assert v.success, [(f.expectation, f.column, f.unexpected_count) for f in v.failures]


def test_call_after_the_file_date_fails_the_date_window(broken: Validation) -> None:
    f = _failure(broken, "expect_column_pair_values_a_to_be_greater_than_b", "_latest_at, received_at")
    assert f.unexpected_count == 1
    assert f.sample_locators == ["JQ_20240611.csv#record 40"]


def test_failures_carry_no_personal_or_failing_values(broken: Validation) -> None:
    _assert_no_personal_values(broken, "打架斗殴", "J5206022024061100006", "2024-06-20")


def test_html_page_names_the_failing_expectations_and_rows(broken: Validation, docs: Path) -> None:
    page = broken.html_path.read_text(encoding="utf-8")
    assert broken.html_path == docs / "police_incidents" / "JQ_20240611.csv.html"
    assert "FAILED" in page
    for f in broken.failures:
        assert f.expectation in page
    assert "JQ_20240611.csv#record 3" in page
    assert f"grid_code present on at least {MIN_PLACED_POLICE_INCIDENTS:.0%} of rows" in page
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert 'href="police_incidents/JQ_20240611.csv.html"' in index


def test_id_rate_fails_when_the_given_ids_are_unusable(docs: Path) -> None:
    frame = incidents()
    bad = {i: "bad_check" for i in range(40) if i % 4}  # every caller who gave an ID: 30 rows
    frame = _set(_set(frame, "id_status", bad), "person_key", dict.fromkeys(bad))
    v = validate("police_incidents", frame, docs_dir=docs, label="bad-ids")
    assert [(f.column, f.unexpected_count) for f in v.failures] == [("person_key", 30)]
    assert "ID-validity rate" in (v.failures[0].description or "")
    assert v.failures[0].unexpected_percent == pytest.approx(100.0)


def test_roll_beneficiaries_without_an_id_do_not_count_against_the_id_floor(docs: Path) -> None:
    """A roll where 10 of 40 people have an empty or 无 ID cell passes (they are kept and flagged, feeds
    README "Required is about columns"); the same 10 rows with typed but unusable IDs fail the 90% floor."""
    absent = {i: ("empty" if i % 2 else "placeholder") for i in range(0, 40, 4)}
    frame = _set(_set(roll(40), "id_status", absent), "person_key", dict.fromkeys(absent))
    v = validate(
        "civil_affairs", _set(frame, "name_status", {0: "empty", 4: "anonymous"}), docs_dir=docs, label="roll-no-ids"
    )
    assert v.success, [(f.expectation, f.column) for f in v.failures]
    typed = _set(frame, "id_status", dict.fromkeys(absent, "bad_check"))
    v = validate("civil_affairs", typed, docs_dir=docs, label="roll-bad-ids")
    assert [(f.column, f.unexpected_count) for f in v.failures] == [("person_key", 10)]
    assert "ID-validity rate" in (v.failures[0].description or "")


def test_missing_column_and_wrong_type_fail_the_schema(docs: Path) -> None:
    frame = incidents().drop("outcome").with_columns(pl.col("narrative_chars").cast(pl.Float64))
    v = validate("police_incidents", frame, docs_dir=docs, label="schema")
    assert _failure(v, "expect_table_columns_to_match_set", None).detail == "missing: outcome"
    assert _failure(v, "expect_column_values_to_not_be_null", "outcome").detail == "missing column(s): outcome"
    assert _failure(v, "expect_column_values_to_be_of_type", "narrative_chars").detail == "observed type float64"


def test_roll_duplicate_person_in_a_programme_fails_and_names_sheet_rows(docs: Path) -> None:
    frame = roll(200)
    # rows 0, 10 and 20 share a key, rows 1 and 30 another: 5 of 200 = 2.5%, allowance 1%;
    # rows 50-52 have no person key and are not compared
    frame = _set(frame, "person_key", {10: _key(100), 20: _key(100), 30: _key(101), 50: None, 51: None, 52: None})
    v = validate("civil_affairs", frame, docs_dir=docs, label="roll-dup")
    assert [(f.expectation, f.column) for f in v.failures] == [
        ("expect_compound_columns_to_be_unique", "file, programme, person_key"),
        ("expect_column_values_to_not_be_null", "person_key"),  # a 'valid' ID without a key
    ]
    f = v.failures[0]
    assert f.unexpected_count == 5
    sheet = "碧江区救助保障花名册_202411.xlsx!城乡低保"
    assert sorted(f.sample_locators) == sorted(f"{sheet}#row {r}" for r in (4, 5, 14, 24, 34))
    assert v.failures[1].unexpected_count == 3
    _assert_no_personal_values(v)


def test_petition_cases_are_unique_and_members_are_named(docs: Path) -> None:
    # petitioners share their case_id (member_no 1, 2); cases must not
    frame = _set(petitions(), "case_id", {2: "XF520602202406110001", 3: "XF520602202406110001"})
    frame = _set(frame, "channel", {5: "传真"})  # case 3, second petitioner
    v = validate("petitions", frame, docs_dir=docs, label="XF_20240611.jsonl")
    dup = _failure(v, "expect_compound_columns_to_be_unique", "file, case_id")
    assert dup.unexpected_count == 2
    assert dup.sample_locators == ["XF_20240611.jsonl#record 1", "XF_20240611.jsonl#record 2"]
    code = _failure(v, "expect_column_values_to_be_in_set", "channel")
    assert code.sample_locators == ["XF_20240611.jsonl#record 3 member 2"]


def test_empty_delivery_passes(docs: Path) -> None:
    v = validate("police_incidents", incidents().clear(), docs_dir=docs, label="empty")
    assert v.rows == 0
    assert v.success, v.failures


def test_unknown_table_is_refused_with_the_choices() -> None:
    with pytest.raises(ValidationError, match=r"table='police' has no suite; expected one of \['address_points'"):
        validate("police", incidents(), docs_dir=Path("/nonexistent"), label="x")


@pytest.mark.parametrize("label", ["../escape", "a/b", ".hidden", ""])
def test_unsafe_label_is_refused(label: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="label="):
        validate("police_incidents", incidents(), docs_dir=tmp_path, label=label)


def test_expected_columns_start_with_the_contract() -> None:
    for table in TABLES:
        assert expected_columns(table)[: len(SCHEMAS[table])] == list(SCHEMAS[table])


# --------------------------------------------------------------------------
# validate_many: several files in one GX run, each file's result as if alone
# --------------------------------------------------------------------------

_VOLATILE = re.compile(r"validated [^<.]*|\d+\.\d\d s( \(its share of a GX run over \d+ files[^)]*\))?|when=[^\"]*")


def _same_as_alone(table: str, items: list[tuple[pl.DataFrame, str]], tmp: Path) -> list[Validation]:
    """validate_many's results, checked field by field (and page by page) against validate on each file alone."""
    together = validate_many(table, items, docs_dir=tmp / "together")
    assert [v.html_path.stem for v in together] == [label for _, label in items]
    for (frame, label), v in zip(items, together, strict=True):
        alone = validate(table, frame, docs_dir=tmp / "alone", label=label)
        assert (v.success, v.evaluated, v.rows) == (alone.success, alone.evaluated, alone.rows), label
        assert v.failures == alone.failures, label
        page, alone_page = (_VOLATILE.sub("", p.read_text(encoding="utf-8")) for p in (v.html_path, alone.html_path))
        assert page == alone_page, label
    return together


def test_many_files_in_one_run_give_each_file_its_own_result(tmp_path: Path) -> None:
    clean = incidents(file="JQ_20240611.csv")
    few_unplaced = _set(
        _set(incidents(file="JQ_20240612.csv"), "grid_code", {0: None}), "placement_method", {0: "community_name"}
    )
    low = {i: None for i in range(0, 40, 3)}  # 14 of 40 unplaced: 65% < 80%, while the batch as a whole is above
    low_placed = _set(
        _set(incidents(file="JQ_20240613.csv"), "grid_code", low), "placement_method", dict.fromkeys(low, "unplaced")
    )
    bad = {i: "bad_check" for i in range(40) if i % 4}
    bad_ids = _set(_set(incidents(file="JQ_20240614.csv"), "id_status", bad), "person_key", dict.fromkeys(bad))
    # a 'valid' ID without a key (a rule with a row condition) on the last file's last row
    keyless = _set(incidents(file="JQ_20240615.csv"), "person_key", {39: None})
    tiny = _set(_set(incidents(2, file="JQ_20240616.csv"), "grid_code", {1: None}), "placement_method", {1: "unplaced"})
    resent = incidents(
        file="JQ_20240611.csv"
    )  # same name and incident ids as the first: a key repeats only across files
    nullable_int = _set(
        incidents(file="JQ_20240617.csv"), "narrative_chars", {3: None}
    )  # Int64 with a null: other dtype
    first_row_bad = _set(incidents(file="JQ_20240621.csv"), "category", {0: "打架斗殴"})  # a file's first row only
    float_chars = [
        incidents(file=f"JQ_2024062{d}.csv").with_columns(pl.col("narrative_chars").cast(pl.Float64)) for d in (2, 3)
    ]
    items = [
        (clean, "2024-06-11_JQ_20240611.csv"),
        (few_unplaced, "2024-06-12_JQ_20240612.csv"),
        (low_placed, "2024-06-13_JQ_20240613.csv"),
        (broken_incidents(), "2024-06-11_broken.csv"),
        (bad_ids, "2024-06-14_JQ_20240614.csv"),
        (tiny, "2024-06-16_JQ_20240616.csv"),
        (incidents().clear(), "2024-06-18_empty.csv"),
        (incidents().drop("outcome"), "2024-06-19_schema.csv"),
        (resent, "2024-06-20_JQ_20240611.csv"),
        (nullable_int, "2024-06-17_JQ_20240617.csv"),
        (keyless, "2024-06-15_JQ_20240615.csv"),
        (first_row_bad, "2024-06-21_JQ_20240621.csv"),
        (float_chars[0], "2024-06-22_JQ_20240622.csv"),  # the same wrong type in two files: one group
        (float_chars[1], "2024-06-23_JQ_20240623.csv"),
    ]
    got = dict(zip((label for _, label in items), _same_as_alone("police_incidents", items, tmp_path), strict=True))
    passed = {label for label, v in got.items() if v.success}
    assert passed == {
        "2024-06-11_JQ_20240611.csv", "2024-06-12_JQ_20240612.csv", "2024-06-16_JQ_20240616.csv",
        "2024-06-18_empty.csv", "2024-06-20_JQ_20240611.csv", "2024-06-17_JQ_20240617.csv",
    }  # fmt: skip
    assert [(f.column, f.unexpected_count) for f in got["2024-06-13_JQ_20240613.csv"].failures] == [("grid_code", 14)]
    assert [(f.column, f.unexpected_count) for f in got["2024-06-15_JQ_20240615.csv"].failures] == [("person_key", 1)]
    assert got["2024-06-15_JQ_20240615.csv"].failures[0].sample_locators == ["JQ_20240615.csv#record 40"]
    assert got["2024-06-21_JQ_20240621.csv"].failures[0].sample_locators == ["JQ_20240621.csv#record 1"]
    assert [(f.column, f.detail) for f in got["2024-06-23_JQ_20240623.csv"].failures] == [
        ("narrative_chars", "observed type float64")
    ]
    # the files sharing columns and dtypes went through GX together; the odd ones alone
    assert got["2024-06-11_JQ_20240611.csv"].batched == 10
    assert got["2024-06-22_JQ_20240622.csv"].batched == 2
    assert "its share of a GX run over 10 files" in got["2024-06-11_JQ_20240611.csv"].html_path.read_text(
        encoding="utf-8"
    )
    assert got["2024-06-19_schema.csv"].batched == 1
    assert got["2024-06-17_JQ_20240617.csv"].batched == 1
    index = (tmp_path / "together" / "index.html").read_text(encoding="utf-8")
    assert all(f'href="police_incidents/{label}.html"' in index for _, label in items)


def test_many_rolls_and_petitions_split_row_conditions_by_file(tmp_path: Path) -> None:
    dup = _set(
        roll(200, file="花名册_202412.xlsx"), "person_key", {10: _key(100), 20: _key(100), 30: _key(101), 50: None}
    )
    _same_as_alone("civil_affairs", [(clean_roll(), "2024-11_roll.xlsx"), (dup, "2024-12_roll.xlsx")], tmp_path)
    # a case id repeated among first petitioners (member_no = 1) of the second file only
    repeated = _set(petitions(), "case_id", {2: "XF520602202406110001", 3: "XF520602202406110001"})
    got = _same_as_alone("petitions", [(petitions(), "a.jsonl"), (repeated, "b.jsonl")], tmp_path)
    assert [v.success for v in got] == [True, False]


def test_many_refuses_a_bad_label_before_validating_anything(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="label="):
        validate_many("police_incidents", [(incidents(), "ok"), (incidents(), "a/b")], docs_dir=tmp_path)
    assert not (tmp_path / "police_incidents").exists()
