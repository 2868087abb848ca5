"""Grid placement: which grid an event or person belongs to, at the time it happened.

Order of preference (``placement_method``):

1. ``grid_code_reported`` — the grid the app recorded (``grid_hint``), when it
   is a known grid valid at ``at``.
2. ``address_point`` — the address's building key (road + house number +
   building, :mod:`ingestion.addresses`) equals one standard address point's
   key; the house-number key is tried next. A key shared by several address
   codes (a road name that recurs in several streets of the county, or a
   house number without its building, as petitions' ``wtsd.dz`` gives it) is
   narrowed by the street/community the record names — in the address before
   the road, or in its own community/street fields — to the points named
   best; it is placed when those points all lie in one grid at ``at``
   (``address_code`` set only when one point is left), otherwise refused,
   never guessed.
3. ``coordinate_polygon`` — the (fixed) coordinate lies in a boundary polygon
   of a grid valid at ``at``.
4. ``coordinate_nearest_point`` — the nearest address point within
   ``max_distance_m`` (300 m by default).
5. ``grid_code_reported`` — a reported grid that had been retired at ``at``,
   rolled forward along 并入网格编码 to the grid that took it over.
6. ``community_name`` — the community (and street) named in the record; the
   grid stays null, community_code/street_code are set.
7. ``unplaced`` — street_code is still set when the street name is known.

Time: a grid is valid at ``at`` when ``valid_from <= at < valid_to`` (an
open ``valid_to`` while active; a null ``at`` means "now"). An address point
keeps the history of its assignments across snapshots: each run of snapshots
that put it in the same grid is one assignment, starting on the day the
change took effect — the new grid's 启用日期 or the old grid's 停用日期 when
either falls between the two snapshots, else the newer snapshot's date (a
reassignment between two existing grids says no more) — so an event is
placed by the assignment in force on its date, never by the latest one. The
grid so found is rolled forward along 并入网格编码 when it had been retired by
``at``, or traced back to the one grid merged into it when it was not yet
active at ``at`` (history the index was not given). Boundary polygons keep
their history the same way (a redrawn boundary holds from its snapshot on).

The index is built once per run (:meth:`GridIndex.from_frames` for one
snapshot, :meth:`GridIndex.from_snapshots` for a history) and
:meth:`GridIndex.place` is vectorised: joins for address points, shapely 2
``STRtree`` queries for polygons, a scipy ``cKDTree`` for nearest points, all
on unique values.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ingestion.addresses import building_key, canonical_address, house_key, local_key, strip_to_local

__all__ = [
    "CoordinateStatus",
    "GridIndex",
    "PlacementError",
    "PlacementMethod",
    "fix_coordinates",
]

logger = logging.getLogger(__name__)


class PlacementError(ValueError):
    """A grid register or a frame to place is not usable as given."""


class PlacementMethod:
    GRID_CODE_REPORTED = "grid_code_reported"
    ADDRESS_POINT = "address_point"
    COORDINATE_POLYGON = "coordinate_polygon"
    COORDINATE_NEAREST_POINT = "coordinate_nearest_point"
    COMMUNITY_NAME = "community_name"
    UNPLACED = "unplaced"


class CoordinateStatus:
    OK = "ok"
    SWAPPED_FIXED = "swapped_fixed"
    ZERO = "zero"
    EMPTY = "empty"
    OUT_OF_RANGE = "out_of_range"


# China's extent as the feed pages state it.
LON_RANGE = (73.0, 135.0)
LAT_RANGE = (18.0, 54.0)

GRID_COLUMNS = (
    "grid_code",
    "grid_name",
    "community_code",
    "community_name",
    "street_code",
    "street_name",
    "valid_from",
    "valid_to",
    "merged_into",
)
POINT_COLUMNS = ("address_code", "standard_address", "road", "house_number", "building", "grid_code", "lon", "lat")
OUTPUT_COLUMNS = (
    "address_canonical",
    "address_code",
    "grid_code",
    "community_code",
    "street_code",
    "placement_method",
    "coordinate_status",
    "lon_fixed",
    "lat_fixed",
)

_MAX_CHAIN = 32  # merged_into chains longer than this are treated as a cycle
_ROW = "__zp_row"
_AT = "__zp_at"


def _require(frame: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PlacementError(f"{what} is missing column(s) {missing!r}; it has {frame.columns!r}")


def _as_float(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


def fix_coordinates(lon: pl.Expr, lat: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """``(coordinate_status, lon_fixed, lat_fixed)`` expressions.

    Empty (either part missing) → ``empty``; either part 0 → ``zero``; inside
    China → ``ok``; a latitude in the longitude column and vice versa →
    swapped back, ``swapped_fixed``; anything else → ``out_of_range``. Fixed
    coordinates are null unless the status is ``ok`` or ``swapped_fixed``.
    Accepts numbers or strings.
    """
    x, y = _as_float(lon), _as_float(lat)

    def inside(a: pl.Expr, rng: tuple[float, float]) -> pl.Expr:
        return a.is_between(*rng)

    status = (
        pl.when(x.is_null() | y.is_null() | x.is_nan() | y.is_nan())
        .then(pl.lit(CoordinateStatus.EMPTY))
        .when((x == 0) | (y == 0))
        .then(pl.lit(CoordinateStatus.ZERO))
        .when(inside(x, LON_RANGE) & inside(y, LAT_RANGE))
        .then(pl.lit(CoordinateStatus.OK))
        .when(inside(x, LAT_RANGE) & inside(y, LON_RANGE))
        .then(pl.lit(CoordinateStatus.SWAPPED_FIXED))
        .otherwise(pl.lit(CoordinateStatus.OUT_OF_RANGE))
    )
    lon_fixed = pl.when(status == CoordinateStatus.OK).then(x).when(status == CoordinateStatus.SWAPPED_FIXED).then(y)
    lat_fixed = pl.when(status == CoordinateStatus.OK).then(y).when(status == CoordinateStatus.SWAPPED_FIXED).then(x)
    return status, lon_fixed, lat_fixed


def _name_key(expr: pl.Expr) -> pl.Expr:
    """Community/street name folded for joining: 锦江社区, 锦江 and ' 锦江社区 ' meet."""
    out = canonical_address(expr).str.replace(r"(社区居委会|居委会|社区|村委会|村|街道办事处|街道|镇|乡)$", "")
    return pl.when(out.str.len_chars() > 0).then(out)


def _valid_at(at: pl.Expr) -> pl.Expr:
    """A grid row (valid_from, valid_to) is valid at ``at``; a null ``at`` means now."""
    vf, vt = pl.col("valid_from"), pl.col("valid_to")
    return (
        pl.when(at.is_null())
        .then(vt.is_null())
        .otherwise((vf.is_null() | (vf <= at)) & (vt.is_null() | (at < vt)))
        .fill_null(False)
    )


def _with_rank(frame: pl.DataFrame) -> pl.DataFrame:
    """A ``snapshot`` column to order snapshots by (``data_date`` when there is no rank)."""
    if "snapshot" in frame.columns:
        return frame
    if "data_date" in frame.columns:
        return frame.with_columns(snapshot=pl.col("data_date"))
    return frame.with_columns(snapshot=pl.lit(0))


def _snapshot_date(frame: pl.DataFrame) -> pl.Expr:
    """The snapshot's date (``data_date``) as a Date, else null."""
    if "data_date" in frame.columns:
        return pl.col("data_date").cast(pl.Date)
    return pl.lit(None, dtype=pl.Date)


