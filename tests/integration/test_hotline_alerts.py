"""The 12345 alerts against the generator's injected patterns, on a second seed and shape.

tests/integration/test_indicators.py scores every injected pattern (the 12345 ones included) on
3,000 residents x 45 days, seed 7; this module does the same on 2,500 residents x 21 days, seed 12, for the
seven 12345 patterns (repeat caller, repeat address, unsigned, overdue, due soon, topic spike, cross-channel
escalation), and checks what each alert says beyond its evidence: the escalation's links go through the
same person or the same address point, the topic spike's community and count are the truth's, the due-soon
order falls due the day after the reporting date (a Friday: on the Saturday, by an approved extension, since
no default deadline falls on a rest day; test_indicators' landing has the default-deadline form).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from dbt_fixtures import china_naive
from ingestion import workdays
from test_indicators import START, build_warehouse

RESIDENTS, DAYS, SEED = 2500, 21, 12
HOTLINE_PATTERNS = (
    "hotline_repeat_caller",
    "hotline_repeat_address",
    "hotline_unsigned",
    "hotline_overdue",
    "hotline_topic_spike",
    "cross_channel_escalation",
    "hotline_due_soon",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out, home = tmp_path_factory.mktemp("gen"), tmp_path_factory.mktemp("home")
    con = build_warehouse(out, home, patterns=True, residents=RESIDENTS, days=DAYS, seed=SEED)
    yield out, con
    con.close()


def hits_by_pattern(out, con, patterns: tuple[str, ...]) -> dict[str, list[str]]:
    """pattern_id -> the alerts of the pattern's rule (its name) whose evidence holds every injected record."""
    truth = pl.read_parquet(out / "truth" / "patterns.parquet").filter(pl.col("pattern").is_in(patterns))
    evidence = con.sql("select alert_key, rule, incident_key from marts.mart_alert_evidence").pl()
    found = {}
    for (pattern_id,), rows in truth.group_by(["pattern_id"], maintain_order=True):
        want = {f"{feed}:{key}" for feed, key in rows.select("feed", "record_key").iter_rows()}
        got = evidence.filter(pl.col("rule") == rows["pattern"][0]).group_by("alert_key").agg(pl.col("incident_key"))
        found[pattern_id] = [a for a, keys in got.iter_rows() if want <= set(keys)]
    return found


def test_every_hotline_pattern_is_injected_and_found(built):
    out, con = built
    truth = pl.read_parquet(out / "truth" / "patterns.parquet")
    assert set(HOTLINE_PATTERNS) <= set(truth["pattern"])
    found = hits_by_pattern(out, con, HOTLINE_PATTERNS)
    assert len(found) == len(HOTLINE_PATTERNS)
    missed = sorted(p for p, hits in found.items() if not hits)
    assert not missed, f"injected 12345 patterns without their alert: {missed}"


def test_escalation_links_are_by_person_or_place(built):
    out, con = built
    truth = pl.read_parquet(out / "truth" / "patterns.parquet").filter(pl.col("pattern") == "cross_channel_escalation")
    order = truth.filter(pl.col("feed") == "hotline_orders")["record_key"][0]
    links = con.sql(
        "select source_feed, linked_by, order_at, received_at from marts.mart_alert_cross_channel "
        "where order_incident_key = ?",
        params=[f"hotline_orders:{order}"],
    ).pl()
    assert set(links["source_feed"]) == {"police_incidents", "petitions"}
    # the petitioner made the 12345 call; the 110 call was made at the address the call was about
    assert links.filter(pl.col("source_feed") == "petitions")["linked_by"].str.contains("person").all()
    assert links.filter(pl.col("source_feed") == "police_incidents")["linked_by"].str.contains("place").all()
    span = max(links["received_at"].max(), links["order_at"][0]) - min(links["received_at"].min(), links["order_at"][0])
    assert span.days <= 14
    alert = con.execute(
        "select severity, evidence_count, metric_value, person_key from marts.mart_alerts where alert_key = ?",
        [f"cross_channel_escalation|hotline_orders:{order}"],
    ).fetchall()
    assert len(alert) == 1
    alert = alert[0]
    assert alert[2] == 3 and alert[1] >= 3 and alert[3] is not None


def test_topic_spike_names_the_community_and_its_count(built):
    out, con = built
    truth = pl.read_parquet(out / "truth" / "patterns.parquet").filter(pl.col("pattern") == "hotline_topic_spike")
    community, day = truth["community_code"][0], truth["record_date"][0]
    row = con.execute(
        "select order_count, trailing_count, p_value, is_spike from marts.mart_alert_hotline_topic_scores "
        "where community_code = ? and activity_date = ? and is_spike",
        [community, day],
    ).fetchall()
    assert len(row) == 1, "the injected day is not scored a spike"
    order_count, _, p_value, _ = row[0]
    assert order_count >= truth.height and p_value < 0.0001


def test_due_soon_is_the_order_falling_due_the_day_after_the_reporting_date(built):
    out, con = built
    truth = pl.read_parquet(out / "truth" / "patterns.parquet").filter(pl.col("pattern") == "hotline_due_soon")
    order = truth["record_key"][0]
    reporting = START + dt.timedelta(days=DAYS)  # what build_warehouse judges as of: Friday 2024-11-22
    got = con.sql(f"select * from marts.fct_hotline_order where order_id = '{order}'").pl()
    dispatched, due = got.select(china_naive("first_dispatched_at"), china_naive("due_at")).row(0)
    # Saturday 11-23 is a rest day no default deadline falls on: the default one (working days) came first
    # and the granted extension is the deadline in force
    assert not workdays.is_working_day(reporting + dt.timedelta(days=1))
    assert workdays.default_due_at(dispatched, "一般") < due == dt.datetime(2024, 11, 23, 18)
    assert got["extension_granted_count"][0] == 1 and got["closed_at"][0] is None
    rows = con.execute(
        "select severity, metric_value from marts.mart_alerts where alert_key = ?",
        [f"hotline_due_soon|hotline_orders:{order}"],
    ).fetchall()
    assert rows == [("yellow", 18 * 60)]  # minutes from the end of the reporting date
