"""Grid placement on a small hand-built district.

Four rectangles side by side-ish, community 锦江 (grids 1, 1A, 1B, 2) and 河西 (grid 3):

    lat 27.72 +-----------------------------+
              |            G3               |
    lat 27.71 +--------------+--------------+
              |   G1 (→2024-06-01)   |  G2  |
              |  G1A      |   G1B    |      |
    lat 27.70 +-----------+----------+------+
          lon 109.00   109.01     109.02  109.03

On 2024-06-01 G1 is split into G1A (west) and G1B (east); 并入网格编码 names G1A.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from ingestion.placement import GridIndex, PlacementError

D = dt.date
SPLIT = D(2024, 6, 1)
BEFORE = D(2024, 3, 1)
AFTER = D(2024, 7, 1)

STREET = "520602001"
C1, C2 = "520602001001", "520602001002"
G1, G1A, G1B, G2 = C1 + "001", C1 + "004", C1 + "005", C1 + "002"
G3 = C2 + "001"
PREFIXES = ["贵州省", "铜仁市", "碧江区"]


def grid_units(*, after_split: bool) -> pl.DataFrame:
    rows = [
        (
            G1,
            "锦江社区第1网格",
            C1,
            "锦江社区",
            D(2020, 1, 1),
            SPLIT if after_split else None,
            G1A if after_split else None,
        ),
        (G2, "锦江社区第2网格", C1, "锦江社区", D(2020, 1, 1), None, None),
        (G3, "河西社区第1网格", C2, "河西社区", D(2020, 1, 1), None, None),
    ]
    if after_split:
        rows += [
            (G1A, "锦江社区第4网格", C1, "锦江社区", SPLIT, None, None),
            (G1B, "锦江社区第5网格", C1, "锦江社区", SPLIT, None, None),
        ]
    return pl.DataFrame(
        [
            {
                "grid_code": g,
                "grid_name": n,
                "community_code": c,
                "community_name": cn,
                "street_code": STREET,
                "street_name": "环北街道",
                "valid_from": vf,
                "valid_to": vt,
                "merged_into": m,
            }
            for g, n, c, cn, vf, vt, m in rows
        ],
        schema={
            "grid_code": pl.String,
            "grid_name": pl.String,
            "community_code": pl.String,
            "community_name": pl.String,
            "street_code": pl.String,
            "street_name": pl.String,
            "valid_from": pl.Date,
            "valid_to": pl.Date,
            "merged_into": pl.String,
        },
    )


def address_points(*, after_split: bool) -> pl.DataFrame:
    rows = [
        ("P1", "滨江路", "88号", "3栋", G1A if after_split else G1, 109.005, 27.705, C1),
        ("P2", "滨江路", "90号", None, G1B if after_split else G1, 109.015, 27.705, C1),
        ("P3", "滨江大道", "88号", None, G2, 109.025, 27.705, C1),
        ("P4", "锦江路", "1号", "2栋", G3, 109.010, 27.715, C2),
    ]
    return pl.DataFrame(
        [
            {
                "address_code": a,
                "standard_address": f"贵州省铜仁市碧江区环北街道{'锦江' if c == C1 else '河西'}社区{r}{h}{b or ''}",
                "road": r,
                "house_number": h,
                "building": b,
                "grid_code": g,
                "lon": x,
                "lat": y,
            }
            for a, r, h, b, g, x, y, c in rows
        ],
        schema={
            "address_code": pl.String,
            "standard_address": pl.String,
            "road": pl.String,
            "house_number": pl.String,
            "building": pl.String,
            "grid_code": pl.String,
            "lon": pl.Float64,
            "lat": pl.Float64,
        },
    )


def rect(code: str, x0: float, x1: float, y0: float, y1: float) -> dict:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Feature", "properties": {"网格编码": code}, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def boundaries(*, after_split: bool) -> list[dict]:
    out = [rect(G2, 109.02, 109.03, 27.70, 27.71), rect(G3, 109.00, 109.03, 27.71, 27.72)]
    if after_split:
        out += [rect(G1A, 109.00, 109.01, 27.70, 27.71), rect(G1B, 109.01, 109.02, 27.70, 27.71)]
    else:
        out += [rect(G1, 109.00, 109.02, 27.70, 27.71)]
    return out


@pytest.fixture(scope="module")
def index() -> GridIndex:
    return GridIndex.from_snapshots(
        [
            (grid_units(after_split=False), address_points(after_split=False), boundaries(after_split=False)),
            (grid_units(after_split=True), address_points(after_split=True), boundaries(after_split=True)),
        ],
        prefixes=PREFIXES,
    )


@pytest.fixture(scope="module")
def index_without_boundaries() -> GridIndex:
    return GridIndex.from_snapshots(
        [
            (grid_units(after_split=False), address_points(after_split=False), None),
            (grid_units(after_split=True), address_points(after_split=True), None),
        ],
        prefixes=PREFIXES,
    )


def events(rows: list[dict]) -> pl.DataFrame:
    base = {"addr": None, "lon": None, "lat": None, "sq": None, "jd": None, "grid": None, "at": AFTER}
    return pl.DataFrame(
        [{**base, **r} for r in rows],
        schema={
            "addr": pl.String,
            "lon": pl.String,
            "lat": pl.String,
            "sq": pl.String,
            "jd": pl.String,
            "grid": pl.String,
            "at": pl.Date,
        },
    )


def place(index: GridIndex, rows: list[dict]) -> pl.DataFrame:
    return index.place(
        events(rows), address="addr", lon="lon", lat="lat", community="sq", street="jd", at="at", grid_hint="grid"
    )


def test_address_point_match_on_any_spelling_of_the_building(index: GridIndex) -> None:
    out = place(
        index,
        [
            {"addr": "贵州省铜仁市碧江区环北街道锦江社区滨江路８８号三幢二单元5-01"},
            {"addr": "滨江路88号3号楼2单元501室"},
            {"addr": "滨江大道88号"},
        ],
    )
    assert out["address_code"].to_list() == ["P1", "P1", "P3"]
    assert out["grid_code"].to_list() == [G1A, G1A, G2]
    assert out["placement_method"].to_list() == ["address_point"] * 3
    assert out["community_code"].to_list() == [C1] * 3
    assert out["street_code"].to_list() == [STREET] * 3
    assert out["address_canonical"][0] == "环北街道锦江社区滨江路88号3栋2单元501室"


def test_address_before_and_after_split_goes_to_old_and_new_grid(index: GridIndex) -> None:
    out = place(
        index,
        [
            {"addr": "滨江路90号", "at": BEFORE},
            {"addr": "滨江路90号", "at": AFTER},
            {"addr": "滨江路90号", "at": SPLIT},
        ],
    )
    assert out["grid_code"].to_list() == [G1, G1B, G1B]


def test_ambiguous_address_key_is_refused() -> None:
    pts = address_points(after_split=True)
    twin = pts.filter(pl.col("address_code") == "P3").with_columns(address_code=pl.lit("P9"), grid_code=pl.lit(G3))
    idx = GridIndex.from_frames(grid_units(after_split=True), pl.concat([pts, twin]), None)
    out = place(idx, [{"addr": "滨江大道88号"}, {"addr": "滨江路88号3栋"}])
    assert out["placement_method"].to_list() == ["unplaced", "address_point"]
    assert out["address_code"].to_list() == [None, "P1"]


def test_house_number_without_building_is_placed_only_when_its_buildings_lie_in_one_grid() -> None:
    """Petitions' wtsd.dz names a house (锦江路1号), not a building: the grid is known when every building the
    record's names leave lies in one grid; the house's address_code stays null (no one building is named)."""
    pts = address_points(after_split=True)
    extra = pl.DataFrame(
        [
            # 锦江路1号 has 2栋 (P4) and 3栋 in 河西 G3, and a 1栋 in 锦江 G2: the road recurs in both communities
            ("P5", "贵州省铜仁市碧江区环北街道河西社区锦江路1号3栋", "锦江路", "1号", "3栋", G3, 109.011, 27.715),
            ("P6", "贵州省铜仁市碧江区环北街道锦江社区锦江路1号1栋", "锦江路", "1号", "1栋", G2, 109.025, 27.706),
            # 滨江路92号's two buildings lie in two grids of one community
            ("P7", "贵州省铜仁市碧江区环北街道锦江社区滨江路92号1栋", "滨江路", "92号", "1栋", G1A, 109.005, 27.706),
            ("P8", "贵州省铜仁市碧江区环北街道锦江社区滨江路92号2栋", "滨江路", "92号", "2栋", G2, 109.025, 27.707),
        ],
        schema=pts.schema,
        orient="row",
    )
    idx = GridIndex.from_frames(grid_units(after_split=True), pl.concat([pts, extra]), None)
    out = place(
        idx,
        [
            {"addr": "锦江路1号", "sq": "河西社区", "jd": "环北街道"},
            {"addr": "锦江路1号", "sq": "锦江社区"},
            {"addr": "锦江路1号"},
            {"addr": "滨江路92号", "sq": "锦江社区"},
            {"addr": "锦江路1号3栋"},
        ],
    )
    assert out["grid_code"].to_list() == [G3, G2, None, None, G3]
    assert out["address_code"].to_list() == [None, "P6", None, None, "P5"]
    assert out["placement_method"].to_list() == [
        "address_point", "address_point", "unplaced", "community_name", "address_point",
    ]  # fmt: skip


def test_coordinate_in_polygon_is_time_aware(index: GridIndex) -> None:
    out = place(index, [{"lon": "109.018", "lat": "27.708", "at": BEFORE}, {"lon": "109.018", "lat": "27.708"}])
    assert out["placement_method"].to_list() == ["coordinate_polygon"] * 2
    assert out["grid_code"].to_list() == [G1, G1B]
    assert out["coordinate_status"].to_list() == ["ok", "ok"]


def test_swapped_coordinate_is_fixed_and_placed(index: GridIndex) -> None:
    out = place(index, [{"lon": "27.708", "lat": "109.018"}])
    r = out.row(0, named=True)
    assert (r["coordinate_status"], r["lon_fixed"], r["lat_fixed"]) == ("swapped_fixed", 109.018, 27.708)
    assert (r["placement_method"], r["grid_code"]) == ("coordinate_polygon", G1B)


def test_zero_and_empty_coordinates_are_ignored_then_community_name_used(index: GridIndex) -> None:
    out = place(
        index, [{"lon": "0", "lat": "0", "sq": "锦江社区"}, {"lon": "", "lat": None, "sq": " 河西 ", "jd": "环北街道"}]
    )
    assert out["coordinate_status"].to_list() == ["zero", "empty"]
    assert out["lon_fixed"].to_list() == [None, None]
    assert out["placement_method"].to_list() == ["community_name"] * 2
    assert out["grid_code"].to_list() == [None, None]
    assert out["community_code"].to_list() == [C1, C2]
    assert out["street_code"].to_list() == [STREET, STREET]


def test_out_of_range_coordinate_and_nothing_else_is_unplaced(index: GridIndex) -> None:
    out = place(index, [{"lon": "200", "lat": "95"}, {"addr": "不知道哪里", "jd": "环北街道"}])
    assert out["coordinate_status"].to_list() == ["out_of_range", "empty"]
    assert out["placement_method"].to_list() == ["unplaced", "unplaced"]
    assert out["street_code"].to_list() == [None, STREET]


def test_nearest_point_fallback_without_boundaries(index_without_boundaries: GridIndex) -> None:
    out = place(
        index_without_boundaries,
        [
            {"lon": "109.0151", "lat": "27.7051", "at": BEFORE},
            {"lon": "109.0151", "lat": "27.7051"},
            {"lon": "109.5", "lat": "27.9"},  # kilometres from any point
        ],
    )
    assert out["placement_method"].to_list() == ["coordinate_nearest_point"] * 2 + ["unplaced"]
    assert out["address_code"].to_list() == ["P2", "P2", None]
    assert out["grid_code"].to_list() == [G1, G1B, None]


def test_reported_grid_used_when_valid_and_retired_one_placed_by_address_or_rolled_forward(index: GridIndex) -> None:
    out = place(
        index,
        [
            {"grid": G2, "addr": "滨江路90号"},  # valid: trusted over the address
            {"grid": G1, "addr": "滨江路90号"},  # retired at the time: address wins
            {"grid": G1, "lon": "109.012", "lat": "27.701"},  # retired: coordinate wins
            {"grid": G1},  # retired, nothing else: successor
            {"grid": G1, "at": BEFORE},  # valid before the split
            {"grid": "999999999999999", "sq": "河西社区"},  # unknown grid code is ignored
        ],
    )
    assert out["placement_method"].to_list() == [
        "grid_code_reported",
        "address_point",
        "coordinate_polygon",
        "grid_code_reported",
        "grid_code_reported",
        "community_name",
    ]
    assert out["grid_code"].to_list() == [G2, G1B, G1B, G1A, G1, None]


def test_current_grid_rolls_retired_grid_forward(index: GridIndex) -> None:
    assert index.current_grid(G1) == G1A
    assert index.current_grid(G2) == G2
    assert index.current_grid("000") is None
    m = dict(index.current_grid_map().iter_rows())
    assert m[G1] == G1A and m[G1B] == G1B


def test_current_grid_follows_a_chain_of_merges() -> None:
    gu = grid_units(after_split=True).with_columns(
        valid_to=pl.when(pl.col("grid_code") == G1A).then(pl.lit(D(2025, 1, 1))).otherwise(pl.col("valid_to")),
        merged_into=pl.when(pl.col("grid_code") == G1A).then(pl.lit(G1B)).otherwise(pl.col("merged_into")),
    )
    idx = GridIndex.from_frames(gu, address_points(after_split=True), None)
    assert idx.current_grid(G1) == G1B
    # at a time between the two events, the first successor is the answer
    out = place(idx, [{"grid": G1, "at": D(2024, 8, 1)}, {"grid": G1, "at": D(2025, 2, 1)}])
    assert out["grid_code"].to_list() == [G1A, G1B]


def test_place_keeps_rows_and_replaces_output_columns(index: GridIndex) -> None:
    frame = events([{"addr": "滨江路88号3栋"}, {}]).with_columns(grid_code=pl.lit("stale"), extra=pl.lit(1))
    out = index.place(frame, address="addr", lon=None, lat=None, community=None, street=None, at="at")
    assert out.height == 2
    assert out["grid_code"].to_list() == [G1A, None]
    assert out["extra"].to_list() == [1, 1]
    assert out["coordinate_status"].to_list() == ["empty", "empty"]


def test_place_accepts_datetime_and_null_at(index: GridIndex) -> None:
    frame = pl.DataFrame(
        {"addr": ["滨江路90号"] * 3, "t": [dt.datetime(2024, 3, 1, 12), dt.datetime(2024, 7, 1, 8), None]}
    )
    out = index.place(frame, address="addr", lon=None, lat=None, community=None, street=None, at="t")
    assert out["grid_code"].to_list() == [G1, G1B, G1B]


def test_place_rejects_string_at_and_unknown_columns(index: GridIndex) -> None:
    frame = pl.DataFrame({"addr": ["滨江路90号"], "t": ["2024-07-01"]})
    with pytest.raises(PlacementError, match=r"at='t' is String; expected a Date or Datetime"):
        index.place(frame, address="addr", lon=None, lat=None, community=None, street=None, at="t")
    with pytest.raises(PlacementError, match=r"lon='x' is not a column"):
        index.place(frame, address="addr", lon="x", lat=None, community=None, street=None, at=None)


def test_from_frames_names_missing_columns() -> None:
    with pytest.raises(PlacementError, match=r"address_points is missing column\(s\) \['lon'\]"):
        GridIndex.from_frames(grid_units(after_split=True), address_points(after_split=True).drop("lon"), None)


def test_from_snapshots_accepts_concatenated_history_with_data_date() -> None:
    old, new = D(2024, 1, 1), D(2024, 6, 1)
    units = pl.concat(
        [
            grid_units(after_split=False).with_columns(data_date=pl.lit(old)),
            grid_units(after_split=True).with_columns(data_date=pl.lit(new)),
        ]
    )
    points = pl.concat(
        [
            address_points(after_split=True).with_columns(data_date=pl.lit(new)),  # order must not matter
            address_points(after_split=False).with_columns(data_date=pl.lit(old)),
        ]
    )
    idx = GridIndex.from_snapshots(units, points, boundaries(after_split=False) + boundaries(after_split=True))
    assert idx.prefixes == ("贵州省", "铜仁市", "碧江区")  # read off the standard addresses
    out = place(idx, [{"addr": "贵州省铜仁市碧江区滨江路90号", "at": BEFORE}, {"addr": "滨江路90号"}])
    assert out["grid_code"].to_list() == [G1, G1B]
    assert out["address_canonical"].to_list() == ["滨江路90号", "滨江路90号"]
    assert idx.current_grid(G1) == G1A


def test_single_snapshot_index_traces_a_point_back_through_merged_into_only() -> None:
    # Without the older snapshot, P1's grid G1A (named by G1's 并入网格编码) is
    # traced back to G1 before the split; P2's G1B is not named, so it stays.
    idx = GridIndex.from_frames(grid_units(after_split=True), address_points(after_split=True), None)
    out = place(
        idx, [{"addr": "滨江路88号3栋", "at": BEFORE}, {"addr": "滨江路90号", "at": BEFORE}, {"addr": "滨江路88号3栋"}]
    )
    assert out["grid_code"].to_list() == [G1, G1B, G1A]


@pytest.mark.parametrize(
    ("county", "prefixes"),
    [
        ("贵州省黔东南苗族侗族自治州凯里市", ("贵州省", "黔东南苗族侗族自治州", "凯里市")),
        ("浙江省杭州市西湖区", ("浙江省", "杭州市", "西湖区")),  # 州 inside the city's name, not its end
        ("山东省济南市市中区", ("山东省", "济南市", "市中区")),
        ("北京市朝阳区", ("北京市", "朝阳区")),
    ],
)
def test_the_districts_prefixes_are_read_off_its_standard_addresses(county: str, prefixes: tuple[str, ...]) -> None:
    points = address_points(after_split=False).with_columns(
        standard_address=pl.lit(county) + pl.col("standard_address").str.strip_prefix("贵州省铜仁市碧江区")
    )
    assert GridIndex.from_frames(grid_units(after_split=False), points, None).prefixes == prefixes
