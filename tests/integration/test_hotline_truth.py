"""12345 hotline orders on a generated landing across the 2025 Spring Festival, against the generator's truth.

Generate 4,000 residents x 30 days from 2025-01-15 (the holiday 01-28..02-04, with Sunday 01-26 and
Saturday 02-08 worked), ingest the register, the grid registry and the hotline, run dbt, judge as of
the last data day (so "by the end of the as-of day" is the truth's period end), and check:

* every order and every step delivered is in a mart (fct_hotline_order, fct_hotline_step), and the
  ledger balances for every hotline file;
* the lifecycle replayed from the steps equals the truth order by order (first dispatch, close, the
  deadline in force, on time, working days to close, returns, re-dispatches, extensions granted and
  refused, re-openings, dispatches signed in their limit), and the landing holds the cases that matter:
  a deadline carried over the holiday, a return with re-dispatch, an approved extension, a re-opening;
* badly kept orders are flagged (every one), and no other order is;
* every 接诉即办 indicator in mart_indicators equals the value computed from the truth, by county x
  month (truth alone) and by community x month (the community the warehouse placed the order in: the
  placement itself is scored by the ingestion tests).

Documented exception: a badly kept order's delivered steps contradict its true history on purpose;
its indicator contributions are taken from the warehouse (which flags it) rather than from the truth.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from dbt_fixtures import china_naive, hotline_warehouse
from ingestion.generator import generate

RESIDENTS, DAYS, SEED = 4000, 30, 5
START = dt.date(2025, 1, 15)
END = dt.datetime.combine(START + dt.timedelta(days=DAYS), dt.time())  # the truth's period end
AS_OF = START + dt.timedelta(days=DAYS - 1)  # the last data day: its end is END
INDICATORS = (
    "hotline_orders_received",
    "hotline_response_rate",
    "hotline_resolution_rate",
    "hotline_satisfaction_rate",
    "hotline_on_time_rate",
    "hotline_return_rate",
    "hotline_reopen_rate",
    "hotline_direct_rate",
    "hotline_mean_working_days_to_close",
    "hotline_group_share",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out, home = tmp_path_factory.mktemp("gen"), tmp_path_factory.mktemp("home")
    generate(out, residents=RESIDENTS, days=DAYS, seed=SEED, start=START, patterns=False)
    outcomes, con = hotline_warehouse(
        out / "landing",
        home,
        AS_OF,
        "path:models/marts/hotline path:models/intermediate/hotline path:models/staging/hotline",
    )
    yield out, outcomes, con
    con.close()


def _truth(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "truth" / "hotline_orders.parquet")


def _orders(con) -> pl.DataFrame:
    return con.sql("select * from marts.fct_hotline_order").pl()


def test_every_order_and_step_is_in_a_mart_and_the_ledger_balances(built):
    out, outcomes, con = built
    hotline = [o for o in outcomes if o.feed == "hotline_orders"]
    assert hotline and all(o.is_balanced for o in hotline if o.status == "loaded")
    assert sum(o.rows_quarantined or 0 for o in hotline) == 0  # the generator writes no unreadable order
    assert set(_orders(con)["order_id"]) == set(_truth(out)["order_id"])
    steps = pl.read_parquet(out / "truth" / "hotline_steps.parquet")
    got = con.sql("select order_id, step_no, step, step_at from marts.fct_hotline_step").pl()
    assert got.height == steps.height
    pairs = got.with_columns(china_naive("step_at")).select("order_id", "step_no", "step", "step_at")
    assert pairs.sort(pl.all()).equals(steps.select("order_id", "step_no", "step", "step_at").sort(pl.all()))


def _joined(built) -> pl.DataFrame:
    out, _, con = built
    truth = _truth(out).filter(pl.col("badly_kept").is_null())
    return truth.join(_orders(con), on="order_id", how="inner", suffix="_wh")


@pytest.mark.parametrize(
    ("truth_col", "wh"),
    [
        ("first_dispatch_at", china_naive("first_dispatched_at")),
        ("closed_at", china_naive("closed_at_wh")),
        ("due_at", china_naive("due_at_wh")),
        ("is_on_time", pl.col("is_closed_on_time")),
        ("working_days_to_close", pl.col("working_days_to_close_wh")),
        ("returns", pl.col("return_count")),
        ("redispatches", pl.col("redispatch_count")),
        ("ext_granted", pl.col("extension_granted_count")),
        ("ext_refused", pl.col("extension_refused_count")),
        ("is_reopened", pl.col("is_reopened_wh")),
        ("dispatches", pl.col("dispatch_count")),
        ("dispatches_signed_in_limit", pl.col("dispatches_signed_in_limit_wh")),
        ("dispatches_due_to_sign", pl.col("dispatches_due_to_sign_wh")),
        ("first_unit", pl.col("first_unit_wh")),
    ],
)
def test_the_lifecycle_replayed_from_the_steps_equals_the_truth(built, truth_col, wh):
    j = _joined(built)
    bad = j.filter(~pl.col(truth_col).eq_missing(wh))
    assert bad.height == 0, bad.select("order_id", truth_col, wh.alias("warehouse")).head(5)


def test_the_landing_holds_the_cases_that_matter(built):
    j = _joined(built)
    holiday = j.filter(
        (pl.col("urgency") == "一般")
        & (pl.col("first_dispatch_at").dt.date() < dt.date(2025, 1, 28))
        & (pl.col("due_at").dt.date() > dt.date(2025, 2, 4))
    )
    assert holiday.height > 0, "no deadline carried over the Spring Festival"
    # the adjusted Sunday 01-26 counts: dispatched Friday 01-24 (一般) falls due Friday 02-07, not Monday 02-10
    fri = j.filter(
        (pl.col("first_dispatch_at").dt.date() == dt.date(2025, 1, 24))
        & (pl.col("urgency") == "一般")
        & (pl.col("ext_granted") == 0)
        & ~pl.col("is_reopened")
    )
    assert fri.height == 0 or (fri["due_at"].dt.date() == dt.date(2025, 2, 7)).all()
    assert j.filter((pl.col("returns") > 0) & (pl.col("redispatches") > 0)).height > 0
    assert j.filter(pl.col("ext_granted") > 0).height > 0
    assert j.filter(pl.col("is_reopened")).height > 0


def test_badly_kept_orders_are_flagged_and_no_other(built):
    out, _, con = built
    truth = _truth(out).select("order_id", pl.col("badly_kept").is_not_null().alias("bad"))
    got = _orders(con).select("order_id", "is_contradictory").join(truth, on="order_id")
    assert got.filter(pl.col("bad") != pl.col("is_contradictory")).height == 0


def test_deadline_alerts_are_exactly_the_truths_open_orders(built):
    out, _, con = built
    truth = _truth(out).filter(pl.col("badly_kept").is_null())
    open_ = truth.filter(pl.col("closed_at").is_null() & ~pl.col("is_cancelled"))
    want = {
        "hotline_unsigned": set(open_.filter(pl.col("is_awaiting_sign_past_limit"))["order_id"]),
        "hotline_overdue": set(open_.filter(pl.col("due_at") < END)["order_id"]),
        "hotline_due_soon": set(
            open_.filter((pl.col("due_at") >= END) & (pl.col("due_at") < END + dt.timedelta(days=1)))["order_id"]
        ),
    }
    got = (
        con.sql("""
        select alerts.rule, evidence.incident_key
        from marts.mart_alerts as alerts
        inner join marts.mart_alert_evidence as evidence on alerts.alert_key = evidence.alert_key
        where alerts.rule like 'hotline_%'
    """)
        .pl()
        .with_columns(pl.col("incident_key").str.replace("hotline_orders:", "").alias("order_id"))
    )
    bad = set(_truth(out).filter(pl.col("badly_kept").is_not_null())["order_id"])
    assert any(want.values()), "the landing holds no open order to warn about"
    for rule, orders in want.items():
        assert set(got.filter(pl.col("rule") == rule)["order_id"]) - bad == orders, rule


def _measures(df: pl.DataFrame) -> pl.DataFrame:
    """(order_id, indicator, num, den) from one row per order with the truth's column names."""
    closed = pl.col("closed_at").is_not_null() & ~pl.col("is_cancelled")
    due = (
        ~pl.col("is_cancelled")
        & pl.col("due_at").is_not_null()
        & (pl.col("closed_at").is_not_null() | (pl.col("due_at") < END))
    )
    parts = {
        "hotline_orders_received": (pl.lit(1), pl.lit(0), pl.lit(True)),
        "hotline_response_rate": (
            pl.col("dispatches_signed_in_limit"),
            pl.col("dispatches_due_to_sign"),
            pl.col("dispatches_due_to_sign") > 0,
        ),
        "hotline_resolution_rate": (
            (pl.col("followup_result") == "已解决").cast(pl.Int64),
            pl.lit(1),
            pl.col("followup_result").is_not_null(),
        ),
        "hotline_satisfaction_rate": (
            pl.col("satisfaction").is_in(["满意", "基本满意"]).cast(pl.Int64),
            pl.lit(1),
            pl.col("satisfaction").is_in(["满意", "基本满意", "不满意"]),
        ),
        "hotline_on_time_rate": (
            (pl.col("closed_at") <= pl.col("due_at")).fill_null(False).cast(pl.Int64),
            pl.lit(1),
            due,
        ),
        "hotline_return_rate": (
            (pl.col("returns") > 0).cast(pl.Int64),
            pl.lit(1),
            pl.col("first_dispatch_at").is_not_null(),
        ),
        "hotline_reopen_rate": (
            pl.col("is_reopened").cast(pl.Int64),
            pl.lit(1),
            pl.col("first_closed_at").is_not_null() & ~pl.col("is_cancelled"),
        ),
        "hotline_direct_rate": (
            ((pl.col("returns") == 0) & (pl.col("redispatches") == 0)).cast(pl.Int64),
            pl.lit(1),
            closed,
        ),
        "hotline_mean_working_days_to_close": (
            pl.col("working_days_to_close"),
            pl.lit(1),
            closed & pl.col("working_days_to_close").is_not_null(),
        ),
        "hotline_group_share": ((pl.col("channel") == "邻里牵手微信群").cast(pl.Int64), pl.lit(1), pl.lit(True)),
    }
    return pl.concat(
        [
            df.filter(keep).select(
                "order_id",
                pl.lit(code).alias("indicator"),
                num.cast(pl.Int64).alias("num"),
                den.cast(pl.Int64).alias("den"),
            )
            for code, (num, den, keep) in parts.items()
        ]
    )


