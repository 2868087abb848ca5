"""visit_overdue on every cadence tier (DOMAIN.md 探访关爱: high risk weekly, key monthly, others quarterly):
one real `zhili run` on a generated landing covering a whole calendar quarter (2025 Q1, 90 days from
2025-01-01), scored against the generator's truth (truth/visit_cadence.parquet: who was neglected from when).

With patterns the generator neglects at least one person of each tier whom the warehouse surely puts in it (80+
on the living-alone roll; a disability of grade 1-2; on the 高龄津贴 or 低保 roll only), early enough that a whole
period of the tier passes without a visit. Recall: every such period is missed and every such person is alerted.
False alarms: the same landing without the neglect is a clean one (neglect is the only visit pattern and draws
nothing of its own), so an alert on a person the truth did not neglect is a false alarm.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dbt_fixtures import truth_person_keys
from ingestion.generator import generate
from tests.runs import zhili_built

START, DAYS = dt.date(2025, 1, 1), 90
TIER_OF_CADENCE = {7: "high_risk", 30: "key", 90: "other"}
FEEDS = ("grid_registry", "police_population", "civil_affairs", "grid_visits")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    generate(out, residents=2000, days=DAYS, seed=11, start=START)
    # only the feeds the cadence stands on (the grids, the register, the care rolls, the visit log): a quarter of
    # the others would take minutes and change nothing here
    landing = out / "landing-visits"
    for feed in FEEDS:
        shutil.copytree(out / "landing" / feed, landing / feed)
    home = out / "home"
    zhili_built(landing, home, timeout=2400)
    con = duckdb.connect(str(home / "serving" / "zhili.duckdb"), read_only=True)
    yield out / "truth", con
    con.close()


def _neglect(truth_dir: Path, con) -> pl.DataFrame:
    """The truth's care persons (person_id, cadence_days, neglected_from) with the person_key linkage gave their
    register records."""
    return pl.read_parquet(truth_dir / "visit_cadence.parquet").join(truth_person_keys(truth_dir, con), on="person_id")


def test_every_tier_has_a_neglected_person_and_every_judged_period_after_it_is_missed(built):
    truth_dir, con = built
    neglected = _neglect(truth_dir, con).filter(pl.col("neglected_from").is_not_null())
    cadence = con.sql(
        "select person_key, care_tier, period_start, due_date, cadence_status, as_of_date from marts.mart_visit_cadence"
    ).pl()
    alerts = con.sql("select person_key, category from marts.mart_alerts where rule = 'visit_overdue'").pl()
    judged = neglected.join(cadence, on="person_key").filter(
        (pl.col("period_start") >= pl.col("neglected_from")) & (pl.col("due_date") <= pl.col("as_of_date"))
    )
    # the warehouse puts each tier's neglected person in the tier DOMAIN.md gives the cadence
    sure = judged.filter(pl.col("care_tier") == pl.col("cadence_days").replace_strict(TIER_OF_CADENCE))
    per_tier = dict(sure.group_by("care_tier").agg(pl.col("person_key").n_unique()).iter_rows())
    assert set(per_tier) == {"high_risk", "key", "other"}, per_tier
    # recall 100 % per tier: every whole period after the stop is missed, every neglected person is alerted,
    # under their tier
    assert judged.filter(pl.col("cadence_status") != "missed").height == 0, judged
    overdue = judged.select("person_key", "care_tier").unique()
    fired = overdue.join(alerts, left_on=["person_key", "care_tier"], right_on=["person_key", "category"], how="semi")
    for tier in ("high_risk", "key", "other"):
        want = overdue.filter(pl.col("care_tier") == tier)
        got = fired.filter(pl.col("care_tier") == tier)
        print(f"visit_overdue recall {tier}: {got.height}/{want.height}")
        assert got.height == want.height > 0, (tier, want, alerts)


def test_quarterly_periods_are_calendar_quarters(built):
    _, con = built
    quarters = con.sql(
        "select distinct period_start, due_date, cadence_status <> 'open' as judged from marts.mart_visit_cadence "
        "where period_unit = 'quarter'"
    ).pl()
    assert (quarters["period_start"].dt.day() == 1).all() and quarters["period_start"].dt.month().is_in(
        [1, 4, 7, 10]
    ).all()
    assert (quarters["due_date"] == quarters["period_start"].dt.offset_by("3mo").dt.offset_by("-1d")).all(), quarters
    # the whole first quarter of the log is judged
    assert quarters.filter(pl.col("judged"))["period_start"].unique().to_list() == [START], quarters


def visit_overdue_false_alarms(truth_dir: Path, con) -> tuple[int, pl.DataFrame, int, int]:
    """visit_overdue's alerts on a built landing scored against the truth: (alerts, the falsely alerted persons,
    how many of them the log visited, how many were not yet registered). A false alarm: an alert on a person the
    truth did not neglect where one of the missed periods it stands on holds a countable visit in the truth's
    log, or began before the person was registered (nothing was owed). An alert whose periods the log really left
    without a countable visit (the only visit typed in at the desk) is a true one."""
    people = _neglect(truth_dir, con)
    neglected = people.filter(pl.col("neglected_from").is_not_null()).select("person_key")
    keys = truth_person_keys(truth_dir, con)
    missed = con.sql(
        "select alerts.person_key, cadence.period_start, cadence.due_date from marts.mart_alerts as alerts "
        "inner join marts.mart_visit_cadence as cadence on alerts.person_key = cadence.person_key "
        "where alerts.rule = 'visit_overdue' and cadence.cadence_status = 'missed' "
        "and cadence.due_date >= cast(alerts.raised_at as date) - 1"
    ).pl()
    n_alerts = con.execute("select count(*) from marts.mart_alerts where rule = 'visit_overdue'").fetchall()[0][0]
    visits = (
        pl.read_parquet(truth_dir / "visits.parquet")
        .filter(~pl.col("is_double_submission") & ~pl.col("is_desk_typed") & ~pl.col("is_person_gone"))
        .join(keys, on="person_id")
        .select("person_key", "visit_date")
    )
    registered = (
        pl.read_parquet(truth_dir / "persons.parquet").join(keys, on="person_id").select("person_key", "registered_on")
    )
    suspects = missed.join(neglected, on="person_key", how="anti")
    visited = (
        suspects.join(visits, on="person_key")
        .filter(pl.col("visit_date").is_between(pl.col("period_start"), pl.col("due_date")))
        .select("person_key")
        .unique()
    )
    not_owed = (
        suspects.join(registered, on="person_key")
        .filter(pl.col("registered_on") > pl.col("period_start"))
        .select("person_key")
        .unique()
    )
    return n_alerts, pl.concat([visited, not_owed]).unique(), visited.height, not_owed.height


def test_false_alarms_on_the_clean_landing_are_under_1_per_1000_grid_days(built):
    """The same landing without the neglect is a clean one; a false alarm as :func:`visit_overdue_false_alarms`
    says. Per 1,000 grid-days of the visit log (grids in the registry x days): at 2,000 residents (9 grids, 810
    grid-days) a single false alarm fails it, e.g. a visit whose resident has no usable ID that linkage leaves
    unplaced."""
    truth_dir, con = built
    neglected = _neglect(truth_dir, con).filter(pl.col("neglected_from").is_not_null())
    n_alerts, false, visited, not_owed = visit_overdue_false_alarms(truth_dir, con)
    grid_days = con.execute(
        "select count(distinct grid_code) * (select count(distinct visited_date) from marts.fct_visit) "
        "from marts.dim_grid"
    ).fetchall()[0][0]
    assert grid_days > 0
    print(
        f"visit_overdue: {n_alerts} alerts, {neglected.height} neglected, {false.height} false "
        f"({visited} visited, {not_owed} not yet registered), {grid_days} grid-days"
    )
    assert 1000 * false.height / grid_days < 1.0, (false, grid_days)
