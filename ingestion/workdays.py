"""The working-day calendar (State Council holiday notices, 调休 included) and the 12345 deadline rules.

One definition of "working day" for the whole project: the ``chinesecalendar`` package, which
carries the State Council's yearly notices (法定节假日 and the Saturdays/Sundays made working days).
The warehouse counts in SQL against the ``working_calendar`` seed, which :func:`calendar_frame`
writes from this module (``python -m ingestion.workdays``; a unit test keeps the two equal).

Beyond the years the package covers, a day is a working day when it is Monday to Friday: the
notice for a year is published late in the year before, and a deadline must still be computable.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import chinese_calendar
import polars as pl

__all__ = [
    "is_working_day",
    "add_working_days",
    "working_days_between",
    "default_due_at",
    "sign_limit",
    "calendar_frame",
    "COVERED",
    "DEFAULT_WORKING_DAYS",
]

#: first and last day the package's notices cover
COVERED: tuple[dt.date, dt.date] = (
    min(chinese_calendar.constants.holidays),
    max(max(chinese_calendar.constants.holidays), max(chinese_calendar.constants.workdays)).replace(month=12, day=31),
)
#: 紧急程度 -> the default 办理时限 in working days after the dispatch day (紧急: 24 hours, not working days)
DEFAULT_WORKING_DAYS = {"一般": 5, "复杂": 15}


def is_working_day(day: dt.date) -> bool:
    if COVERED[0] <= day <= COVERED[1]:
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5


def add_working_days(at: dt.datetime, n: int) -> dt.datetime:
    """The same clock time on the ``n``-th working day after ``at``'s day (that day itself never counts)."""
    if n < 1:
        raise ValueError(f"n={n!r} should be at least 1 working day")
    day, left = at.date(), n
    while left:
        day += dt.timedelta(days=1)
        left -= is_working_day(day)
    return dt.datetime.combine(day, at.timetz())


def working_days_between(start: dt.datetime, end: dt.datetime) -> int:
    """Working days after ``start``'s day up to and including ``end``'s day (0 when closed the same day)."""
    days = 0
    day = start.date()
    while day < end.date():
        day += dt.timedelta(days=1)
        days += is_working_day(day)
    return days


def default_due_at(dispatched_at: dt.datetime, urgency: str | None) -> dt.datetime:
    """The platform's 办理时限 when the order prints none (hotline_orders.md): 紧急 24 hours, 一般 the
    5th and 复杂 the 15th working day after the dispatch day, same clock time; empty urgency is 一般."""
    if urgency == "紧急":
        return dispatched_at + dt.timedelta(hours=24)
    return add_working_days(dispatched_at, DEFAULT_WORKING_DAYS.get(urgency or "一般", 5))


def sign_limit(urgency: str | None) -> dt.timedelta:
    """Time allowed to sign for an order after each dispatch (re-dispatches restart it)."""
    return dt.timedelta(minutes=30) if urgency == "紧急" else dt.timedelta(hours=2)


def calendar_frame(first: dt.date | None = None, last: dt.date | None = None) -> pl.DataFrame:
    """``calendar_date``, ``is_working_day``, ``working_day_seq`` (working days from ``first`` up to and
    including the date): the n-th working day after day D is the working day whose seq is seq(D) + n."""
    first = first or COVERED[0]
    last = last or COVERED[1] + dt.timedelta(days=366 * 3)
    days = pl.date_range(first, last, "1d", eager=True)
    flags = [is_working_day(d) for d in days]
    return pl.DataFrame({"calendar_date": days, "is_working_day": flags}).with_columns(
        pl.col("is_working_day").cast(pl.Int32).cum_sum().alias("working_day_seq")
    )


def _write_seed(path: Path) -> None:
    calendar_frame().write_csv(path)


if __name__ == "__main__":  # regenerates the dbt seed after a chinesecalendar upgrade
    _write_seed(Path(sys.argv[1] if len(sys.argv) > 1 else "dbt_project/seeds/working_calendar.csv"))
