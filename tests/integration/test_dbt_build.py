"""dbt build on a small hand-made state folder: latest-wins, snapshots,
benefit entries and exits, resident tags, grid succession and persisted
column comments, read back from the DuckDB warehouse dbt wrote."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbt_fixtures import StateWriter, at, run_dbt

COUNTY, STREET, COMMUNITY = "520602", "520602001", "520602001001"
G1, G2, G3, G4 = (COMMUNITY + n for n in ("001", "002", "003", "004"))
A, B, C, D = "pk_a", "pk_b", "pk_c", "pk_d"


def _grid(code: str, **kw) -> dict:
    return {
        "grid_code": code,
        "grid_name": f"锦江社区第{code[-1]}网格",
        "grid_type": "综合网格",
        "community_code": COMMUNITY,
        "community_name": "锦江社区",
        "street_code": STREET,
        "street_name": "环北街道",
        "county_code": COUNTY,
        "county_name": "碧江区",
        "households": 100,
        "resident_population": 300,
        "valid_from": date(2020, 1, 1),
        **kw,
    }


def _resident(source_id: str, key: str | None, grid: str, **kw) -> dict:
    return {
        "source_person_id": source_id,
        "doc_type": "居民身份证",
        "person_key": key,
        "id_status": "valid" if key else "bad_check",
        "id_masked": "520602********0011",
        "name_masked": "张*",
        "phone_masked": "138****5678",
        "sex": "男",
        "birth_date": date(1940, 3, 1),
        "ethnicity": "汉族",
        "population_type": "户籍人口",
        "person_status": "在册",
        "grid_code": grid,
        "placement_method": "address_point",
        **kw,
    }


def _record(role: str, source_key: str, key: str | None, **kw) -> dict:
    return {
        "role": role,
        "source_key": source_key,
        "person_key": key,
        "id_number": "52060219400301001X" if key else None,
        "id_status": "valid" if key else "empty",
        "name": "张三",
        "phone": "13812345678",
        "birth_date": date(1940, 3, 1),
        **kw,
    }


def write_state(home: Path) -> None:
    w = StateWriter(home)

    # grid register: an older snapshot with G4, the latest where G2 was merged into G1
    old = [_grid(G1), _grid(G2), _grid(G4)]
    w.file("grid_units", "grid_units.csv", data_date=date(2024, 1, 1), delivered=date(2024, 1, 1), rows=old)
    new = [
        _grid(G1),
        _grid(G2, valid_to=date(2024, 5, 1), merged_into=G1),
        _grid(G3, grid_type="专属网格"),
    ]
    w.file("grid_units", "grid_units.csv", data_date=date(2024, 6, 1), delivered=date(2024, 6, 1), rows=new)

    # police register: B left between the snapshots; A is registered twice (duplicate 人员编号)
    def people(rows):
        return [
            _record("resident", r["source_person_id"], r["person_key"], record_at=None, grid_code=r["grid_code"])
            for r in rows
        ]

    week1 = [
        _resident("R1", A, G2),
        _resident("R2", B, G1),
        _resident("R3", C, G1, sex="女", birth_date=date(1938, 7, 1)),
    ]
    w.file(
        "police_population",
        "SYRK_20240603.csv",
        data_date=date(2024, 6, 3),
        delivered=date(2024, 6, 3),
        rows=week1,
        people=people(week1),
    )
    week2 = [
        _resident("R1", A, G2),
        _resident("R9", A, G2, person_status="注销", id_status="upgraded_15"),
        _resident("R3", C, G1, sex="女", birth_date=date(1938, 7, 1)),
    ]
    w.file(
        "police_population",
        "SYRK_20240610.csv",
        data_date=date(2024, 6, 10),
        delivered=date(2024, 6, 10),
        rows=week2,
        people=people(week2),
    )

    # 110 calls: J1 first while handling, then its outcome the next day; J2 sent
    # twice with the same feedback time: the later delivery wins
    j1_open = {
        "incident_id": "J1",
        "received_at": at("2024-06-10 09:00"),
        "category": "纠纷",
        "subcategory": "劳资纠纷",
        "outcome": "处理中",
        "feedback_at": at("2024-06-10 10:00"),
        "person_key": A,
        "grid_code": G1,
    }
    j1_done = {**j1_open, "outcome": "调解成功", "feedback_at": at("2024-06-11 09:00")}
    j2 = {
        "incident_id": "J2",
        "received_at": at("2024-06-10 11:00"),
        "category": "治安案件",
        "outcome": "处理中",
        "feedback_at": at("2024-06-10 12:00"),
        "grid_code": G3,
    }
    w.file(
        "police_incidents",
        "JQ_20240610.csv",
        data_date=date(2024, 6, 10),
        delivered=date(2024, 6, 11),
        rows=[j1_open, j2],
        people=[_record("caller", "J1", A, record_at=at("2024-06-10 09:00"))],
        quarantined=[{"reason": "nul_byte", "message": "field 简要警情 holds a NUL byte", "raw_text": "secret"}],
    )
    w.file(
        "police_incidents",
        "JQ_20240611.csv",
        data_date=date(2024, 6, 11),
        delivered=date(2024, 6, 12),
        rows=[j1_done],
        people=[_record("caller", "J1", A, record_at=at("2024-06-10 09:00"))],
    )
    w.file(
        "police_incidents",
        "JQ_20240610.csv",
        data_date=date(2024, 6, 10),
        delivered=date(2024, 6, 13),
        rows=[{**j2, "outcome": "已处理"}],
    )

    # petitions: P1 closed before its due date; P2 closed after it; P3 still open and overdue
    p1 = {
        "case_id": "P1",
        "registered_at": at("2024-06-01 09:00"),
        "channel": "来访",
        "category_l1": "劳动社保",
        "category_l2": "拖欠工资",
        "status": "已受理",
        "accepted_at": at("2024-06-03 09:00"),
        "last_moved_at": at("2024-06-03 09:00"),
        "due_date": date(2024, 8, 2),
        "responsible_unit": "环北街道办事处",
        "petitioner_count": 6,
        "is_collective": True,
        "grid_code": G1,
    }
    w.file(
        "petitions",
        "XF_20240603.jsonl",
        data_date=date(2024, 6, 3),
        delivered=date(2024, 6, 4),
        rows=[p1],
        people=[_record("petitioner", "P1", C, member_no=1), _record("petitioner", "P1", None, member_no=2)],
    )
    p1_done = {**p1, "status": "已办结", "last_moved_at": at("2024-08-02 16:00"), "closed_at": at("2024-08-02 16:00")}
    p2 = {
        "case_id": "P2",
        "registered_at": at("2024-06-01 10:00"),
        "category_l1": "民政",
        "category_l2": "低保救助",
        "status": "已办结",
        "accepted_at": at("2024-06-02 10:00"),
        "last_moved_at": at("2024-08-05 10:00"),
        "closed_at": at("2024-08-05 10:00"),
        "due_date": date(2024, 8, 1),
        "responsible_unit": "区民政局",
        "grid_code": G1,
    }
    p3 = {
        "case_id": "P3",
        "registered_at": at("2024-06-01 11:00"),
        "category_l1": "其他",
        "category_l2": "其他",
        "status": "办理中",
        "accepted_at": at("2024-06-02 10:00"),
        "last_moved_at": at("2024-06-02 10:00"),
        "due_date": date(2024, 8, 1),
        "grid_code": G3,
    }
    w.file(
        "petitions",
        "XF_20240805.jsonl",
        data_date=date(2024, 8, 5),
        delivered=date(2024, 8, 6),
        rows=[p1_done, p2, p3],
        people=[_record("petitioner", "P1", C, member_no=1), _record("petitioner", "P1", None, member_no=2)],
    )

    # grid events: E1 in a retired grid, reported then closed; D only appears here
    e1 = {
        "event_id": "E1",
        "reported_at": at("2024-06-05 08:00"),
        "grid_code_reported": G2,
        "category": "安全隐患",
        "subcategory": "燃气隐患",
        "handling_level": "网格",
        "status": "已上报",
        "status_at": at("2024-06-05 08:00"),
        "people_count": 1,
        "grid_code": G2,
    }
    w.file(
        "grid_events",
        "SB_20240605.csv",
        data_date=date(2024, 6, 5),
        delivered=date(2024, 6, 6),
        rows=[e1],
        people=[_record("involved", "E1", D, name="李四四")],
    )
    e1_done = {
        **e1,
        "status": "已办结",
        "status_at": at("2024-06-06 17:00"),
        "resolved_at": at("2024-06-06 17:00"),
        "satisfaction": "满意",
    }
    w.file(
        "grid_events",
        "SB_20240606.csv",
        data_date=date(2024, 6, 6),
        delivered=date(2024, 6, 7),
        rows=[e1_done],
        people=[_record("involved", "E1", D, name="李四四")],
    )

    # benefit rolls: C leaves 低保 in May; June lacks the 低保 sheet (no exits);
    # the care register lacks May (C is not an exit) and has C again in June
    def roll(month: date, sheets: dict[str, tuple[str, list[dict]]]) -> None:
        """One workbook per month; its sheets share the file (and its md5)."""
        rows, people = [], []
        for sheet, (programme, members) in sheets.items():
            for number, member in enumerate(members, start=3):
                located = {"sheet": sheet, "record_no": number, "programme": programme, **member}
                rows.append(located)
                people.append(
                    {
                        **_record("beneficiary", programme, member["person_key"], record_at=None),
                        "sheet": sheet,
                        "record_no": number,
                    }
                )
        w.file(
            "civil_affairs",
            f"碧江区救助保障花名册_{month:%Y%m}.xlsx",
            data_date=month,
            delivered=month.replace(day=5),
            rows=rows,
            people=people,
        )

    roll(
        date(2024, 4, 1),
        {
            "城乡低保": (
                "low_income",
                [{"person_key": A, "monthly_amount": 600.0}, {"person_key": C, "monthly_amount": 600.0}],
            ),
            "独居空巢老人": ("elderly_alone", [{"person_key": C, "elderly_type": "独居"}]),
        },
    )
    roll(
        date(2024, 5, 1),
        {
            "城乡低保": (
                "low_income",
                [{"person_key": A, "monthly_amount": 600.0}, {"person_key": D, "monthly_amount": 400.0}],
            )
        },
    )
    roll(
        date(2024, 6, 1),
        {
            "独居空巢老人": ("elderly_alone", [{"person_key": C, "elderly_type": "独居"}]),
            "残疾人两项补贴": (
                "disability_subsidy",
                [{"person_key": A, "disability_category": "4", "disability_grade": "2"}],
            ),
        },
    )

    w.ledger_row(
        feed="petitions",
        table_name="petitions",
        folder="petitions/2024-08-06",
        file="XF_20240804.jsonl",
        status="rejected",
        reason="md5_mismatch",
        message="md5 of XF_20240804.jsonl does not match its flag",
    )
    w.finish()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    home = tmp_path_factory.mktemp("zhili_home")
    write_state(home)
    result = run_dbt(home, "build", "--vars", "{as_of_date: '2024-09-01'}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # the build's results, before docs generate writes its own over them
    target = home / "dbt_target"
    (target / "build_results.json").write_bytes((target / "run_results.json").read_bytes())
    # docs generate needs the warehouse (catalog): run it before the test connection opens
    docs = run_dbt(home, "docs", "generate", "--no-compile", "--vars", "{as_of_date: '2024-09-01'}")
    assert docs.returncode == 0, docs.stdout[-6000:] + docs.stderr[-2000:]
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_incident_latest_feedback_wins(warehouse):
    assert rows(
        warehouse,
        "select status, source_status, taxonomy_code from marts.fct_incident where incident_key = 'police_incidents:J1'",
    ) == [("closed", "调解成功", "labour")]


def test_incident_tie_on_feedback_time_goes_to_later_delivery(warehouse):
    assert rows(warehouse, "select source_status, version_count from marts.fct_incident where source_id = 'J2'") == [
        ("已处理", 2)
    ]


def test_petition_closed_on_time_counts_the_due_date(warehouse):
    got = rows(
        warehouse, "select case_id, is_closed, is_closed_on_time, is_overdue from marts.fct_petition order by case_id"
    )
    assert got == [("P1", True, True, False), ("P2", True, False, True), ("P3", False, False, True)]


def test_marts_carry_the_local_dates_analysts_count_by(warehouse):
    # stored dates, not casts of timestamptz in the reader's session zone (DuckDB sessions default to UTC)
    warehouse.execute("set TimeZone = 'UTC'")
    try:
        got = rows(
            warehouse,
            "select case_id, registered_date, due_date, closed_date, as_of_date from marts.fct_petition order by case_id",
        )
        recount = rows(
            warehouse,
            "select count(*) filter (where closed_date <= due_date), count(*) filter (where is_closed_on_time) "
            "from marts.fct_incident where source_feed = 'petitions'",
        )
    finally:
        warehouse.execute("set TimeZone = 'Asia/Shanghai'")
    as_of = date(2024, 9, 1)
    assert got == [
        ("P1", date(2024, 6, 1), date(2024, 8, 2), date(2024, 8, 2), as_of),
        ("P2", date(2024, 6, 1), date(2024, 8, 1), date(2024, 8, 5), as_of),
        ("P3", date(2024, 6, 1), date(2024, 8, 1), None, as_of),
    ]
    assert recount == [(1, 1)]


def test_benefit_exit_only_against_a_delivered_sheet(warehouse):
    got = rows(
        warehouse,
        "select person_key, programme, month_date, is_member, is_entry, is_exit from marts.fct_benefit_membership "
        "order by programme, month_date, person_key",
    )
    assert got == [
        (A, "disability_subsidy", date(2024, 6, 1), True, False, False),
        # May has no care-register sheet: C neither leaves in May nor re-enters in June
        (C, "elderly_alone", date(2024, 4, 1), True, False, False),
        (C, "elderly_alone", date(2024, 6, 1), True, False, False),
        (A, "low_income", date(2024, 4, 1), True, False, False),
        (C, "low_income", date(2024, 4, 1), True, False, False),
        (A, "low_income", date(2024, 5, 1), True, False, False),
        (C, "low_income", date(2024, 5, 1), False, False, True),
        (D, "low_income", date(2024, 5, 1), True, True, False),
    ]


def test_resident_tags_and_register(warehouse):
    got = {
        r[0]: r[1:]
        for r in rows(
            warehouse,
            "select person_key, is_in_police_register, is_low_income, is_living_alone, is_disabled, disability_category, "
            "is_petitioner, is_in_police_incident, is_in_grid_event, grid_code, age_years from marts.dim_resident",
        )
    }
    assert got[A] == (True, True, False, True, "4", False, True, False, G1, 84)
    assert got[B] == (False, False, False, False, None, False, False, False, G1, 84)  # left the register
    assert got[C] == (True, False, True, False, None, True, False, False, G1, 86)
    assert got[D] == (False, True, False, False, None, False, False, True, None, 84)


def test_retired_grid_rolls_forward_and_history_is_kept(warehouse):
    got = rows(
        warehouse,
        "select grid_code, is_active, current_grid_code, is_in_latest_snapshot from marts.dim_grid order by grid_code",
    )
    assert got == [(G1, True, G1, True), (G2, False, G1, True), (G3, True, G3, True), (G4, True, G4, False)]


def test_marts_carry_no_identifiers(warehouse):
    columns = {
        r[0] for r in rows(warehouse, "select column_name from duckdb_columns() where schema_name in ('marts', 'ops')")
    }
    assert not columns & {"id_number", "name", "phone", "id_raw", "name_raw", "raw_text", "address_raw"}


def test_column_comments_are_persisted(warehouse):
    missing = rows(
        warehouse,
        "select table_name, column_name from duckdb_columns() where schema_name = 'marts' and coalesce(comment, '') = ''",
    )
    assert missing == []
    (comment,) = warehouse.execute(
        "select comment from duckdb_columns() where schema_name = 'marts' and table_name = 'dim_resident' and column_name = 'person_key'"
    ).fetchone()
    assert "人员" in comment and "person" in comment.lower()


def test_docs_catalog_lists_marts_with_bilingual_descriptions(warehouse):
    home = Path(
        warehouse.execute("select path from duckdb_databases() where database_name = 'warehouse'").fetchone()[0]
    ).parent
    catalog = json.loads((home / "dbt_target" / "catalog.json").read_text(encoding="utf-8"))
    manifest = json.loads((home / "dbt_target" / "manifest.json").read_text(encoding="utf-8"))
    assert "model.zhili.fct_incident" in catalog["nodes"]
    described = manifest["nodes"]["model.zhili.fct_incident"]["columns"]["is_closed_on_time"]["description"]
    assert "按期" in described and "due time" in described


def test_dbt_artifacts_and_logs_go_to_the_state_folder(warehouse):
    home = Path(
        warehouse.execute("select path from duckdb_databases() where database_name = 'warehouse'").fetchone()[0]
    ).parent
    assert (home / "dbt_target" / "run_results.json").exists()
    assert (home / "dbt_logs" / "dbt.log").exists()


def test_the_build_here_runs_every_unit_test_of_the_project(warehouse):
    """A nightly build leaves dbt's unit tests out (they check code on fixed fixtures, not the data): this
    build is where they run, every one the project defines, and pass."""
    home = warehouse.execute("select path from duckdb_databases() where database_name = 'warehouse'").fetchone()[0]
    target = Path(home).parent / "dbt_target"
    defined = set(json.loads((target / "manifest.json").read_text())["unit_tests"])
    results = json.loads((target / "build_results.json").read_text())["results"]
    ran = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert defined and set(ran) == defined
    assert set(ran.values()) == {"pass"}


def _compiled_test(warehouse, name: str) -> str:
    """The SQL dbt compiled for the data test whose file name starts with ``name``."""
    home = warehouse.execute("select path from duckdb_databases() where database_name = 'warehouse'").fetchone()[0]
    (path,) = (Path(home).parent / "dbt_target" / "compiled").rglob(f"{name}*.sql")
    return path.read_text()


ENTRY_STATUSES = ("已审核", "待审核", "已驳回")
entry_rows = st.lists(
    st.tuples(
        st.sampled_from(["J1", "J2", "J3", None]),
        st.sampled_from(["f1:1", "f1:2", "f2:1", None]),
        st.sampled_from([*ENTRY_STATUSES, "已作废", None]),
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(entries=entry_rows)
def test_row_keys_finds_what_unique_not_null_and_accepted_values_find(warehouse, entries):
    """The one-read test of a staging view (tests/generic/row_keys.sql) on stg_credit_entries, run on any rows:
    it fails exactly where dbt's unique and not_null on entry_id and record_locator and accepted_values on
    review_status would, and names the column, the problem and the value."""
    sql = _compiled_test(warehouse, "row_keys_stg_credit_entries")
    relation = '"warehouse"."staging"."stg_credit_entries"'
    assert relation in sql
    con = duckdb.connect()
    con.execute("create table entries (entry_id varchar, record_locator varchar, review_status varchar)")
    if entries:
        con.executemany("insert into entries values (?, ?, ?)", entries)
    found = set(con.execute(sql.replace(relation, "entries")).fetchall())
    con.close()

    expected = set()
    for index, column in enumerate(("entry_id", "record_locator")):
        counts = Counter(row[index] for row in entries)
        expected |= {(column, "null", None, n) for value, n in counts.items() if value is None}
        expected |= {(column, "duplicate", value, n) for value, n in counts.items() if value is not None and n > 1}
    statuses = Counter(row[2] for row in entries if row[2] is not None and row[2] not in ENTRY_STATUSES)
    expected |= {("review_status", "not accepted", value, n) for value, n in statuses.items()}
    assert found == expected


def test_row_keys_passes_the_staging_views_it_checks(warehouse):
    """On the built warehouse every staging view's one-read test ran and passed."""
    home = warehouse.execute("select path from duckdb_databases() where database_name = 'warehouse'").fetchone()[0]
    target = Path(home).parent / "dbt_target"
    defined = {n for n in json.loads((target / "manifest.json").read_text())["nodes"] if ".row_keys_stg_" in n}
    results = json.loads((target / "build_results.json").read_text())["results"]
    ran = {r["unique_id"]: r["status"] for r in results if ".row_keys_stg_" in r["unique_id"]}
    assert len(defined) > 20 and set(ran) == defined
    assert set(ran.values()) == {"pass"}
