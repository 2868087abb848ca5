"""Placement by the grid valid on the event's date, when a register snapshot moves buildings between
grids that exist before and after (issue 19); and road names that recur in several streets.

Hand-built district, one community 锦江 (grids A, B) in 环北街道 and one community 河西 (grid C) in
白水镇; both streets have a 人民路 with a 1号:

    lat 27.71 +-------------------+--------+
              |  A       | P1 |   B        |     P1 at lon 109.015: in A until 2024-06-01, then in B
    lat 27.70 +----------+----+------------+     (the boundary moved from 109.02 to 109.01)
          lon 109.00   109.01  109.02    109.03
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from ingestion.placement import GridIndex

D = dt.date
SNAP1, SNAP2 = D(2024, 1, 1), D(2024, 6, 1)
S1, S2 = "520602001", "520602101"
C1, C2 = S1 + "001", S2 + "201"
A, B, C = C1 + "001", C1 + "002", C2 + "001"
PREFIXES = ["贵州省", "铜仁市", "碧江区"]
LOCAL = {C1: "环北街道锦江社区", C2: "白水镇河西村"}


def grid_units(day: dt.date, extra: list[tuple] = ()) -> pl.DataFrame:
    rows = [
        (A, "锦江社区第1网格", C1, "锦江社区", S1, "环北街道", D(2020, 1, 1), None, None),
        (B, "锦江社区第2网格", C1, "锦江社区", S1, "环北街道", D(2020, 1, 1), None, None),
        (C, "河西村第1网格", C2, "河西村", S2, "白水镇", D(2020, 1, 1), None, None),
        *extra,
    ]
    cols = [
        "grid_code",
        "grid_name",
        "community_code",
        "community_name",
        "street_code",
        "street_name",
        "valid_from",
        "valid_to",
        "merged_into",
    ]
    return pl.DataFrame(rows, schema=cols, orient="row").with_columns(
        pl.col("valid_from", "valid_to").cast(pl.Date), pl.col("merged_into").cast(pl.String), data_date=pl.lit(day)
    )


def points(day: dt.date, grid_of_p1: str, grid_of_p4: str = B) -> pl.DataFrame:
    rows = [
        ("P1", "滨江路", "8号", "1栋", grid_of_p1, 109.015, 27.705, C1),
        ("P2", "滨江路", "2号", None, A, 109.005, 27.705, C1),
        ("P3", "人民路", "1号", None, B, 109.025, 27.705, C1),
        ("P4", "滨江路", "10号", None, grid_of_p4, 109.026, 27.706, C1),
        ("P5", "人民路", "1号", None, C, 109.1, 27.8, C2),
    ]
    return pl.DataFrame(
        [
            {
                "address_code": a,
                "standard_address": f"贵州省铜仁市碧江区{LOCAL[c]}{r}{h}{b or ''}",
                "road": r,
                "house_number": h,
                "building": b,
                "grid_code": g,
                "lon": x,
                "lat": y,
            }
            for a, r, h, b, g, x, y, c in rows
        ]
    ).with_columns(data_date=pl.lit(day))


def rect(code: str, x0: float, x1: float, y0: float = 27.70, y1: float = 27.71) -> dict:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Feature", "properties": {"网格编码": code}, "geometry": {"type": "Polygon", "coordinates": [ring]}}


@pytest.fixture(scope="module")
def index() -> GridIndex:
    return GridIndex.from_snapshots(
        [
            (
                grid_units(SNAP1),
                points(SNAP1, A),
                [rect(A, 109.00, 109.02), rect(B, 109.02, 109.03), rect(C, 109.09, 109.11, 27.79, 27.81)],
            ),
            (
                grid_units(SNAP2),
                points(SNAP2, B),
                [rect(A, 109.00, 109.01), rect(B, 109.01, 109.03), rect(C, 109.09, 109.11, 27.79, 27.81)],
            ),
        ],
        prefixes=PREFIXES,
    )


def place(index: GridIndex, rows: list[dict]) -> pl.DataFrame:
    base = {"addr": None, "lon": None, "lat": None, "sq": None, "jd": None, "at": SNAP2}
    frame = pl.DataFrame(
        [{**base, **r} for r in rows],
        schema={
            "addr": pl.String,
            "lon": pl.Float64,
            "lat": pl.Float64,
            "sq": pl.String,
            "jd": pl.String,
            "at": pl.Date,
        },
    )
    return index.place(frame, address="addr", lon="lon", lat="lat", community="sq", street="jd", at="at")


@pytest.mark.parametrize(
    "day, grid",
    [
        (D(2023, 6, 1), A),  # before the first snapshot: its first assignment
        (D(2024, 3, 1), A),
        (SNAP2 - dt.timedelta(days=1), A),
        (SNAP2, B),  # validity [from, to): the reassignment holds from the snapshot's day
        (D(2024, 9, 1), B),
    ],
)
def test_a_reassigned_building_is_placed_by_the_grid_it_belonged_to_on_the_day(index, day, grid) -> None:
    out = place(
        index,
        [
            {"addr": "锦江社区滨江路8号1栋2单元301", "at": day},  # address point
            {"lon": 109.015, "lat": 27.705, "at": day},  # polygon of that day
        ],
    )
    assert out["placement_method"].to_list() == ["address_point", "coordinate_polygon"]
    assert out["grid_code"].to_list() == [grid, grid]


def test_current_views_follow_the_latest_assignment(index) -> None:
    out = index.place(
        pl.DataFrame({"addr": ["滨江路8号1栋", "滨江路2号"]}),
        address="addr",
        lon=None,
        lat=None,
        community=None,
        street=None,
        at=None,
    )
    assert out["grid_code"].to_list() == [B, A]
    hist = index.point_grids.filter(pl.col("address_code") == "P1").sort("snapshot")
    assert hist.select("grid_code", "assigned_from").rows() == [(A, None), (B, SNAP2)]


def test_a_late_snapshot_dates_a_move_by_the_new_grids_start() -> None:
    """A building moved into a grid that started on 2024-05-20, delivered in the 2024-06-01 snapshot."""
    new = (C1 + "003", "锦江社区第3网格", C1, "锦江社区", S1, "环北街道", D(2024, 5, 20), None, None)
    idx = GridIndex.from_snapshots(
        [(grid_units(SNAP1), points(SNAP1, A), None), (grid_units(SNAP2, [new]), points(SNAP2, A, new[0]), None)],
        prefixes=PREFIXES,
    )
    out = place(idx, [{"addr": "滨江路10号", "at": D(2024, 5, 19)}, {"addr": "滨江路10号", "at": D(2024, 5, 20)}])
    assert out["grid_code"].to_list() == [B, new[0]]


def test_a_reused_road_name_is_decided_by_the_street_or_community_the_record_names(index) -> None:
    out = place(
        index,
        [
            {"addr": "贵州省铜仁市碧江区环北街道锦江社区人民路1号"},  # street and community: P3
            {"addr": "白水镇人民路1号3单元"},  # street only: P5
            {"addr": "河西村人民路1号"},  # community only: P5
            {"addr": "人民路1号", "sq": "锦江社区"},  # the record's community field: P3
            {"addr": "人民路1号", "jd": "白水镇"},  # the record's street field: P5
            {"addr": "人民路1号"},  # no evidence: refused, never guessed
            {"addr": "人民路1号", "lon": 109.025, "lat": 27.705},  # ... then its coordinate decides
            {"addr": "滨江路2号"},  # a key of one point needs no evidence
        ],
    )
    assert out["address_code"].to_list() == ["P3", "P5", "P5", "P3", "P5", None, None, "P2"]
    assert out["grid_code"].to_list() == [B, C, C, B, C, None, B, A]
    assert out["placement_method"].to_list()[5:] == ["unplaced", "coordinate_polygon", "address_point"]


def test_contradicting_evidence_is_refused(index) -> None:
    """The address names 环北街道 (P3's street), the street field 白水镇 (P5's): one point each, so no point."""
    out = place(index, [{"addr": "环北街道人民路1号", "jd": "白水镇"}])
    assert out["address_code"].to_list() == [None]


def test_change_dates_include_the_reassignment_and_the_redrawn_boundary(index) -> None:
    assert SNAP2 in index.change_dates().to_list()


hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=25, deadline=None, derandomize=True)
@hypothesis.given(
    moves=st.lists(
        st.lists(st.sampled_from([A, B]), min_size=4, max_size=4).map(lambda g: [*g, C]), min_size=1, max_size=4
    ),
    offsets=st.lists(st.integers(-40, 400), min_size=1, max_size=12),
)
def test_address_placement_equals_the_assignment_in_force_on_the_day(moves, offsets) -> None:
    """Any sequence of snapshots reassigning 锦江's points between its existing grids: an event at a point on
    any day is placed in the grid of the newest snapshot dated on or before that day (the first one before
    them). (A point moved into another community's grid would give its shared road key two claims on that
    community: refused, as it should be.)"""
    days = [SNAP1 + dt.timedelta(days=60 * k) for k in range(len(moves))]
    snaps = []
    for day, grids in zip(days, moves):
        pts = points(day, A).with_columns(grid_code=pl.Series(grids))
        snaps.append((grid_units(day), pts, None))
    idx = GridIndex.from_snapshots(snaps, prefixes=PREFIXES)
    addrs = ["滨江路8号1栋", "滨江路2号", "锦江社区人民路1号", "滨江路10号", "河西村人民路1号"]
    rows, want = [], []
    for k, off in enumerate(offsets):
        at = SNAP1 + dt.timedelta(days=off)
        p = k % 5
        rows.append({"addr": addrs[p], "at": at})
        in_force = max([i for i, d in enumerate(days) if d <= at], default=0)
        want.append(moves[in_force][p])
    out = place(idx, rows)
    assert out["placement_method"].unique().to_list() == ["address_point"]
    assert out["grid_code"].to_list() == want
