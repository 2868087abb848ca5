"""The working-day calendar and the 12345 default deadlines (ingestion.workdays) against the State
Council notices, and the dbt seed the warehouse counts with against the package."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion import workdays

SEED = Path(__file__).resolve().parents[3] / "dbt_project" / "seeds" / "working_calendar.csv"


def test_seed_equals_the_package_calendar():
    seed = pl.read_csv(SEED, try_parse_dates=True)
    want = workdays.calendar_frame()
    assert seed.height == want.height
    assert seed["calendar_date"].to_list() == want["calendar_date"].to_list()
    assert seed["is_working_day"].to_list() == want["is_working_day"].to_list()
    assert seed["working_day_seq"].to_list() == want["working_day_seq"].to_list()


def test_spring_festival_2025_counts_the_adjusted_sunday_and_skips_the_holiday():
    # 2025-01-26 (a Sunday) is a working day, 01-28..02-04 the holiday (国办发明电〔2024〕12号)
    assert workdays.is_working_day(dt.date(2025, 1, 26)) and not workdays.is_working_day(dt.date(2025, 1, 29))
    assert workdays.default_due_at(dt.datetime(2025, 1, 24, 10), "一般") == dt.datetime(2025, 2, 7, 10)
    assert workdays.default_due_at(dt.datetime(2025, 1, 24, 10), None) == dt.datetime(2025, 2, 7, 10)
    assert workdays.default_due_at(dt.datetime(2025, 1, 24, 10), "紧急") == dt.datetime(2025, 1, 25, 10)
    # National Day 2024: 09-29 (Sunday) and 10-12 (Saturday) worked, 10-01..10-07 off
    assert workdays.add_working_days(dt.datetime(2024, 9, 27, 9), 2) == dt.datetime(2024, 9, 30, 9)
    assert workdays.add_working_days(dt.datetime(2024, 9, 30, 9), 1) == dt.datetime(2024, 10, 8, 9)


def test_beyond_the_notices_a_working_day_is_monday_to_friday():
    last = workdays.COVERED[1]
    after = [last + dt.timedelta(days=i) for i in range(1, 15)]
    assert [workdays.is_working_day(d) for d in after] == [d.weekday() < 5 for d in after]


@settings(max_examples=200, deadline=None)
@given(
    at=st.datetimes(min_value=dt.datetime(2015, 1, 1), max_value=dt.datetime(2026, 11, 30)),
    n=st.integers(min_value=1, max_value=30),
)
def test_the_nth_working_day_after_is_a_working_day_n_working_days_on_at_the_same_time(at, n):
    due = workdays.add_working_days(at, n)
    assert workdays.is_working_day(due.date())
    assert due.time() == at.time() and due.date() > at.date()
    assert workdays.working_days_between(at, due) == n
    # and no earlier day would do: the day before holds only n - 1 working days
    assert workdays.working_days_between(at, due - dt.timedelta(days=1)) == n - 1
