"""What an empty required value that is neither the key nor the dating time does downstream of the row.

The property itself (such a row is never quarantined, its value stays null) is in
test_normalise_properties.py; here: the registry refuses to quarantine on anything else,
a grid event without its reported grid is placed by its other methods, and a register
snapshot's address points without grid or standard address do not break the index.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from ingestion.feeds import table_for_file
from ingestion.normalise import Context, _required, normalise
from ingestion.placement import GridIndex

KEY = b"k" * 32
G1, G2 = "520602001001001", "520602001001002"


def _raw(feed: str, file: str, rows: list[dict]) -> pl.DataFrame:
    names = sorted({k for r in rows for k in r})
    return pl.DataFrame(
        [
            {"feed": feed, "file": file, "file_md5": "0" * 32, "sheet": "", "record_no": i, "member_no": 1, **r}
            for i, r in enumerate(rows, 1)
        ],
        schema={
            "feed": pl.String,
            "file": pl.String,
            "file_md5": pl.String,
            "sheet": pl.String,
            "record_no": pl.Int64,
            "member_no": pl.Int32,
            **{n: pl.String for n in names},
        },
    )


def _normalised(feed: str, file: str, rows: list[dict], ctx: Context):
    return normalise(_raw(feed, file, rows), table_for_file(feed, file), ctx)


@pytest.mark.parametrize("field", ["category", "outcome", "feedback_at"])
def test_required_refuses_a_value_that_is_neither_key_nor_dating_time(field):
    spec = table_for_file("police_incidents", "JQ_20241102.csv")
    with pytest.raises(ValueError, match=rf"\['{field}'\] are neither the record's key nor the time that dates it"):
        _required(pl.DataFrame(), spec, ["incident_id", field])
    assert list(_required(pl.DataFrame(), spec)) == [
        "missing_required_field:incident_id",
        "missing_required_field:received_at",
    ]


@pytest.fixture(scope="module")
def index() -> GridIndex:
    ctx = Context(key=KEY, data_date=date(2024, 11, 1))
    grid = {
        "grid_code": G1,
        "grid_name": "锦江社区第1网格",
        "community_code": "520602001001",
        "street_code": "520602001",
        "county_code": "520602",
        "valid_from": "2020-01-01",
    }
    units = _normalised("grid_registry", "grid_units.csv", [grid, {**grid, "grid_code": G2, "grid_name": ""}], ctx)
    points = _normalised(
        "grid_registry",
        "address_points.csv",
        [
            {
                "address_code": "A1",
                "standard_address": "贵州省铜仁市碧江区环北街道锦江社区滨江路88号",
                "road": "滨江路",
                "house_number": "88号",
                "grid_code": G2,
                "lon": "109.005",
                "lat": "27.705",
            },
            # kept now: a point without its grid or its standard address places nothing, and breaks nothing
            {
                "address_code": "A2",
                "standard_address": "贵州省铜仁市碧江区环北街道锦江社区滨江路90号",
                "road": "滨江路",
                "house_number": "90号",
                "grid_code": "",
                "lon": "109.015",
                "lat": "27.705",
            },
            {"address_code": "A3", "standard_address": "", "grid_code": G1},
        ],
        ctx,
    )
    assert units.quarantine.height == 0 and points.quarantine.height == 0
    assert units.frame["grid_name"].to_list() == ["锦江社区第1网格", None]
    return GridIndex.from_frames(units.frame, points.frame, None, prefixes=["贵州省", "铜仁市", "碧江区"])


def test_a_grid_event_without_its_reported_grid_is_placed_by_its_address(index):
    ctx = Context(key=KEY, data_date=date(2024, 11, 2), grid_index=index)
    event = {
        "event_id": "SJ52060200100100120241102001",
        "reported_at": "2024-11-02 08:00:00",
        "category": "环境卫生",
        "status": "已上报",
        "status_at": "2024-11-02 08:00:00",
        "grid_code_reported": G1,
        "address": "环北街道锦江社区滨江路88号",
    }
    got = _normalised(
        "grid_events",
        "SB_20241102.csv",
        [
            event,
            {
                **event,
                "event_id": "SJ52060200100100120241102002",
                "grid_code_reported": "",
                "category": "",
                "status": "",
                "status_at": "",
            },
            {**event, "event_id": "SJ52060200100100120241102003", "grid_code_reported": None, "address": "滨江路90号"},
        ],
        ctx,
    )
    assert got.quarantine.height == 0
    out = (
        got.frame.sort("record_no")
        .select("grid_code_reported", "category", "status", "status_at", "grid_code", "placement_method")
        .rows()
    )
    assert out[0][4:] == (G1, "grid_code_reported")
    assert out[1] == (None, None, None, None, G2, "address_point")
    # the only point at 滨江路90号 has no grid: the event is not placed in a grid by it
    assert out[2][4] is None and out[2][5] != "grid_code_reported"
