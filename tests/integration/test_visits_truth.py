"""grid_visits (visits + roster) end to end: one real `zhili run` on a generated landing, its marts against
the generator's truth (truth/visits.parquet, grid_workers.parquet, grid_vacancies.parquet).

40 days from 2024-11-01: the October roster arrives on the period's second day and November's on
2024-12-02, so a worker's mid-month move and the gaps it and a departure leave are in the rosters.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from dbt_fixtures import truth_person_keys
from ingestion.generator import generate
from tests.runs import zhili_built


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    generate(out, residents=3000, days=40, seed=4)
    home = out / "home"
    zhili_built(out / "landing", home, timeout=2400)
    con = duckdb.connect(str(home / "serving" / "zhili.duckdb"), read_only=True)
    yield out / "truth", home, con
    con.close()


def _ledger(home: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(p) for p in (home / "ledger").glob("*.parquet")], how="diagonal_relaxed")


def test_every_visit_and_roster_file_is_loaded_and_balanced(built):
    truth, home, _ = built
    ledger = _ledger(home).filter(pl.col("feed") == "grid_visits")
    loaded = ledger.filter(pl.col("status") == "loaded")
    assert loaded.filter(pl.col("file").str.starts_with("ZF_")).height == 40
    assert loaded.filter(pl.col("file").str.starts_with("WGY_")).height == 2
    assert loaded["is_balanced"].all()
    visits = pl.read_parquet(truth / "visits.parquet")
    assert int(loaded.filter(pl.col("file").str.starts_with("ZF_"))["rows_normalised"].sum()) == visits.height


def test_every_visited_person_is_in_person_source_links(built):
    truth, _, con = built
    links = con.execute(
        "select count(*), count(distinct source_key) from marts.person_source_links where feed = 'grid_visits'"
    ).fetchall()[0]
    visits = pl.read_parquet(truth / "visits.parquet")
    assert links == (visits.height, visits["visit_id"].n_unique())


def test_visit_flags_equal_the_truth(built):
    truth_dir, _, con = built
    truth = pl.read_parquet(truth_dir / "visits.parquet")
    mart = con.sql(
        "select visit_id, is_desk_typed as m_desk, is_repeat_submission as m_repeat, "
        "is_person_gone as m_gone, is_home_visit as m_home, has_problem as m_problem, "
        "is_problem_without_event as m_no_event from marts.fct_visit"
    ).pl()
    both = truth.join(mart, on="visit_id", how="inner")
    assert both.height == truth.height
    # the phone's position decides: exact, except a visited address that cannot be placed (no point to
    # measure from): at most 5 % of the truth's desk-typed visits, and never a visit on the spot
    desk_truth = both.filter(pl.col("is_desk_typed"))
    assert desk_truth["m_desk"].sum() >= 0.95 * desk_truth.height, desk_truth.height
    assert both.filter(~pl.col("is_desk_typed") & pl.col("m_desk")).height == 0
    # a second submission of the same visit within minutes: found by worker, person and time; a resident with
    # no usable ID is matched by masked name and address, so a namesake in the same building may pass
    doubles = both.filter(pl.col("is_double_submission"))
    assert doubles["m_repeat"].sum() >= 0.95 * doubles.height
    assert both.filter(~pl.col("is_double_submission") & pl.col("m_repeat")).height <= max(1, 0.002 * both.height)
    assert (both["mode"] == "入户").eq(both["m_home"]).all()
    assert both["has_problem"].eq(both["m_problem"]).all()
    assert both["is_problem_without_event"].eq(both["m_no_event"]).all()
    # a visit to someone who had left: the register's departure date, by the resolved person
    gone = both.filter(pl.col("is_person_gone"))
    assert gone["m_gone"].sum() >= 0.9 * gone.height, gone.height
    assert both.filter(~pl.col("is_person_gone") & pl.col("m_gone")).height == 0


def test_visit_indicators_equal_the_truth(built):
    truth_dir, _, con = built
    truth = pl.read_parquet(truth_dir / "visits.parquet").filter(
        ~pl.col("is_double_submission") & ~pl.col("is_desk_typed") & ~pl.col("is_person_gone")
    )
    got = dict(
        con.execute(
            "select indicator_code, value from marts.mart_indicators where level = 'county' and period_grain = 'month' "
            "and period_start_date = date '2024-11-01' and source = 'grid_visits' and category = 'all' "
            "and indicator_code in ('home_visit_share', 'problems_per_100_visits')"
        ).fetchall()
    )
    nov = truth.filter(pl.col("visit_date") < pl.date(2024, 12, 1))
    want_home = (nov["mode"] == "入户").mean()
    want_problems = 100 * nov["has_problem"].mean()
    # the flags above are exact but for a few unplaceable addresses and unlinked persons: within 1 point
    assert abs(got["home_visit_share"] - want_home) <= 0.01, (got, want_home)
    assert abs(got["problems_per_100_visits"] - want_problems) <= 1.0, (got, want_problems)


def test_grid_without_a_worker_for_more_than_a_week_is_an_alert(built):
    truth_dir, _, con = built
    vacancies = pl.read_parquet(truth_dir / "grid_vacancies.parquet")
    # a mid-month move (gap 10-20 days) always; a departure (gap 3 days, no alert) where a third grid is staffed
    assert vacancies.filter(pl.col("cause") == "调岗").height == 1
    alerts = con.sql(
        "select grid_code, metric_value, raised_at from marts.mart_alerts where rule = 'grid_unstaffed'"
    ).pl()
    staffing = con.sql("select grid_code, vacant_from, vacant_to, vacant_days from marts.mart_grid_staffing").pl()
    for v in vacancies.iter_rows(named=True):
        spell = staffing.filter((pl.col("grid_code") == v["grid_code"]) & (pl.col("vacant_from") == v["vacant_from"]))
        assert spell.height == 1, (v, staffing)
        assert spell["vacant_to"][0] == v["vacant_to"], (v, spell)
        fired = alerts.filter(pl.col("grid_code") == v["grid_code"])
        days = (v["vacant_to"] - v["vacant_from"]).days
        assert fired.height == (1 if days > 7 else 0), (v, fired)
    # every other alert is a grid the registry staffs with nobody (grid_registry: 网格员 empty)
    workers = pl.read_parquet(truth_dir / "grid_workers.parquet").filter(pl.col("post") == "专职网格员")
    staffed = set(workers["grid_code"])
    others = alerts.filter(~pl.col("grid_code").is_in(vacancies["grid_code"].implode()))
    assert set(others["grid_code"]).isdisjoint(staffed), others


def test_desk_typed_visits_are_alerts_with_evidence(built):
    _, _, con = built
    n_visits = con.execute(
        "select count(*) from marts.fct_visit where is_desk_typed and not is_repeat_submission"
    ).fetchall()[0][0]
    n_alerts = con.execute("select count(*) from marts.mart_alerts where rule = 'visit_desk_typed'").fetchall()[0][0]
    n_evidence = con.execute(
        "select count(*) from marts.mart_visit_alert_evidence where rule = 'visit_desk_typed'"
    ).fetchall()[0][0]
    assert n_visits > 0 and n_alerts == n_visits == n_evidence


def test_workers_are_staff_not_persons(built):
    _, home, con = built
    assert con.execute("select count(*) from marts.person_source_links where file like 'WGY_%'").fetchall()[0][0] == 0
    masked = con.sql("select worker_name_masked, worker_phone_masked from marts.dim_grid_worker").pl()
    assert masked.height > 0 and masked["worker_phone_masked"].str.contains(r"\*").all()


def test_a_worker_moving_grid_mid_month_is_followed_in_the_roster(built):
    truth_dir, _, con = built
    moves = pl.read_parquet(truth_dir / "grid_workers.parquet").filter(pl.col("moved_on").is_not_null())
    assert moves.height == 1
    move = moves.row(0, named=True)
    month = move["moved_on"].replace(day=1)
    row = con.execute(
        "select grid_code, moved_date from marts.dim_grid_worker where worker_id = ? and roster_month = ?",
        [move["worker_id"], month],
    ).fetchall()
    assert row == [(move["grid_code"], move["moved_on"])]


def test_care_visits_take_the_last_countable_visit_from_the_log(built):
    truth_dir, _, con = built
    # who a truth person is in the warehouse: the person_key linkage gave their register records
    records = pl.read_parquet(truth_dir / "person_records.parquet").filter(pl.col("feed") == "police_population")
    links = con.sql(
        "select file, record_no, person_key from marts.person_source_links "
        "where feed = 'police_population' and person_key is not null"
    ).pl()
    keys = records.join(links, on=["file", "record_no"]).group_by("person_id").agg(pl.col("person_key").mode().first())
    as_of = con.execute("select max(as_of_date) from marts.mart_care_visits").fetchall()[0][0]
    visits = pl.read_parquet(truth_dir / "visits.parquet").filter(
        ~pl.col("is_double_submission")
        & ~pl.col("is_desk_typed")
        & ~pl.col("is_person_gone")
        & (pl.col("visit_date") <= as_of)
    )
    want = visits.join(keys, on="person_id").group_by("person_key").agg(pl.col("visit_date").max().alias("want"))
    care = con.sql("select person_key, logged_visit_date from marts.mart_care_visits").pl()
    both = care.join(want, on="person_key", how="left")
    wrong = both.filter(~pl.col("logged_visit_date").eq_missing(pl.col("want")))
    assert both["want"].count() > 0
    # a visit whose resident has no usable ID reaches its person only through linkage: at most 2 % differ
    assert wrong.height <= 0.02 * both["want"].count(), wrong


def test_worker_month_scorecard_equals_the_truth(built):
    truth_dir, _, con = built
    truth = pl.read_parquet(truth_dir / "visits.parquet").with_columns(
        month_date=pl.col("visit_date").dt.truncate("1mo")
    )
    want = truth.group_by("worker_id", "month_date").agg(
        pl.len().alias("submitted"),
        (~pl.col("is_double_submission") & ~pl.col("is_desk_typed") & ~pl.col("is_person_gone"))
        .sum()
        .alias("countable"),
        pl.col("is_desk_typed").sum().alias("desk"),
    )
    got = con.sql(
        "select worker_id, month_date, visits_submitted, visits_countable, desk_typed_visits, post "
        "from marts.mart_worker_scorecard where visits_submitted > 0"
    ).pl()
    both = want.join(got, on=["worker_id", "month_date"], how="full", coalesce=True)
    assert both.height == want.height
    assert (both["submitted"] == both["visits_submitted"]).all()
    assert (both["countable"] == both["visits_countable"]).all()
    assert (both["desk"] == both["desk_typed_visits"]).all()
    # a month's roster arrives in the next month's first days: November's rows have their post, December's not yet
    assert both.filter(pl.col("month_date") == pl.date(2024, 11, 1))["post"].null_count() == 0


def _countable(truth_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(truth_dir / "visits.parquet").filter(
        ~pl.col("is_double_submission") & ~pl.col("is_desk_typed") & ~pl.col("is_person_gone")
    )


def test_cadence_periods_met_or_missed_equal_the_truth(built):
    truth_dir, _, con = built
    keys = truth_person_keys(truth_dir, con)
    visits = _countable(truth_dir).join(keys, on="person_id").select("person_key", "visit_date")
    cadence = con.sql(
        "select person_key, care_tier, period_unit, period_start, due_date, cadence_status "
        "from marts.mart_visit_cadence where cadence_status <> 'open'"
    ).pl()
    assert set(cadence["period_unit"]) >= {"week", "month"}, cadence["period_unit"].unique()
    # weeks are ISO weeks, months calendar months: the period's first day is one
    weeks = cadence.filter(pl.col("period_unit") == "week")
    assert (weeks["period_start"].dt.weekday() == 1).all()
    assert ((weeks["due_date"] - weeks["period_start"]).dt.total_days() == 6).all()
    months = cadence.filter(pl.col("period_unit") == "month")
    assert (months["period_start"].dt.day() == 1).all()
    met = (
        cadence.join(visits, on="person_key", how="left")
        .filter(pl.col("visit_date").is_between(pl.col("period_start"), pl.col("due_date")))
        .select("person_key", "period_start")
        .unique()
        .with_columns(want=pl.lit("met"))
    )
    both = cadence.join(met, on=["person_key", "period_start"], how="left").with_columns(
        pl.col("want").fill_null("missed")
    )
    assert both.filter(pl.col("want") == "met").height > 0 and both.filter(pl.col("want") == "missed").height > 0
    wrong = both.filter(pl.col("want") != pl.col("cadence_status"))
    # a visit whose resident has no usable ID reaches its person only through linkage: at most 2 % differ
    assert wrong.height <= 0.02 * both.height, wrong


def test_every_neglected_care_person_is_overdue(built):
    """Recall 100 % on the tiers this 40-day log judges (test_visit_cadence_tiers has the quarterly one): a
    high-risk (weekly: 80+ living alone) or key (monthly: a disability of grade 1-2) person whose visits stopped
    misses every period of their tier wholly after the stop, and is a visit_overdue alert under that tier."""
    truth_dir, _, con = built
    keys = truth_person_keys(truth_dir, con)
    neglected = (
        pl.read_parquet(truth_dir / "visit_cadence.parquet")
        .filter(pl.col("neglected_from").is_not_null())
        .join(keys, on="person_id")
    )
    cadence = con.sql(
        "select person_key, period_start, due_date, cadence_status, care_tier from marts.mart_visit_cadence"
    ).pl()
    alerts = con.sql("select person_key, category from marts.mart_alerts where rule = 'visit_overdue'").pl()
    as_of = con.execute("select max(as_of_date) from marts.mart_visit_cadence").fetchall()[0][0]
    periods = neglected.join(cadence, on="person_key").filter(
        (pl.col("period_start") >= pl.col("neglected_from")) & (pl.col("due_date") <= as_of)
    )
    tiers = set(periods.filter(pl.col("cadence_days") == 7)["care_tier"]) | set(
        periods.filter(pl.col("cadence_days") == 30)["care_tier"]
    )
    assert {"high_risk", "key"} <= tiers, "a neglected weekly and monthly person each need a whole period"
    assert periods.filter(pl.col("cadence_status") != "missed").height == 0, periods
    overdue = periods.select("person_key", "care_tier").unique()
    missing = overdue.join(alerts, left_on=["person_key", "care_tier"], right_on=["person_key", "category"], how="anti")
    assert missing.height == 0, missing


def test_scorecard_counts_cadence_due_to_the_worker_serving_that_day(built):
    """Visits due by cadence are owed by the 专职网格员 serving the person's grid on the period's last day (the
    truth's roster): the worker who moves grid mid-month owes the old grid's periods before the move and the new
    grid's after it."""
    truth_dir, _, con = built
    workers = pl.read_parquet(truth_dir / "grid_workers.parquet").filter(pl.col("post") == "专职网格员")
    cadence = con.sql(
        "select person_key, grid_code, worker_id, due_date, cadence_status from marts.mart_visit_cadence "
        "where cadence_status <> 'open'"
    ).pl()
    owed = (
        cadence.join(
            workers.select("grid_code", "served_from", "served_to", pl.col("worker_id").alias("w")), on="grid_code"
        )
        .filter(
            (pl.col("served_from") <= pl.col("due_date"))
            & (pl.col("served_to").is_null() | (pl.col("served_to") > pl.col("due_date")))
        )
        .select("person_key", "grid_code", "due_date", "cadence_status", "w")
    )
    # the cadence row names one of the workers serving that day (the truth's roster)
    named = cadence.join(owed, on=["person_key", "due_date"], how="left").filter(
        pl.col("worker_id").eq_missing(pl.col("w"))
    )
    assert named.select("person_key", "due_date").n_unique() == cadence.height
    mover = workers.filter(pl.col("moved_on").is_not_null()).row(0, named=True)
    before = workers.filter((pl.col("worker_id") == mover["worker_id"]) & pl.col("moved_on").is_null()).row(
        0, named=True
    )
    theirs = owed.filter(pl.col("w") == mover["worker_id"])
    assert theirs.height > 0
    assert set(theirs.filter(pl.col("due_date") < mover["moved_on"])["grid_code"]) <= {before["grid_code"]}
    assert set(theirs.filter(pl.col("due_date") >= mover["moved_on"])["grid_code"]) <= {mover["grid_code"]}
    # the scorecard: per worker and month, the periods they owed and those met, the mover's in both grids
    want = owed.group_by("w", pl.col("due_date").dt.truncate("1mo").alias("month_date")).agg(
        pl.len().alias("due"), (pl.col("cadence_status") == "met").sum().alias("done")
    )
    card = con.sql(
        "select worker_id as w, month_date, cadence_visits_due, cadence_visits_done from marts.mart_worker_scorecard "
        "where cadence_visits_due > 0"
    ).pl()
    both = want.join(card, on=["w", "month_date"], how="full", coalesce=True)
    assert both.height == want.height, both
    assert (both["due"] == both["cadence_visits_due"]).all() and (both["done"] == both["cadence_visits_done"]).all()


def test_visit_overdue_false_alarms_are_under_1_per_1000_grid_days(built):
    """A false alarm: a visit_overdue alert for a person the truth's log visited (countably) in a period the
    alert counts as missed. Per 1,000 grid-days of the visit log (grids active in the registry x days)."""
    truth_dir, _, con = built
    keys = truth_person_keys(truth_dir, con)
    visits = _countable(truth_dir).join(keys, on="person_id").select("person_key", "visit_date")
    missed = con.sql(
        "select alerts.person_key, cadence.period_start, cadence.due_date from marts.mart_alerts as alerts "
        "inner join marts.mart_visit_cadence as cadence on alerts.person_key = cadence.person_key "
        "where alerts.rule = 'visit_overdue' and cadence.cadence_status = 'missed' "
        "and cadence.due_date >= cast(alerts.raised_at as date) - 1"
    ).pl()
    n_alerts = con.execute("select count(*) from marts.mart_alerts where rule = 'visit_overdue'").fetchall()[0][0]
    assert missed.select("person_key").n_unique() == n_alerts  # every alert stands on missed periods
    false = (
        missed.join(visits, on="person_key")
        .filter(pl.col("visit_date").is_between(pl.col("period_start"), pl.col("due_date")))
        .select("person_key")
        .n_unique()
    )
    grid_days = con.execute(
        "select count(distinct grid_code) * (select count(distinct visited_date) from marts.fct_visit) "
        "from marts.dim_grid"
    ).fetchall()[0][0]
    assert grid_days > 0
    print(f"visit_overdue: {n_alerts} alerts, {false} false, {grid_days} grid-days")
    assert 1000 * false / grid_days < 1.0, (false, grid_days)