def _warehouse_as_truth(orders: pl.DataFrame) -> pl.DataFrame:
    """A badly kept order's warehouse row under the truth's column names (its documented exception)."""
    return orders.select(
        "order_id",
        "channel",
        "followup_result",
        "satisfaction",
        "is_cancelled",
        "working_days_to_close",
        "dispatches_signed_in_limit",
        "dispatches_due_to_sign",
        "is_reopened",
        china_naive("closed_at"),
        china_naive("due_at"),
        china_naive("first_closed_at"),
        china_naive("first_dispatched_at").alias("first_dispatch_at"),
        pl.col("return_count").alias("returns"),
        pl.col("redispatch_count").alias("redispatches"),
    )


def _expected(built) -> pl.DataFrame:
    out, _, con = built
    truth = _truth(out)
    wh = _orders(con)
    bad = truth.filter(pl.col("badly_kept").is_not_null())["order_id"]
    cols = _warehouse_as_truth(wh.head(0)).columns
    rows = pl.concat(
        [
            truth.filter(~pl.col("order_id").is_in(bad.implode())).select(cols),
            _warehouse_as_truth(wh.filter(pl.col("order_id").is_in(bad.implode()))).select(cols),
        ],
        how="vertical_relaxed",
    )
    m = _measures(rows)
    where = truth.select("order_id", pl.col("called_at").dt.truncate("1mo").dt.date().alias("month")).join(
        # the order id carries the county code (GD + county + date + sequence)
        wh.select("order_id", "community_code", pl.col("order_id").str.slice(2, 6).alias("county_code")),
        on="order_id",
    )
    return m.join(where, on="order_id")