def _assignments(pts: pl.DataFrame, grids: pl.DataFrame) -> pl.DataFrame:
    """Each address point's assignments across snapshots, with the day each took effect.

    ``pts``: ``address_code, grid_code, snapshot, __sd`` (one row per point and
    snapshot). A run of snapshots that keep a point in one grid is one
    assignment; a later run starts on the new grid's 启用日期 or the old grid's
    停用日期 when either falls after the previous snapshot and no later than
    this one, else on this snapshot's date; without snapshot dates, on the
    later of the two (or null: then the newest assignment wins).
    """
    g = grids.select("grid_code", "valid_from", "valid_to")
    rows = (
        pts.select("address_code", "grid_code", "snapshot", "__sd")
        .filter(pl.col("address_code").is_not_null() & pl.col("grid_code").is_not_null())
        .sort("address_code", "snapshot", maintain_order=True)
        .unique(["address_code", "snapshot"], keep="last", maintain_order=True)
        .with_columns(
            __prev_grid=pl.col("grid_code").shift(1).over("address_code"),
            __prev_sd=pl.col("__sd").shift(1).over("address_code"),
        )
        .with_columns(__new=(pl.col("grid_code") != pl.col("__prev_grid")).fill_null(True))
        .with_columns(__run=pl.col("__new").cum_sum().over("address_code"))
    )
    runs = (
        rows.group_by("address_code", "__run")
        .agg(
            pl.col("grid_code").first(),
            pl.col("__prev_grid").first(),
            pl.col("__prev_sd").first(),
            pl.col("__sd").first().alias("__first_sd"),
            pl.col("snapshot").max(),
        )
        .join(g.rename({"valid_from": "__new_from"}).drop("valid_to"), on="grid_code", how="left")
        .join(
            g.select(pl.col("grid_code").alias("__prev_grid"), pl.col("valid_to").alias("__old_to")),
            on="__prev_grid",
            how="left",
        )
    )

    def in_window(day: pl.Expr) -> pl.Expr:
        return pl.when(
            (pl.col("__prev_sd").is_null() | (day > pl.col("__prev_sd"))) & (day <= pl.col("__first_sd"))
        ).then(day)

    start = pl.coalesce(
        in_window(pl.col("__new_from")),
        in_window(pl.col("__old_to")),
        pl.col("__first_sd"),
        pl.max_horizontal("__new_from", "__old_to"),
    )
    return (
        runs.with_columns(assigned_from=pl.when(pl.col("__prev_grid").is_not_null()).then(start))
        .select("address_code", "grid_code", "snapshot", "assigned_from")
        .sort("address_code", "snapshot")
    )


# 州 ends a city (黔东南苗族侗族自治州) but is also inside city names ending in 市 (杭州市, 广州市)
_ADMIN_PARTS = re.compile(r"^(.+?(?:省|自治区))?(.+?(?:市|自治州|州(?!市)|盟|地区))?(.+?(?:区|县|旗|市))")


def _derive_prefixes(standard_addresses: pl.Series) -> tuple[str, ...]:
    """Province/city/county parts shared by (nearly) all standard addresses."""
    heads = []
    for a in standard_addresses.drop_nulls().head(1000).to_list():
        m = _ADMIN_PARTS.match(re.sub(r"\s+", "", a))
        if m:
            heads.append(tuple(p for p in m.groups() if p))
    if not heads:
        return ()
    best = max(set(heads), key=heads.count)
    return best if heads.count(best) * 2 > len(heads) else ()


def _project(lon: np.ndarray, lat: np.ndarray, lat0: float) -> np.ndarray:
    """Equirectangular metres around lat0: ample for a county and a 300 m radius."""
    return np.column_stack((lon * 111_320.0 * np.cos(np.radians(lat0)), lat * 110_574.0))


