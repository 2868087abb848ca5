"""Injected patterns: recorded in the truth, present in the feeds, deterministic, and switchable off."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion import workdays
from ingestion.generator import generate
from ingestion.generator.patterns import MIN_DAYS, PATTERN_SCHEMA, due_soon_plan

HOTLINE_PATTERNS = {
    "hotline_repeat_caller",
    "hotline_repeat_address",
    "hotline_unsigned",
    "hotline_overdue",
    "hotline_topic_spike",
    "cross_channel_escalation",
    "hotline_due_soon",
}
PATTERNS = {
    "repeat_petitioner",
    "collective_forming",
    "grid_spike",
    "escalated_dispute",
    "vulnerable_police",
    *HOTLINE_PATTERNS,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    generate(out, residents=2000, days=14, seed=5)
    return out


def _truth(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "truth" / "patterns.parquet")


def _petition_lines(out: Path) -> list[dict]:
    lines = []
    for p in sorted((out / "landing" / "petitions").glob("*/*.jsonl")):
        data = p.read_bytes()
        try:
            text_all = data.decode("utf-8")
        except UnicodeDecodeError:  # the seed may have switched a file to GB18030 (truth/faults.parquet)
            text_all = data.decode("gb18030")
        for text in text_all.splitlines():
            try:
                lines.append(json.loads(text))
            except json.JSONDecodeError:
                pass
    return lines


def test_every_pattern_is_recorded_with_the_truth_schema(run):
    t = _truth(run)
    assert dict(t.schema) == PATTERN_SCHEMA
    assert set(t["pattern"]) == PATTERNS
    assert t.filter(pl.col("grid_code").is_null()).height == 0


def test_repeat_petitioner_is_one_person_three_times_within_90_days_on_one_matter(run):
    t = _truth(run).filter(pl.col("pattern") == "repeat_petitioner")
    assert t["record_key"].n_unique() >= 3
    assert t["person_id"].n_unique() == 1
    assert t["category"].n_unique() == 1
    assert (t["last_date"][0] - t["first_date"][0]) <= dt.timedelta(days=90)


def test_collective_petition_is_five_petitions_one_category_one_community_within_7_days(run):
    t = _truth(run).filter(pl.col("pattern") == "collective_forming")
    assert t["record_key"].n_unique() >= 5
    assert t["community_code"].n_unique() == 1 and t["category"].n_unique() == 1
    assert (t["last_date"][0] - t["first_date"][0]) < dt.timedelta(days=7)


def test_spike_is_one_grid_one_day_one_category(run):
    t = _truth(run).filter(pl.col("pattern") == "grid_spike")
    assert t.height >= 10
    assert t["grid_code"].n_unique() == 1 and t["record_date"].n_unique() == 1 and t["category"].n_unique() == 1
    # the grid has at least 7 days of history before the spike
    assert (t["record_date"][0] - dt.date(2024, 11, 1)).days >= 7


def test_escalated_dispute_reappears_with_the_same_people(run):
    t = _truth(run).filter(pl.col("pattern") == "escalated_dispute")
    dispute = t.filter(pl.col("feed") == "grid_events")
    later = t.filter(pl.col("feed") != "grid_events")
    assert dispute.height >= 1 and later.height >= 1
    assert set(later["person_id"]) <= set(dispute["person_id"])
    assert later["record_date"].min() > dispute["record_date"].max()


def test_vulnerable_resident_is_80_plus_and_on_the_living_alone_roll(run):
    t = _truth(run).filter(pl.col("pattern") == "vulnerable_police")
    persons = pl.read_parquet(run / "truth" / "persons.parquet")
    who = persons.filter(pl.col("person_id") == t["person_id"][0])
    age = (t["record_date"][0] - who["birth_date"][0]).days / 365.25
    assert age >= 80
    records = pl.read_parquet(run / "truth" / "person_records.parquet").filter(
        (pl.col("sheet") == "独居空巢老人") & (pl.col("person_id") == t["person_id"][0])
    )
    assert records.height >= 1 and set(records["id_fault"]) == {"none"}


def test_injected_petitions_are_in_the_landing_with_clean_ids(run):
    keys = set(_truth(run).filter(pl.col("feed") == "petitions")["record_key"])
    seen = {line["xfjbh"]: line for line in _petition_lines(run) if line["xfjbh"] in keys}
    assert set(seen) == keys
    assert all(len(p["zjhm"]) == 18 for line in seen.values() for p in line["xfr"])


def test_patterns_can_be_switched_off_and_nothing_is_injected(tmp_path):
    out = tmp_path / "plain"
    generate(out, residents=2000, days=14, seed=5, patterns=False)
    assert _truth(out).height == 0
    assert not any(line["xfjbh"][-4:].startswith("90") for line in _petition_lines(out))


def test_small_runs_get_no_patterns(tmp_path):
    generate(tmp_path / "small", residents=500, days=14, seed=5)
    assert _truth(tmp_path / "small").height == 0


def test_patterns_are_deterministic(run, tmp_path):
    again = tmp_path / "again"
    generate(again, residents=2000, days=14, seed=5)
    assert _truth(again).equals(_truth(run))


# --- 12345 (issue 22) -------------------------------------------------------------------------------


def _hotline(out: Path, kind: str) -> pl.DataFrame:
    """Every row of the GD (orders) or GDLZ (steps) files, as text."""
    files = sorted((out / "landing" / "hotline_orders").glob(f"*/{kind}_*.csv"))
    return pl.concat([pl.read_csv(f, infer_schema_length=0, encoding="utf8") for f in files], how="vertical")


#: an injected order's sequence starts at 900001, above any day's own orders
INJECTED = pl.col("工单编号").str.slice(-6).cast(pl.Int64) >= 900001


def test_hotline_patterns_are_in_the_landing_with_clean_ids(run):
    t = _truth(run).filter(pl.col("feed") == "hotline_orders")
    assert set(t["pattern"]) == HOTLINE_PATTERNS
    gd = _hotline(run, "GD")
    seen = gd.filter(pl.col("工单编号").is_in(t["record_key"].to_list()))
    assert set(seen["工单编号"]) == set(t["record_key"])
    assert (seen["证件号码"].str.len_chars() == 18).all()
    assert gd.filter(INJECTED)["工单编号"].n_unique() == t["record_key"].n_unique()


def test_hotline_repeat_patterns_are_one_caller_or_one_address_on_one_matter_within_30_days(run):
    t = _truth(run)
    gd = _hotline(run, "GD")
    for pattern, column in (("hotline_repeat_caller", "证件号码"), ("hotline_repeat_address", "事发地址")):
        rows = t.filter(pl.col("pattern") == pattern)
        orders = gd.filter(pl.col("工单编号").is_in(rows["record_key"].to_list()))
        assert rows.height == 3 and rows["category"].n_unique() == 1
        assert orders[column].n_unique() == 1 and orders["诉求分类"].n_unique() == 1
        assert rows["last_date"][0] - rows["first_date"][0] <= dt.timedelta(days=30)
    # the address rule counts orders from different callers
    rows = t.filter(pl.col("pattern") == "hotline_repeat_address")
    assert rows["person_id"].n_unique() == 3


def test_hotline_unsigned_and_overdue_orders_have_the_steps_their_alert_needs(run):
    t = _truth(run)
    steps = _hotline(run, "GDLZ")
    end = dt.date(2024, 11, 1) + dt.timedelta(days=14)
    unsigned = t.filter(pl.col("pattern") == "hotline_unsigned")["record_key"][0]
    taken = set(steps.filter(pl.col("工单编号") == unsigned)["环节"])
    assert "派单" in taken and "签收" not in taken
    overdue = t.filter(pl.col("pattern") == "hotline_overdue")
    taken = set(steps.filter(pl.col("工单编号") == overdue["record_key"][0])["环节"])
    assert "签收" in taken and "办结" not in taken
    urgency = _hotline(run, "GD").filter(pl.col("工单编号") == overdue["record_key"][0])["紧急程度"]
    assert set(urgency) == {"紧急"}  # a 24-hour deadline, long past by the period's end
    assert (end - overdue["record_date"][0]).days >= 2


def test_hotline_topic_spike_is_one_community_one_day_one_matter(run):
    t = _truth(run).filter(pl.col("pattern") == "hotline_topic_spike")
    assert t.height >= 8
    assert t["community_code"].n_unique() == 1 and t["record_date"].n_unique() == 1 and t["category"].n_unique() == 1
    assert (t["record_date"][0] - dt.date(2024, 11, 1)).days >= 7  # history for the baseline


def test_cross_channel_escalation_is_three_channels_within_14_days_sharing_a_person(run):
    t = _truth(run).filter(pl.col("pattern") == "cross_channel_escalation")
    assert set(t["feed"]) == {"hotline_orders", "police_incidents", "petitions"}
    assert t["last_date"][0] - t["first_date"][0] <= dt.timedelta(days=14)
    caller = t.filter(pl.col("feed") == "hotline_orders")["person_id"][0]
    assert caller in set(t.filter(pl.col("feed") == "petitions")["person_id"])
    # the 110 call and the petition are the escalated dispute's own records (no extra record in those feeds)
    dispute = _truth(run).filter(pl.col("pattern") == "escalated_dispute")
    assert set(t.filter(pl.col("feed") != "hotline_orders")["record_key"]) <= set(dispute["record_key"])


def test_the_feed_s_own_orders_do_not_move_with_the_patterns(run, tmp_path):
    plain = tmp_path / "plain-hotline"
    generate(plain, residents=2000, days=14, seed=5, patterns=False)
    for kind in ("GD", "GDLZ"):
        with_patterns, without = _hotline(run, kind), _hotline(plain, kind)
        assert without.filter(INJECTED).height == 0
        assert with_patterns.filter(~INJECTED).equals(without), kind


def test_hotline_due_soon_order_falls_due_the_day_after_the_reporting_date(run):
    t = _truth(run).filter(pl.col("pattern") == "hotline_due_soon")
    assert t.height == 1
    order = t["record_key"][0]
    steps = _hotline(run, "GDLZ").filter(pl.col("工单编号") == order)
    taken = set(steps["环节"])
    assert "签收" in taken and "办结" not in taken  # signed for, still open
    gd = _hotline(run, "GD").filter(pl.col("工单编号") == order).sort("更新时间")
    assert set(gd["紧急程度"]) == {"一般"}
    # 2024-11-01 + 14 days: the reporting date is Friday 11-15 and the list's day Saturday 11-16, a rest day
    # no default deadline falls on: the default deadline comes before it and an approved extension moves it there
    dispatched = dt.datetime.fromisoformat(steps.filter(pl.col("环节") == "派单")["环节时间"][0])
    default = workdays.default_due_at(dispatched, "一般")
    granted = steps.filter(pl.col("环节") == "延期批准")
    assert granted.height == 1 and granted["说明"][0].endswith("延期至2024-11-16 18:00")
    asked = dt.datetime.fromisoformat(steps.filter(pl.col("环节") == "延期申请")["环节时间"][0])
    assert asked < default < dt.datetime(2024, 11, 16, 18) and asked.date() < dt.date(2024, 11, 15)
    assert gd["办理时限"][-1] == "2024-11-16 18:00:00"


@settings(max_examples=300, deadline=None)
@given(start=st.dates(dt.date(2004, 1, 1), dt.date(2030, 12, 1)), days=st.integers(MIN_DAYS, 400))
def test_due_soon_order_is_dispatched_in_the_period_and_due_the_day_after_the_reporting_date(start, days):
    dispatched, extend_to = due_soon_plan(start, days)
    reporting = start + dt.timedelta(days=days)
    due_day = reporting + dt.timedelta(days=1)
    assert start <= dispatched < reporting
    default = workdays.default_due_at(dt.datetime.combine(dispatched, dt.time(10, 20)), "一般")
    if workdays.is_working_day(due_day):  # the working-day calendar (调休 included) gives the deadline
        assert extend_to is None and default.date() == due_day
    else:  # a rest day: an extension moves a deadline that comes before it
        assert extend_to is not None and extend_to.date() == due_day and default < extend_to