@pytest.mark.parametrize("level", ["county", "community"])
def test_every_hotline_indicator_equals_the_truth(built, level):
    _, _, con = built
    expected = (
        _expected(built)
        .filter(pl.col(f"{level}_code").is_not_null())
        .group_by("indicator", pl.col(f"{level}_code").alias("unit_code"), "month")
        .agg(pl.col("num").sum(), pl.col("den").sum())
    )
    got = con.sql(f"""
        select indicator_code as indicator, unit_code, period_start_date as month, numerator as num,
               coalesce(denominator, 0) as den
        from marts.mart_indicators
        where level = '{level}' and period_grain = 'month' and source = 'hotline_orders' and category = 'all'
            and indicator_code like 'hotline_%'
    """).pl()
    assert set(got["indicator"]) == set(INDICATORS)
    key = ["indicator", "unit_code", "month"]
    j = expected.join(got, on=key, how="full", coalesce=True, suffix="_wh").with_columns(
        pl.col("num", "den", "num_wh", "den_wh").fill_null(0)
    )
    j = j.filter((pl.col("num") > 0) | (pl.col("den") > 0) | (pl.col("num_wh") > 0) | (pl.col("den_wh") > 0))
    diff = j.filter((pl.col("num") != pl.col("num_wh")) | (pl.col("den") != pl.col("den_wh")))
    assert diff.height == 0, diff.sort(key).head(10)
