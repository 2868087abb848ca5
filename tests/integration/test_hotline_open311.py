"""An Open311 GeoReport v2 export of 12345 orders, written here from the generator's truth, loads into the
same marts as the GD files, with what the format lacks (steps, follow-up, satisfaction, the caller) left
empty (hotline_orders.md, "Also accepted: Open311 GeoReport v2")."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from dbt_fixtures import china_naive, hotline_warehouse
from ingestion.generator import generate

RESIDENTS, DAYS, SEED = 2000, 10, 9
START = dt.date(2024, 11, 1)
LAST = START + dt.timedelta(days=DAYS - 1)


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%S+08:00")


def _export(out: Path) -> list[dict]:
    """One GeoReport v2 service request per true order, as a vendor platform would export it."""
    truth = pl.read_parquet(out / "truth" / "hotline_orders.parquet")
    points = pl.read_parquet(out / "truth" / "address_points.parquet")
    # an address point of the order's true grid (the grid it lay in that day: before or after a reorganisation)
    first_point = {}
    for row in points.iter_rows(named=True):
        for grid in (row["grid_before"], row["grid_after"]):
            first_point.setdefault((grid, grid == row["grid_before"]), row)
    elements = []
    for o in truth.iter_rows(named=True):
        point = first_point.get((o["grid_code"], True)) or first_point.get((o["grid_code"], False))
        closed = o["closed_at"] is not None and not o["is_cancelled"]
        elements.append(
            {
                "service_request_id": o["order_id"],
                "status": "closed" if closed or o["is_cancelled"] else "open",
                "status_notes": "已撤销" if o["is_cancelled"] else ("已办结" if closed else ""),
                "service_name": o["category"],
                "service_code": o["category"].split("/")[0],
                "description": "市民反映的问题",
                "agency_responsible": o["final_unit"] or o["first_unit"],
                "requested_datetime": _iso(o["called_at"]),
                "updated_datetime": _iso(o["closed_at"] if closed else o["called_at"] + dt.timedelta(hours=1)),
                "expected_datetime": _iso(o["due_at"]),
                "address": point["std_address"],
                "lat": point["lat"],
                "long": point["lon"],
            }
        )
    return elements


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out, home = tmp_path_factory.mktemp("gen"), tmp_path_factory.mktemp("home")
    generate(out, residents=RESIDENTS, days=DAYS, seed=SEED, start=START, patterns=False)
    elements = _export(out)
    feed = out / "landing" / "hotline_orders"
    shutil.rmtree(feed)
    folder = feed / (LAST + dt.timedelta(days=1)).isoformat()
    folder.mkdir(parents=True)
    data = json.dumps(elements, ensure_ascii=False, indent=1).encode("utf-8")
    name = f"open311_{LAST:%Y%m%d}.json"
    (folder / name).write_bytes(data)
    (folder / f"{name}.ok").write_text(f"rows={len(elements)}\nmd5={hashlib.md5(data).hexdigest()}\n")
    outcomes, con = hotline_warehouse(
        out / "landing", home, LAST, "path:models/marts/hotline path:models/intermediate/hotline"
    )
    yield out, outcomes, con, len(elements)
    con.close()


def test_the_export_is_loaded_whole_and_the_ledger_balances(built):
    _, outcomes, _, n = built
    [loaded] = [o for o in outcomes if o.feed == "hotline_orders"]
    assert (loaded.status, loaded.table_name, loaded.records_read, loaded.rows_normalised, loaded.is_balanced) == (
        "loaded",
        "hotline_orders",
        n,
        n,
        True,
    )


def test_every_request_is_an_order_and_an_incident_with_what_it_lacks_left_empty(built):
    out, _, con, n = built
    truth = pl.read_parquet(out / "truth" / "hotline_orders.parquet")
    got = con.sql("select * from marts.fct_hotline_order").pl()
    assert got.height == n and set(got["order_id"]) == set(truth["order_id"])
    assert (got["source_format"] == "open311").all() and not got["has_steps"].any() and (got["step_count"] == 0).all()
    empty = got.select(
        "caller_person_key",
        "followed_up_at",
        "followup_result",
        "satisfaction",
        "first_dispatched_at",
        "first_signed_at",
        "request_type",
    )
    assert all(c == n for c in empty.null_count().row(0))
    incidents = con.sql("select source_id from marts.fct_incident where source_feed = 'hotline_orders'").pl()
    assert set(incidents["source_id"]) == set(truth["order_id"])


def test_close_deadline_and_cancellation_are_the_truths(built):
    out, _, con, _ = built
    truth = pl.read_parquet(out / "truth" / "hotline_orders.parquet")
    got = con.sql(
        "select order_id, closed_at, due_at, is_cancelled, is_closed_on_time, status, grid_code "
        "from marts.fct_hotline_order"
    ).pl()
    j = truth.join(got.with_columns(china_naive("closed_at"), china_naive("due_at")), on="order_id", suffix="_wh")
    assert j.filter(pl.col("is_cancelled") != pl.col("is_cancelled_wh")).height == 0
    live = j.filter(~pl.col("is_cancelled"))
    assert live.filter(~pl.col("closed_at").eq_missing(pl.col("closed_at_wh"))).height == 0
    assert live.filter(~pl.col("due_at").eq_missing(pl.col("due_at_wh"))).height == 0
    assert live.filter(~pl.col("is_on_time").eq_missing(pl.col("is_closed_on_time"))).height == 0
    assert set(j.filter(pl.col("is_cancelled"))["status"]) <= {"已撤销"}
    # placed by the address point the export names, in the order's true grid
    assert j.filter(pl.col("grid_code") != pl.col("grid_code_wh")).height <= 0.02 * j.height
