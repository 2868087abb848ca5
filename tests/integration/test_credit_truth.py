"""credit_points (积分制) on a generated landing against the generator's truth.

2,000 residents x 40 days from 2024-11-01: the November workbook (delivered 2024-12-03) and a partial
December one on the period's last day, so the item list is revised between them (JF002 worth 3 then 5,
JF005 retired in December, JF011 added) and November's corrections come back in December's workbook.
The grid registry, the register and the points ledger are loaded through the planner (as ``zhili run``
does), the warehouse is built as of the last data day, and:

* the ledger balances for every points workbook and every row delivered is normalised; every person
  named (head and member) is in person_source_links;
* each entry's item version in force equals the truth's (across the revision), and household and person
  balances, 红榜/黑榜 ranks, stars and the participation numerator equal their values from the truth;
* every injected anomaly raises its alert (recall 100 %) and the ledger-to-register household join is
  reported with its reasons;
* a landing without injected patterns raises no credit alert.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dbt_fixtures import PROJECT, run_dbt
from ingestion.generator import generate
from ingestion.generator.truth import household_members, register_rows_linked
from ingestion.pseudonym import load_or_create_key, person_key
from ingestion.zones import Zones

RESIDENTS, DAYS, SEED = 2000, 40, 6
START = dt.date(2024, 11, 1)
AS_OF = START + dt.timedelta(days=DAYS - 1)
FEEDS = ("grid_registry", "police_population", "credit_points")
TESTED = "path:models/marts/credit path:models/staging/credit"


def _build(out: Path, home: Path, *, patterns: bool, residents: int = RESIDENTS, tested: str | None = TESTED):
    from ingestion.planner import ingest_landing

    generate(out, residents=residents, days=DAYS, seed=SEED, start=START, patterns=patterns)
    zones = Zones(home)
    key = load_or_create_key(zones.secret_file)
    outcomes = ingest_landing(out / "landing", zones, key=key, feeds=FEEDS)
    dbt_vars = f"{{as_of_date: '{AS_OF.isoformat()}'}}"
    steps = [("seed",), ("run",)] + ([("test", "--select", tested)] if tested else [])
    for args in steps:
        proc = run_dbt(home, *args, "--vars", dbt_vars)
        assert proc.returncode == 0, f"dbt {args[0]} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    return outcomes, con, key


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out, home = tmp_path_factory.mktemp("gen"), tmp_path_factory.mktemp("home")
    outcomes, con, key = _build(out, home, patterns=True)
    yield out / "truth", home, con, key, outcomes
    con.close()


def _household_key(key: bytes) -> pl.Expr:
    return person_key(pl.concat_str(pl.lit("户编号:"), pl.col("household_no")), key).alias("community_household_key")


def _approved(truth: Path) -> pl.DataFrame:
    entries = pl.read_parquet(truth / "credit_entries.parquet")
    return entries.filter((pl.col("status") == "已审核") & (pl.col("occurred_date") <= AS_OF))


def test_every_workbook_is_loaded_balanced_and_every_person_linked(built):
    truth, home, con, _, _ = built
    ledger = pl.concat([pl.read_parquet(p) for p in (home / "ledger").glob("*.parquet")], how="diagonal_relaxed")
    books = ledger.filter((pl.col("feed") == "credit_points") & (pl.col("status") == "loaded"))
    assert sorted(books["file"]) == ["JF_202411.xlsx", "JF_202412.xlsx"]
    assert books["is_balanced"].all() and int(books["rows_quarantined"].sum()) == 0
    items = pl.read_parquet(truth / "credit_items.parquet")
    entries = pl.read_parquet(truth / "credit_entries.parquet")
    redemptions = pl.read_parquet(truth / "credit_redemptions.parquet")
    corrected = entries.filter(pl.col("corrected_in").is_not_null()).height
    assert corrected > 0, "no correction came back in the second workbook"
    assert int(books["rows_normalised"].sum()) == items.height + entries.height + corrected + redemptions.height
    records = pl.read_parquet(truth / "person_records.parquet").filter(pl.col("feed") == "credit_points")
    links = con.sql(
        "select file, sheet, record_no, member_no, role from marts.person_source_links where feed = 'credit_points'"
    ).pl()
    assert links.height == records.height
    assert links.join(records, on=["file", "sheet", "record_no", "member_no"], how="anti").height == 0
    assert set(links["role"]) == {"household_head", "credit_member"}


def test_the_item_in_force_on_the_deed_date_equals_the_truth_across_the_revision(built):
    truth, _, con, _, _ = built
    entries = pl.read_parquet(truth / "credit_entries.parquet").filter(~pl.col("outside_validity"))
    mart = con.sql("select entry_id, item_points, is_item_in_force from marts.fct_credit_entry").pl()
    both = entries.join(mart, on="entry_id", how="left")
    assert both["is_item_in_force"].all()
    assert both.filter(pl.col("item_points_right") != pl.col("item_points")).height == 0
    jf002 = both.filter(pl.col("item_code") == "JF002").group_by("month").agg(pl.col("item_points_right").unique())
    assert sorted(v for vs in jf002["item_points_right"] for v in vs) == [3, 5], "the revision was not crossed"


def test_household_balances_equal_the_truth(built):
    truth, _, con, key, _ = built
    # every household with an entry (approved or not) or a redemption has a row; only approved points count
    earned = (
        pl.read_parquet(truth / "credit_entries.parquet")
        .filter(pl.col("occurred_date") <= AS_OF)
        .group_by("household_no")
        .agg(pl.col("points").filter(pl.col("status") == "已审核").sum().alias("earned"))
    )
    redeemed = (
        pl.read_parquet(truth / "credit_redemptions.parquet")
        .filter(pl.col("redeemed_date") <= AS_OF)
        .group_by("household_no")
        .agg(pl.col("points").sum().alias("redeemed"))
    )
    want = (
        earned.join(redeemed, on="household_no", how="full", coalesce=True)
        .fill_null(0)
        .select(_household_key(key), (pl.col("earned") - pl.col("redeemed")).alias("balance"))
    )
    got = con.sql("select community_household_key, balance from marts.mart_credit_balance").pl()
    both = want.join(got, on="community_household_key", how="full", coalesce=True)
    assert both.height == want.height == got.height
    assert both.filter(pl.col("balance") != pl.col("balance_right")).height == 0
    assert got.filter(pl.col("balance") < 0).height > 0, "no redemption took a household below zero"


def test_person_balances_equal_the_truth_for_members_with_a_clean_id(built):
    truth, _, con, key, _ = built
    records = pl.read_parquet(truth / "person_records.parquet").filter(
        (pl.col("feed") == "credit_points") & (pl.col("member_no") == 2)
    )
    # a person whose ID was written wrongly on some entry is several keys (or none) in the warehouse
    faulty = records.filter(pl.col("id_fault") != "none")["person_id"].unique()
    persons = pl.read_parquet(truth / "persons.parquet").select("person_id", "id_number")
    want = (
        _approved(truth)
        .filter(pl.col("member_person_id").is_not_null() & ~pl.col("member_person_id").is_in(faulty.implode()))
        .group_by("member_person_id")
        .agg(pl.col("points").sum().alias("balance"))
        .join(persons, left_on="member_person_id", right_on="person_id")
        .select(person_key(pl.col("id_number"), key).alias("person_key"), "balance")
    )
    got = con.sql("select person_key, balance from marts.mart_credit_person_balance").pl()
    both = want.join(got, on="person_key", how="left")
    assert want.height > 50
    assert both.filter(pl.col("balance") != pl.col("balance_right")).height == 0


def _boards(truth: Path, key: bytes) -> pl.DataFrame:
    monthly = (
        _approved(truth)
        .with_columns(pl.col("occurred_date").dt.truncate("1mo").alias("month"))
        .group_by("community_code", "month", "household_no")
        .agg(
            pl.col("points").sum().alias("net"),
            pl.col("points").filter(pl.col("points") < 0).sum().alias("deducted"),
        )
    )
    ranked = monthly.with_columns(
        pl.col("net").rank("min", descending=True).over("community_code", "month").alias("red_rank"),
        pl.col("deducted").rank("min").over("community_code", "month").alias("black_rank"),
    )
    red = ranked.filter((pl.col("net") > 0) & (pl.col("red_rank") <= 10)).select(
        "community_code", "month", "household_no", pl.lit("red").alias("board"), pl.col("red_rank").alias("rank")
    )
    black = ranked.filter((pl.col("deducted") < 0) & (pl.col("black_rank") <= 10)).select(
        "community_code", "month", "household_no", pl.lit("black").alias("board"), pl.col("black_rank").alias("rank")
    )
    return pl.concat([red, black]).with_columns(_household_key(key), pl.col("rank").cast(pl.Int64)).drop("household_no")


def test_red_and_black_boards_equal_the_truth(built):
    truth, _, con, key, _ = built
    want = _boards(truth, key).sort(pl.all())
    got = (
        con.sql(
            "select community_code, month, board, board_rank as rank, community_household_key "
            "from marts.mart_credit_board"
        )
        .pl()
        .select(want.columns)
        .sort(pl.all())
    )
    assert want.filter(pl.col("board") == "black").height > 0
    assert got.equals(want)


def test_stars_equal_the_truth_by_the_seed_thresholds(built):
    truth, _, con, key, _ = built
    with open(PROJECT / "seeds" / "credit" / "credit_star_thresholds.csv", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: -int(r["stars"]))

    def stars(points: int, law: bool) -> int:
        for r in rows:
            if points >= int(r["min_annual_points"]) and not (r["requires_no_law_deduction"] == "true" and law):
                return int(r["stars"])
        return 0

    yearly = (
        _approved(truth)
        .group_by("household_no")
        .agg(
            pl.col("points").sum().alias("points"),
            ((pl.col("category") == "遵纪守法") & (pl.col("points") < 0)).any().alias("law"),
        )
        .with_columns(
            pl.struct("points", "law")
            .map_elements(lambda s: stars(s["points"], s["law"]), return_dtype=pl.Int64)
            .alias("stars"),
            _household_key(key),
        )
    )
    got = con.sql("select community_household_key, stars::bigint as got from marts.mart_credit_stars").pl()
    both = yearly.join(got, on="community_household_key", how="full", coalesce=True)
    assert both.height == yearly.height == got.height
    assert both.filter(pl.col("stars") != pl.col("got")).height == 0
    assert yearly["stars"].n_unique() >= 2


def test_participation_numerator_equals_the_truth_and_the_indicator_carries_it(built):
    truth, _, con, _, _ = built
    want = (
        _approved(truth)
        .filter(pl.col("points") > 0)
        .group_by("community_code")
        .agg(pl.col("household_no").n_unique().alias("want"))
    )
    got = con.sql(
        "select community_code, households_taking_part as got, register_households from "
        "marts.mart_credit_participation where quarter_start_date = date '2024-10-01'"
    ).pl()
    both = want.join(got, on="community_code", how="left")
    assert both.filter(pl.col("want") != pl.col("got")).height == 0
    indicator = con.sql(
        "select numerator, denominator from marts.mart_indicators where indicator_code = 'credit_participation_rate' "
        "and level = 'county' and period_grain = 'quarter' and period_start_date = date '2024-10-01'"
    ).fetchall()
    assert indicator and indicator[0][0] == want["want"].sum()
    assert indicator[0][1] == got["register_households"].sum()


def test_participation_crosses_a_household_split_in_the_ledger_and_in_the_register(built):
    """积分参与率 across a household split (分户), from the truth. The numerator: a ledger household that split goes
    on as two new 户编号, each a household of its own from the split (and the one it left counts for the deeds
    before it). The denominator: the register's current households per community, a split-off 户号 its own
    household and a moved one once (the truth's household_entity_no), placed by its head's community."""
    truth, home, con, key, _ = built
    parts = pl.read_parquet(truth / "credit_households.parquet").filter(pl.col("split_from").is_not_null())
    assert parts.height >= 2, "the seed no longer splits a ledger household"
    took = _approved(truth).filter((pl.col("points") > 0) & (pl.col("occurred_date") >= dt.date(2024, 10, 1)))
    crossed = took.join(parts, on="household_no", how="semi").select(_household_key(key)).unique()
    assert crossed.height > 0, "no part of a split household took part after the split"
    mart = con.sql(
        "select distinct community_household_key from marts.fct_credit_entry "
        "where is_approved and points > 0 and occurred_date >= date '2024-10-01'"
    ).pl()
    assert crossed.join(mart, on="community_household_key", how="anti").height == 0
    # the register: a split in the period, and the denominator counts the truth's current households
    register = pl.read_parquet(truth / "households.parquet")
    assert register.filter(pl.col("change") == "split").height >= 1, "the seed no longer splits a register household"
    members = household_members(truth).join(
        pl.read_parquet(truth / "persons.parquet").select("person_id", "community_code"), on="person_id"
    )
    heads = register.filter(pl.col("relation_to_head") == "户主").select(
        "person_id", "household_no", is_head=pl.lit(True)
    )
    # this fixture runs no linkage (a `zhili run` does): a household is placed in a grid through a member the
    # register names with a usable ID, so the truth's households are those with such a member
    links = (
        register_rows_linked(home, con)
        .filter(pl.col("person_key").is_not_null())
        .select("file", "record_no", is_keyed=pl.lit(True))
    )
    placed = (
        members.join(heads, on=["person_id", "household_no"], how="left")
        .join(links, on=["file", "record_no"], how="left")
        .with_columns(pl.col("is_head").fill_null(False), pl.col("is_keyed").fill_null(False))
        .filter(pl.col("is_keyed"))
    )
    want = (
        placed.sort("is_head", descending=True)
        .group_by("household_entity_no")
        .agg(pl.col("community_code").first())
        .group_by("community_code")
        .agg(pl.len().alias("want"))
    )
    got = con.sql(
        "select community_code, register_households as got from marts.mart_credit_participation "
        "where quarter_start_date = date '2024-10-01'"
    ).pl()
    both = want.join(got, on="community_code", how="full", coalesce=True).fill_null(0)
    off = int((both["want"] - both["got"]).abs().sum())
    print(
        f"participation denominator: {int(both['got'].sum())} register households, truth {int(both['want'].sum())}, off by {off}"
    )
    # the household file's members equal the truth within 0.5 % (test_households_truth): so do its households
    assert off <= 0.005 * both["want"].sum(), both.filter(pl.col("want") != pl.col("got"))


def test_every_injected_anomaly_raises_its_alert(built):
    truth, _, con, _, _ = built
    entries = pl.read_parquet(truth / "credit_entries.parquet")
    alerts = con.sql("select alert_key, rule from marts.mart_alerts where rule like 'credit_%'").pl()
    evidence = con.sql("select alert_key, rule, entry_id from marts.mart_credit_alert_evidence").pl()
    keys = set(alerts["alert_key"])
    for flag, rule in (
        ("is_duplicate", "credit_repeat_entry"),
        ("outside_validity", "credit_item_invalid"),
        ("person_gone", "credit_member_departed"),
    ):
        injected = entries.filter(pl.col(flag))["entry_id"].to_list()
        assert injected, f"no {flag} injected"
        missed = [e for e in injected if f"{rule}|{e}" not in keys]
        assert not missed, (rule, missed)
    over = entries.filter(pl.col("over_limit"))["entry_id"].to_list()
    assert over
    found = set(evidence.filter(pl.col("rule") == "credit_over_limit")["entry_id"])
    assert set(over) <= found
    # and nothing else: every alert rests on an injected anomaly
    flagged = entries.filter(
        pl.col("is_duplicate") | pl.col("outside_validity") | pl.col("person_gone") | pl.col("over_limit")
    )
    per_alert = evidence.join(flagged.select("entry_id"), on="entry_id", how="semi")["alert_key"].unique()
    assert set(alerts["alert_key"]) <= set(per_alert)


def test_the_ledger_households_are_joined_to_the_register_or_say_why(built):
    truth, _, con, key, _ = built
    match = con.sql(
        "select is_matched, match_method, unmatched_reason, count(*) as n from marts.mart_credit_household_match "
        "group by all"
    ).pl()
    named = pl.concat(
        [
            pl.read_parquet(truth / "credit_entries.parquet").select("household_no"),
            pl.read_parquet(truth / "credit_redemptions.parquet").select("household_no"),
        ]
    )
    assert int(match["n"].sum()) == named["household_no"].n_unique()
    assert match.filter(~pl.col("is_matched") & pl.col("unmatched_reason").is_null()).height == 0
    assert match.filter(pl.col("is_matched") & pl.col("match_method").is_null()).height == 0
    # seed 6 exports 户号 from the first week: most ledger households join, each to its true 户号 household
    truth_hh = (
        pl.read_parquet(truth / "credit_households.parquet")
        .join(
            pl.read_parquet(truth / "households.parquet").select("household_id", "household_no").unique(),
            on="household_id",
            suffix="_register",
        )
        .select(
            _household_key(key),
            person_key(pl.concat_str(pl.lit("户号:"), pl.col("household_no_register")), key).alias("want"),
        )
    )
    joined = con.sql(
        "select community_household_key, household_key from marts.mart_credit_household_match where is_matched"
    ).pl()
    both = joined.join(truth_hh, on="community_household_key", how="left")
    assert both.filter(pl.col("household_key") != pl.col("want")).height == 0
    assert joined.height >= 0.8 * named["household_no"].n_unique()


def test_the_household_file_carries_the_joined_ledger_households_points_and_the_reasons_add_up(built):
    """一户一档: a register household's file carries the balances (from the truth) of the ledger households joined
    to it, and their number; mart_credit_match_reasons counts every ledger household once, by how it joined or
    why it did not."""
    truth, _, con, key, _ = built
    reasons = con.sql(
        "select outcome, is_matched, ledger_households, share_of_ledger from marts.mart_credit_match_reasons"
    ).pl()
    match = con.sql(
        "select coalesce(match_method, unmatched_reason) as outcome, count(*) as n "
        "from marts.mart_credit_household_match group by all"
    ).pl()
    both = match.join(reasons, on="outcome", how="full", coalesce=True)
    assert (both["n"] == both["ledger_households"]).all(), both
    assert abs(reasons["share_of_ledger"].sum() - 1.0) < 1e-9
    print("ledger households joined / not:", reasons.sort("outcome").rows())
    entries = pl.read_parquet(truth / "credit_entries.parquet").filter(
        (pl.col("occurred_date") <= AS_OF) & (pl.col("status") == "已审核")
    )
    redemptions = pl.read_parquet(truth / "credit_redemptions.parquet").filter(pl.col("redeemed_date") <= AS_OF)
    balance = (
        pl.concat(
            [
                entries.select("household_no", "points"),
                redemptions.select("household_no", -pl.col("points").alias("points")),
            ]
        )
        .group_by("household_no")
        .agg(pl.col("points").sum().alias("balance"))
        .select(_household_key(key), "balance")
    )
    joined = con.sql(
        "select community_household_key, household_key from marts.mart_credit_household_match where is_matched"
    ).pl()
    want = (
        joined.join(balance, on="community_household_key", how="left")
        .group_by("household_key")
        .agg(pl.len().alias("want_n"), pl.col("balance").fill_null(0).sum().alias("want_balance"))
    )
    got = con.sql(
        "select distinct household_key, points_ledger_households, points_balance from marts.mart_household_file"
    ).pl()
    assert got["household_key"].n_unique() == got.height
    file = got.join(want, on="household_key", how="left")
    carried = file.filter(pl.col("want_n").is_not_null())
    assert carried.height > 0
    assert (carried["points_ledger_households"] == carried["want_n"]).all()
    assert (carried["points_balance"] == carried["want_balance"]).all(), carried.filter(
        pl.col("points_balance") != pl.col("want_balance")
    )
    none = file.filter(pl.col("want_n").is_null())
    assert (none["points_ledger_households"] == 0).all() and none["points_balance"].is_null().all()


def test_no_credit_alert_on_a_landing_without_injected_patterns(tmp_path_factory):
    out, home = tmp_path_factory.mktemp("clean"), tmp_path_factory.mktemp("clean-home")
    _, con, _ = _build(out, home, patterns=False, residents=800, tested=None)
    try:
        raised = con.sql("select rule, count(*) from marts.mart_alerts where rule like 'credit_%' group by 1").pl()
        assert raised.height == 0, raised
    finally:
        con.close()