@dataclass(eq=False)
class GridIndex:
    """Grid register and standard addresses, ready for :meth:`place`.

    Attributes are frames so callers can inspect them: ``grids`` (one row per
    grid code, latest snapshot wins), ``points`` (one row per address code,
    latest snapshot wins, with its building key ``key`` and ``house_key``),
    ``point_grids`` (one row per assignment of a point to a grid: a run of
    snapshots that put it there, with ``snapshot`` the newest of them and
    ``assigned_from`` the day it took effect, null for a point's first
    assignment).
    """

    grids: pl.DataFrame
    points: pl.DataFrame
    point_grids: pl.DataFrame
    prefixes: tuple[str, ...] = ()
    roads: tuple[str, ...] = ()
    max_distance_m: float = 300.0
    _poly_codes: np.ndarray | None = field(default=None, repr=False)
    _tree: Any = field(default=None, repr=False)
    _kd: Any = field(default=None, repr=False)
    _kd_codes: np.ndarray | None = field(default=None, repr=False)
    _lat0: float = 0.0
    _key_table: pl.DataFrame | None = field(default=None, repr=False)
    _house_table: pl.DataFrame | None = field(default=None, repr=False)
    _point_names: pl.DataFrame | None = field(default=None, repr=False)
    _poly_versions: pl.DataFrame | None = field(default=None, repr=False)

    # --- construction ----------------------------------------------------

    @classmethod
    def from_frames(
        cls,
        grid_units: pl.DataFrame,
        address_points: pl.DataFrame,
        boundaries: Sequence[dict] | pl.DataFrame | None = None,
        *,
        prefixes: Iterable[str] | None = None,
        max_distance_m: float = 300.0,
    ) -> GridIndex:
        """Index one snapshot (or a history already combined by the caller).

        ``grid_units`` needs :data:`GRID_COLUMNS`; ``address_points`` needs
        :data:`POINT_COLUMNS`. Either may carry a ``snapshot`` column (any
        sortable type, higher is newer) and/or a ``data_date`` column (the
        snapshot's date; it is the rank when there is no ``snapshot``): grids
        are deduplicated by ``grid_code`` and points by ``address_code``
        keeping the newest row, while each point's assignments are kept as
        history (``point_grids``, see the module docstring). ``boundaries`` are
        GeoJSON features with property ``网格编码`` (a later feature for the
        same grid replaces an earlier one), or a frame with ``grid_code``,
        ``geometry`` (GeoJSON text) and ``snapshot``/``data_date`` whose
        history is kept. ``prefixes`` is the district's own
        province/city/district prefix for :func:`canonical_address`; when
        ``None`` it is read off the standard addresses (``贵州省铜仁市碧江区…``
        gives ``("贵州省", "铜仁市", "碧江区")``); pass ``()`` for none.
        """
        _require(grid_units, GRID_COLUMNS, "grid_units")
        _require(address_points, POINT_COLUMNS, "address_points")
        grid_units = _with_rank(grid_units)
        address_points = _with_rank(address_points)
        if prefixes is None:
            prefixes = _derive_prefixes(address_points["standard_address"])

        grids = (
            grid_units.select(*GRID_COLUMNS, "snapshot")
            .with_columns(
                pl.col("grid_code", "community_code", "street_code").cast(pl.String),
                pl.col("valid_from", "valid_to").cast(pl.Date),
                pl.col("merged_into").cast(pl.String).str.strip_chars().replace("", None),
            )
            .sort("snapshot", descending=True, maintain_order=True)
            .unique("grid_code", keep="first", maintain_order=True)
            .drop("snapshot")
            .sort("grid_code")
        )

        pts = address_points.select(
            *POINT_COLUMNS, "snapshot", _snapshot_date(address_points).alias("__sd")
        ).with_columns(
            pl.col("address_code", "grid_code").cast(pl.String),
            pl.col("lon", "lat").cast(pl.Float64, strict=False),
        )
        point_grids = _assignments(pts, grids)
        latest = (
            pts.sort("snapshot", descending=True, maintain_order=True)
            .unique("address_code", keep="first", maintain_order=True)
            .drop("__sd")
        )
        roads = tuple(
            sorted(
                set(latest.select(canonical_address(pl.col("road")).alias("r")).drop_nulls().unique()["r"].to_list())
            )
        )
        latest = latest.with_columns(
            key=pl.coalesce(
                pl.when(pl.col("road").is_not_null() & pl.col("house_number").is_not_null()).then(
                    local_key("road", "house_number", "building")
                ),
                building_key(strip_to_local(canonical_address("standard_address", prefixes=prefixes), roads=roads)),
            )
        ).with_columns(house_key=house_key("key"))
        index = cls(
            grids=grids,
            points=latest.drop("snapshot"),
            point_grids=point_grids,
            prefixes=tuple(prefixes),
            roads=roads,
            max_distance_m=max_distance_m,
        )
        index._build_keys()
        index._build_polygons(boundaries)
        index._build_kdtree()
        logger.info(
            "grid index: %d grids, %d address points (%d reassigned across snapshots, %d sharing a key with "
            "another), %d boundary polygons",
            grids.height,
            latest.height,
            point_grids.filter(pl.col("assigned_from").is_not_null())["address_code"].n_unique(),
            index._key_table.filter(pl.col("__n") > 1).height if index._key_table is not None else 0,
            0 if index._poly_codes is None else len(index._poly_codes),
        )
        return index

    @classmethod
    def from_snapshots(
        cls,
        snapshots: Sequence[tuple[pl.DataFrame, pl.DataFrame, Sequence[dict] | None]] | pl.DataFrame,
        address_points: pl.DataFrame | None = None,
        boundaries: Sequence[dict] | pl.DataFrame | None = None,
        *,
        prefixes: Iterable[str] | None = None,
        max_distance_m: float = 300.0,
    ) -> GridIndex:
        """Index a history of grid-register snapshots.

        Two forms:

        * ``from_snapshots([(grid_units, address_points, boundaries), ...])``,
          oldest first; frames may carry their snapshot's ``data_date``
          (without it a reassignment between existing grids has no date and
          the newest assignment wins);
        * ``from_snapshots(grid_units_all, address_points_all, boundaries)``:
          every snapshot's rows concatenated, each row carrying its snapshot's
          ``data_date`` (or a ``snapshot`` rank); ``boundaries`` as in
          :meth:`from_frames`.

        Grids are deduplicated by grid code and points by address code taking
        the newest snapshot; each point's assignments and each grid's
        boundaries are kept with the day they took effect, so an event is
        placed in the grid that held its building at the time.
        """
        if isinstance(snapshots, pl.DataFrame):
            if address_points is None:
                raise PlacementError("from_snapshots(grid_units, address_points=None): address_points is required")
            return cls.from_frames(
                snapshots, address_points, boundaries, prefixes=prefixes, max_distance_m=max_distance_m
            )
        if not snapshots:
            raise PlacementError("snapshots=[] is empty; pass at least one (grid_units, address_points, boundaries)")
        units, points, features = [], [], []
        for rank, (gu, ap, bd) in enumerate(snapshots):
            dated = [c for c in ("data_date",) if c in gu.columns and c in ap.columns]
            units.append(gu.select(*GRID_COLUMNS, *dated).with_columns(snapshot=pl.lit(rank)))
            points.append(ap.select(*POINT_COLUMNS, *dated).with_columns(snapshot=pl.lit(rank)))
            day = gu["data_date"].max() if dated else None
            for feat in bd or []:
                props = feat.get("properties") or {}
                features.append(
                    {
                        "grid_code": props.get("网格编码"),
                        "geometry": None if feat.get("geometry") is None else json.dumps(feat["geometry"]),
                        "snapshot": rank,
                        "data_date": day,
                    }
                )
        frame = None
        if features:
            frame = pl.DataFrame(
                features,
                schema={"grid_code": pl.String, "geometry": pl.String, "snapshot": pl.Int64, "data_date": pl.Date},
            )
        return cls.from_frames(
            pl.concat(units, how="vertical_relaxed"),
            pl.concat(points, how="vertical_relaxed"),
            frame,
            prefixes=prefixes,
            max_distance_m=max_distance_m,
        )

    def _build_keys(self) -> None:
        """Key → address codes, with how many codes share it (``__n``), and the names around each point."""

        def keyed(col: str) -> pl.DataFrame:
            t = self.points.select(col, "address_code").drop_nulls().unique()
            return t.with_columns(pl.len().over(col).alias("__n").cast(pl.UInt32)).sort(col, "address_code")

        self._key_table = keyed("key")
        self._house_table = keyed("house_key")
        # every community/street a point's grids ever belonged to: the evidence a record may name
        names = self.grids.select(
            "grid_code",
            canonical_address(pl.col("community_name")).alias("__pc_full"),
            canonical_address(pl.col("street_name")).alias("__ps_full"),
            _name_key(pl.col("community_name")).alias("__pc_key"),
            _name_key(pl.col("street_name")).alias("__ps_key"),
        )
        self._point_names = (
            self.point_grids.select("address_code", "grid_code")
            .unique()
            .join(names, on="grid_code", how="inner")
            .drop("grid_code")
            .unique()
        )

    def _build_polygons(self, boundaries: Sequence[dict] | pl.DataFrame | None) -> None:
        """Boundary versions: per grid, each run of snapshots with the same geometry, from its first snapshot's date."""
        if boundaries is None or len(boundaries) == 0:
            return
        import shapely
        from shapely.geometry import shape

        if isinstance(boundaries, pl.DataFrame):
            frame = _with_rank(boundaries)
            frame = frame.select(
                pl.col("grid_code").cast(pl.String),
                pl.col("geometry").cast(pl.String),
                "snapshot",
                _snapshot_date(frame).alias("__sd"),
            )
        else:  # features: later ones replace earlier ones for the same grid
            rows = []
            for i, feat in enumerate(boundaries):
                props = feat.get("properties") or {}
                geom = feat.get("geometry")
                rows.append((props.get("网格编码"), None if geom is None else json.dumps(geom), i))
            frame = pl.DataFrame(
                rows, schema={"grid_code": pl.String, "geometry": pl.String, "snapshot": pl.Int64}, orient="row"
            )
            frame = (
                frame.sort("snapshot")
                .unique("grid_code", keep="last", maintain_order=True)
                .with_columns(pl.lit(None, dtype=pl.Date).alias("__sd"))
            )
        bad = frame.filter(pl.col("grid_code").is_null() | pl.col("geometry").is_null())
        if bad.height:
            code = bad["grid_code"][0]
            raise PlacementError(
                f"a boundary feature has 网格编码={code!r}, geometry={'set' if bad['geometry'][0] else None}; "
                "both are required"
            )
        # one row per grid and snapshot (the last feature wins), then runs of an unchanged geometry
        frame = (
            frame.with_row_index("__i")
            .sort("grid_code", "snapshot", "__i")
            .unique(["grid_code", "snapshot"], keep="last", maintain_order=True)
            .with_columns(__new=(pl.col("geometry") != pl.col("geometry").shift(1).over("grid_code")).fill_null(True))
            .filter(pl.col("__new"))
            .with_columns(
                # the first version of a grid holds from the grid's start (its validity filters it)
                valid_from=pl.when(pl.col("snapshot") != pl.col("snapshot").min().over("grid_code")).then(
                    pl.col("__sd")
                )
            )
            .select("grid_code", "snapshot", "valid_from", "geometry")
        )
        geoms = []
        for i, (code, text) in enumerate(frame.select("grid_code", "geometry").iter_rows()):
            try:
                geom = json.loads(text)
            except ValueError as exc:
                raise PlacementError(f"boundary of grid {code!r} is not GeoJSON ({exc})") from None
            if not isinstance(geom, dict) or geom.get("type") not in ("Polygon", "MultiPolygon"):
                kind = geom.get("type") if isinstance(geom, dict) else type(geom).__name__
                raise PlacementError(
                    f"boundary feature #{i} ({code!r}) is a {kind!r}; expected Polygon or MultiPolygon"
                )
            geoms.append(shape(geom))
        self._poly_versions = frame.drop("geometry").with_row_index("__poly")
        self._poly_codes = frame["grid_code"].to_numpy()
        self._tree = shapely.STRtree(np.array(geoms, dtype=object))

    def _build_kdtree(self) -> None:
        from scipy.spatial import cKDTree

        p = self.points.filter(pl.col("lon").is_between(*LON_RANGE) & pl.col("lat").is_between(*LAT_RANGE)).select(
            "address_code", "lon", "lat"
        )
        if p.height == 0:
            return
        lon, lat = p["lon"].to_numpy(), p["lat"].to_numpy()
        self._lat0 = float(np.mean(lat))
        self._kd = cKDTree(_project(lon, lat, self._lat0))
        self._kd_codes = p["address_code"].to_numpy()

    # --- grid history ----------------------------------------------------

    def current_grid(self, grid_code: str | None) -> str | None:
        """The active grid a grid code stands for today, following 并入网格编码.

        An active grid is itself; a retired grid rolls forward along its
        merged_into chain; a retired grid with no successor, an unknown code,
        or a cycle gives ``None``.
        """
        if grid_code is None:
            return None
        m = self.current_grid_map()
        hit = m.filter(pl.col("grid_code") == str(grid_code))
        return hit["current_grid_code"][0] if hit.height else None

    def current_grid_map(self) -> pl.DataFrame:
        """``grid_code → current_grid_code`` for every known grid (join it for current views)."""
        rolled = self._roll_forward(self.grids.select("grid_code", pl.lit(None, dtype=pl.Date).alias(_AT)))
        g = self.grids.select("grid_code", "valid_to")
        return (
            self.grids.select("grid_code")
            .with_columns(current_grid_code=rolled["grid_code"])
            .join(g.rename({"grid_code": "current_grid_code"}), on="current_grid_code", how="left")
            .with_columns(current_grid_code=pl.when(pl.col("valid_to").is_null()).then(pl.col("current_grid_code")))
            .drop("valid_to")
        )

    def _roll_forward(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Replace ``grid_code`` by its successor while it had been retired by ``_AT`` (null = now).

        Keeps the frame's rows and order; other columns untouched.
        """
        g = self.grids.select("grid_code", "valid_to", "merged_into")
        out = frame
        for _ in range(_MAX_CHAIN):
            j = out.join(g, on="grid_code", how="left", maintain_order="left")
            step = (
                pl.col("valid_to").is_not_null()
                & pl.col("merged_into").is_not_null()
                & (pl.col(_AT).is_null() | (pl.col(_AT) >= pl.col("valid_to")))
            ).fill_null(False)
            if not j.select(step.any()).item():
                return out
            out = j.with_columns(
                grid_code=pl.when(step).then(pl.col("merged_into")).otherwise(pl.col("grid_code"))
            ).drop("valid_to", "merged_into")
        logger.warning("merged_into chain longer than %d: cycle in the grid register", _MAX_CHAIN)
        return out

    def _grid_of_points(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``(_ROW, address_code, _AT)`` → ``(_ROW, address_code, grid_code)`` at each row's time.

        The assignment in force at ``_AT`` is the newest one that had started
        by then (a null ``_AT``, "now", takes the newest of all).
        """
        if rows.height == 0:
            return rows.select(_ROW, "address_code", pl.lit(None, dtype=pl.String).alias("grid_code"))
        started = pl.col(_AT).is_null() | pl.col("assigned_from").is_null() | (pl.col("assigned_from") <= pl.col(_AT))
        cand = (
            rows.join(self.point_grids, on="address_code", how="inner")
            .filter(started)
            .sort([_ROW, "snapshot"], descending=[False, True])
            .unique(_ROW, keep="first", maintain_order=True)
        )
        rolled = self._roll_forward(cand.select(_ROW, "address_code", "grid_code", _AT))
        return self._roll_back(rolled).select(_ROW, "address_code", "grid_code")

    def change_dates(self) -> pl.Series:
        """Every day on which placement by this index may change: grid starts and ends, reassignments, redrawn boundaries."""
        parts = [
            self.grids["valid_from"].cast(pl.Date),
            self.grids["valid_to"].cast(pl.Date),
            self.point_grids["assigned_from"].cast(pl.Date),
        ]
        if self._poly_versions is not None:
            parts.append(self._poly_versions["valid_from"].cast(pl.Date))
        return pl.concat(parts).drop_nulls().unique().sort()

    def _roll_back(self, frame: pl.DataFrame) -> pl.DataFrame:
        """A grid not yet active at ``_AT`` → the one grid, valid then, that was merged into it.

        Only for history the index lacks (the building's older snapshot was
        never loaded); 并入网格编码 names the largest successor of a split, so
        the other successors cannot be traced back and keep their own code.
        """
        g = self.grids.select("grid_code", "valid_from")
        pred = self.grids.filter(pl.col("merged_into").is_not_null()).select(
            pl.col("merged_into").alias("grid_code"), pl.col("grid_code").alias("__pred"), "valid_from", "valid_to"
        )
        early = frame.join(g, on="grid_code", how="inner").filter(
            pl.col(_AT).is_not_null() & pl.col("valid_from").is_not_null() & (pl.col(_AT) < pl.col("valid_from"))
        )
        if early.height == 0:
            return frame
        back = (
            early.select(_ROW, _AT, "grid_code")
            .join(pred, on="grid_code", how="inner")
            .filter(_valid_at(pl.col(_AT)))
            .group_by(_ROW)
            .agg(pl.col("__pred").n_unique().alias("__n"), pl.col("__pred").first())
            .filter(pl.col("__n") == 1)
            .select(_ROW, "__pred")
        )
        return (
            frame.join(back, on=_ROW, how="left", maintain_order="left")
            .with_columns(grid_code=pl.coalesce("__pred", "grid_code"))
            .drop("__pred")
        )

    # --- placement -------------------------------------------------------

    def place(
        self,
        frame: pl.DataFrame,
        *,
        address: str | None,
        lon: str | None,
        lat: str | None,
        community: str | None,
        street: str | None,
        at: str | None,
        grid_hint: str | None = None,
    ) -> pl.DataFrame:
        """``frame`` with :data:`OUTPUT_COLUMNS` added (replacing same-named columns).

        Arguments name ``frame``'s columns; ``None`` means the feed has no such
        field. ``at`` must be a Date or Datetime column (a tz-aware Datetime is
        taken in its own time zone's calendar date).
        """
        for arg, name in (
            ("address", address),
            ("lon", lon),
            ("lat", lat),
            ("community", community),
            ("street", street),
            ("at", at),
            ("grid_hint", grid_hint),
        ):
            if name is not None and name not in frame.columns:
                raise PlacementError(f"{arg}={name!r} is not a column of the frame; it has {frame.columns!r}")
        if at is not None:
            dtype = frame.schema[at]
            if dtype == pl.Date:
                at_expr = pl.col(at)
            elif isinstance(dtype, pl.Datetime):
                at_expr = pl.col(at).dt.date()
            else:
                raise PlacementError(f"at={at!r} is {dtype}; expected a Date or Datetime column (parse it first)")
        else:
            at_expr = pl.lit(None, dtype=pl.Date)

        def col(name: str | None) -> pl.Expr:
            return pl.col(name).cast(pl.String) if name is not None else pl.lit(None, dtype=pl.String)

        status, lon_fixed, lat_fixed = fix_coordinates(
            pl.col(lon) if lon else pl.lit(None, dtype=pl.Float64),
            pl.col(lat) if lat else pl.lit(None, dtype=pl.Float64),
        )
        work = frame.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias(_ROW),
            col(address).alias("__addr"),
            at_expr.alias(_AT),
            status.alias("coordinate_status"),
            lon_fixed.alias("lon_fixed"),
            lat_fixed.alias("lat_fixed"),
            col(community).alias("__comm"),
            col(street).alias("__street"),
            col(grid_hint).str.strip_chars().alias("__hint"),
        )

        # Canonical address and keys, computed once per distinct raw address.
        addr = work.select("__addr").unique().drop_nulls()
        addr = addr.with_columns(address_canonical=canonical_address("__addr", prefixes=self.prefixes))
        addr = addr.with_columns(__local=strip_to_local("address_canonical", roads=self.roads)).with_columns(
            __bkey=building_key("__local"),
            __hkey=house_key("__local"),
            # what the address names before the road: its street/community, if any
            __ctx=pl.col("address_canonical").str.head(
                pl.col("address_canonical").str.len_chars() - pl.col("__local").str.len_chars()
            ),
        )
        work = work.join(addr, on="__addr", how="left", maintain_order="left")

        decided: list[pl.DataFrame] = []  # (_ROW, grid_code, address_code, placement_method)
        placed = pl.Series(_ROW, [], dtype=pl.UInt32)

        def take(part: pl.DataFrame, method: str) -> None:
            nonlocal placed
            part = part.filter(pl.col("grid_code").is_not_null() & ~pl.col(_ROW).is_in(placed.implode()))
            if "address_code" not in part.columns:
                part = part.with_columns(address_code=pl.lit(None, dtype=pl.String))
            decided.append(part.select(_ROW, "grid_code", "address_code", pl.lit(method).alias("placement_method")))
            placed = pl.concat([placed, part[_ROW]])

        def remaining() -> pl.DataFrame:
            return work.filter(~pl.col(_ROW).is_in(placed.implode()))

        grid_valid = self.grids.select("grid_code", "valid_from", "valid_to")

        # 1. reported grid, valid at the time
        hinted = work.filter(pl.col("__hint").is_not_null()).select(_ROW, _AT, pl.col("__hint").alias("grid_code"))
        hinted = hinted.join(grid_valid, on="grid_code", how="inner")
        take(hinted.filter(_valid_at(pl.col(_AT))), PlacementMethod.GRID_CODE_REPORTED)

        # 2. address point: building key, then house-number key; a shared key decided by the names the record
        # gives, or by all its remaining points lying in one grid (a house number without its building)
        by_key = self._one_grid(self._match_key(remaining(), "__bkey", self._key_table.rename({"key": "__bkey"})))
        take(by_key, PlacementMethod.ADDRESS_POINT)
        by_house = self._one_grid(
            self._match_key(remaining(), "__hkey", self._house_table.rename({"house_key": "__hkey"}))
        )
        take(by_house, PlacementMethod.ADDRESS_POINT)

        # 3. coordinate in a polygon of a grid valid at the time
        if self._tree is not None:
            rest = remaining().filter(pl.col("lon_fixed").is_not_null()).select(_ROW, _AT, "lon_fixed", "lat_fixed")
            take(self._in_polygons(rest), PlacementMethod.COORDINATE_POLYGON)

        # 4. nearest address point
        if self._kd is not None:
            rest = remaining().filter(pl.col("lon_fixed").is_not_null()).select(_ROW, _AT, "lon_fixed", "lat_fixed")
            take(self._grid_of_points(self._nearest(rest)), PlacementMethod.COORDINATE_NEAREST_POINT)

        # 5. reported grid retired at the time: its successor
        rest = remaining().filter(pl.col("__hint").is_not_null()).select(_ROW, _AT, pl.col("__hint").alias("grid_code"))
        rest = rest.join(grid_valid.select("grid_code"), on="grid_code", how="inner")
        take(self._roll_forward(rest), PlacementMethod.GRID_CODE_REPORTED)

        grid_rows = (
            pl.concat(decided)
            if decided
            else pl.DataFrame(
                schema={
                    _ROW: pl.UInt32,
                    "grid_code": pl.String,
                    "address_code": pl.String,
                    "placement_method": pl.String,
                }
            )
        )
        grid_rows = grid_rows.join(
            self.grids.select("grid_code", "community_code", "street_code"), on="grid_code", how="left"
        )

        # 6. community named in the record; 7. unplaced (street kept when known)
        names = self._by_names(remaining())

        result = (
            work.select(_ROW, "address_canonical", "coordinate_status", "lon_fixed", "lat_fixed")
            .join(grid_rows, on=_ROW, how="left")
            .join(names, on=_ROW, how="left")
            .with_columns(
                community_code=pl.coalesce("community_code", "__n_community_code"),
                street_code=pl.coalesce("street_code", "__n_street_code"),
                placement_method=pl.coalesce(
                    "placement_method",
                    pl.when(pl.col("__n_community_code").is_not_null()).then(pl.lit(PlacementMethod.COMMUNITY_NAME)),
                    pl.lit(PlacementMethod.UNPLACED),
                ),
            )
            .sort(_ROW)
            .select(*OUTPUT_COLUMNS)
        )
        counts = result["placement_method"].value_counts()
        logger.info("placed %d rows: %s", result.height, dict(zip(counts["placement_method"], counts["count"])))
        return frame.drop([c for c in OUTPUT_COLUMNS if c in frame.columns]).hstack(result)

    def _match_key(self, rows: pl.DataFrame, col: str, table: pl.DataFrame) -> pl.DataFrame:
        """``(_ROW, _AT, address_code)``: the candidate points of each row whose key ``col`` names any.

        A key that names one point gives it. A shared key gives the points
        the record's street/community evidence favours: its community's
        (score 2) or street's (score 1) full name in the address before the
        road, or the record's community / street field naming it; the points
        with the highest score stay (all of them when none is named).
        :meth:`_one_grid` then accepts the row only when they lie in one grid.
        """
        out_schema = {_ROW: pl.UInt32, _AT: pl.Date, "address_code": pl.String}
        cand = rows.select(_ROW, _AT, col, "__ctx", "__comm", "__street").join(table, on=col, how="inner")
        if cand.height == 0:
            return pl.DataFrame(schema=out_schema)
        single = cand.filter(pl.col("__n") == 1).select(_ROW, _AT, "address_code")
        shared = cand.filter(pl.col("__n") > 1)
        if shared.height == 0:
            return single
        ctx = pl.col("__ctx").fill_null("")
        comm_key, street_key = _name_key(pl.col("__comm")), _name_key(pl.col("__street"))
        scored = (
            shared.select(_ROW, _AT, "address_code", "__ctx", "__comm", "__street")
            # left: a point with no names in the index scores 0 and still counts against agreement
            .join(self._point_names, on="address_code", how="left")
            .with_columns(
                __score=(
                    pl.when(ctx.str.contains(pl.col("__pc_full"), literal=True) | (comm_key == pl.col("__pc_key")))
                    .then(2)
                    .otherwise(0)
                    + pl.when(ctx.str.contains(pl.col("__ps_full"), literal=True) | (street_key == pl.col("__ps_key")))
                    .then(1)
                    .otherwise(0)
                ).fill_null(0)
            )
            .group_by(_ROW, _AT, "address_code")
            .agg(pl.col("__score").max())
            .filter(pl.col("__score") == pl.col("__score").max().over(_ROW))
            .select(_ROW, _AT, "address_code")
        )
        return pl.concat([single, scored.cast(out_schema)])

    def _one_grid(self, cand: pl.DataFrame) -> pl.DataFrame:
        """``(_ROW, address_code, grid_code)`` for rows whose candidate points all lie in one grid at ``_AT``.

        ``address_code`` stays only when it is a single point (a house number
        shared by its buildings names the grid, not a building); a row whose
        points lie in different grids, or one of which has no grid then, is
        refused, never guessed.
        """
        # _grid_of_points keeps one point per row: grade each candidate as a row of its own
        cand = cand.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__cand"))
        graded = cand.select("__cand", _ROW, "address_code").join(
            self._grid_of_points(cand.select(pl.col("__cand").alias(_ROW), "address_code", _AT)).select(
                pl.col(_ROW).alias("__cand"), "grid_code"
            ),
            on="__cand",
            how="left",
        )
        return (
            graded.group_by(_ROW)
            .agg(
                pl.col("grid_code").n_unique().alias("__grids"),
                pl.col("grid_code").null_count().alias("__nulls"),
                pl.col("grid_code").first(),
                pl.col("address_code").first(),
                pl.len().alias("__points"),
            )
            .filter((pl.col("__grids") == 1) & (pl.col("__nulls") == 0))
            .with_columns(address_code=pl.when(pl.col("__points") == 1).then(pl.col("address_code")))
            .select(_ROW, "address_code", "grid_code")
        )

    def _in_polygons(self, rows: pl.DataFrame) -> pl.DataFrame:
        import shapely

        if rows.height == 0:
            return rows.select(_ROW, pl.lit(None, dtype=pl.String).alias("grid_code"))
        uniq = rows.select("lon_fixed", "lat_fixed").unique()
        pts = shapely.points(uniq["lon_fixed"].to_numpy(), uniq["lat_fixed"].to_numpy())
        # intersects, not within: a point on a shared edge still lands in a grid
        # (the lower grid code, deterministically).
        i_pt, i_poly = self._tree.query(pts, predicate="intersects")
        pairs = pl.DataFrame(
            {
                "lon_fixed": uniq["lon_fixed"].gather(i_pt),
                "lat_fixed": uniq["lat_fixed"].gather(i_pt),
                "__poly": pl.Series(i_poly, dtype=pl.UInt32),
            }
        ).join(self._poly_versions, on="__poly", how="left")
        hits = rows.join(pairs, on=["lon_fixed", "lat_fixed"], how="inner")
        # the boundary of a grid in force at the time: its newest version started by then
        started = pl.col(_AT).is_null() | pl.col("valid_from").is_null() | (pl.col("valid_from") <= pl.col(_AT))
        in_force = (
            hits.select(_ROW, _AT, "grid_code")
            .unique()
            .join(self._poly_versions.select("grid_code", "snapshot", "valid_from"), on="grid_code", how="inner")
            .filter(started)
            .group_by(_ROW, "grid_code")
            .agg(pl.col("snapshot").max())
        )
        return (
            hits.join(in_force, on=[_ROW, "grid_code", "snapshot"], how="inner")
            .select(_ROW, _AT, "grid_code")
            .join(self.grids.select("grid_code", "valid_from", "valid_to"), on="grid_code", how="inner")
            .filter(_valid_at(pl.col(_AT)))
            .group_by(_ROW)
            .agg(pl.col("grid_code").min())
        )

    def _nearest(self, rows: pl.DataFrame) -> pl.DataFrame:
        if rows.height == 0:
            return rows.select(_ROW, _AT, pl.lit(None, dtype=pl.String).alias("address_code"))
        uniq = rows.select("lon_fixed", "lat_fixed").unique()
        xy = _project(uniq["lon_fixed"].to_numpy(), uniq["lat_fixed"].to_numpy(), self._lat0)
        dist, idx = self._kd.query(xy, k=1, distance_upper_bound=self.max_distance_m)
        hit = np.isfinite(dist)
        near = pl.DataFrame(
            {
                "lon_fixed": uniq["lon_fixed"].filter(pl.Series(hit)),
                "lat_fixed": uniq["lat_fixed"].filter(pl.Series(hit)),
                "address_code": pl.Series(self._kd_codes[idx[hit]], dtype=pl.String),
            }
        )
        return rows.join(near, on=["lon_fixed", "lat_fixed"], how="inner").select(_ROW, _AT, "address_code")

    def _by_names(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``_ROW → (__n_community_code, __n_street_code)`` from names, refusing ambiguity."""
        schema = {_ROW: pl.UInt32, "__n_community_code": pl.String, "__n_street_code": pl.String}
        rows = rows.select(
            _ROW, _name_key(pl.col("__comm")).alias("__ck"), _name_key(pl.col("__street")).alias("__sk")
        ).filter(pl.col("__ck").is_not_null() | pl.col("__sk").is_not_null())
        if rows.height == 0:
            return pl.DataFrame(schema=schema)
        comms = self.grids.select(
            "community_code",
            "street_code",
            _name_key(pl.col("community_name")).alias("__ck"),
            _name_key(pl.col("street_name")).alias("__street_key"),
        ).unique()
        c = (
            rows.filter(pl.col("__ck").is_not_null())
            .join(comms, on="__ck", how="inner")
            .filter(pl.col("__sk").is_null() | (pl.col("__sk") == pl.col("__street_key")))
            .group_by(_ROW)
            .agg(pl.col("community_code").n_unique().alias("n"), pl.col("community_code", "street_code").first())
            .filter(pl.col("n") == 1)
            .select(
                _ROW, pl.col("community_code").alias("__n_community_code"), pl.col("street_code").alias("__c_street")
            )
        )
        streets = self.grids.select("street_code", _name_key(pl.col("street_name")).alias("__sk")).unique()
        s = (
            rows.filter(pl.col("__sk").is_not_null())
            .join(streets, on="__sk", how="inner")
            .group_by(_ROW)
            .agg(pl.col("street_code").n_unique().alias("n"), pl.col("street_code").first())
            .filter(pl.col("n") == 1)
            .select(_ROW, pl.col("street_code").alias("__s_street"))
        )
        return (
            rows.select(_ROW)
            .join(c, on=_ROW, how="left")
            .join(s, on=_ROW, how="left")
            .select(_ROW, "__n_community_code", pl.coalesce("__c_street", "__s_street").alias("__n_street_code"))
        )
