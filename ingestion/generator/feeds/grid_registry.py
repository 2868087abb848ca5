"""grid_registry: full snapshots at the start and at the reorganisation (splits, merges, and buildings
reassigned between existing grids, with their boundaries redrawn)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from .._quirks import fmt_date
from ..landing import csv_bytes
from ._common import Context

FEED = "grid_registry"


def build(ctx: Context) -> None:
    d = ctx.district
    rng = ctx.rng(10)
    res = ctx.people.residents()
    dates = [ctx.start] + ([d.reorg_date] if d.reorg_date else [])
    comm = dict(d.communities.select("community_code", "community_name").iter_rows())
    street = dict(d.streets.select("street_code", "street_name").iter_rows())
    for k, snap in enumerate(dates):
        grids = d.grids.filter(pl.col("valid_from") <= snap)
        after = k > 0
        pts = d.points.with_columns(grid=pl.col("grid_after" if after else "grid_before"))
        home = res.filter(pl.col("registered_on") <= snap).with_columns(
            grid=pl.Series(pts["grid"].to_numpy()[res.filter(pl.col("registered_on") <= snap)["point_idx"].to_numpy()])
        )
        counts = home.group_by("grid").agg(hh=pl.col("household_id").n_unique(), pop=pl.len())
        grids = grids.join(counts, left_on="grid_code", right_on="grid", how="left").sort("grid_code")
        n = grids.height
        empty_counts = rng.random(n) < 0.05
        st12 = rng.random(n) < 0.05
        units = pl.DataFrame(
            {
                "网格编码": grids["grid_code"],
                "网格名称": grids["grid_name"],
                "网格类型": grids["grid_type"],
                "所属社区编码": grids["community_code"],
                "所属社区": [comm[c] for c in grids["community_code"]],
                "所属街道编码": np.where(
                    st12,
                    np.char.add(grids["street_code"].to_numpy().astype(str), "000"),
                    grids["street_code"].to_numpy().astype(str),
                ),
                "所属街道": [street[s] for s in grids["street_code"]],
                "所属区县编码": [d.county_code] * n,
                "所属区县": [d.county_name] * n,
                "网格员": grids["worker"],
                "网格员电话": grids["worker_phone"],
                "户数": np.where(empty_counts, "", grids["hh"].fill_null(0).cast(pl.Utf8).to_numpy()),
                "常住人口": np.where(empty_counts, "", grids["pop"].fill_null(0).cast(pl.Utf8).to_numpy()),
                "启用日期": [fmt_date(v, 0) for v in grids["valid_from"]],
                "停用日期": [fmt_date(v, 0) if v is not None and v <= snap else "" for v in grids["valid_to"]],
                "并入网格编码": [
                    m if (m is not None and v is not None and v <= snap) else ""
                    for m, v in zip(grids["merged_into"], grids["valid_to"])
                ],
            }
        )
        ctx.landing.deliver(FEED, snap, "grid_units.csv", csv_bytes(units, bom=True), n)
        p = pts.sort("address_code")
        points = pl.DataFrame(
            {
                "地址编码": p["address_code"],
                "标准地址": p["std_address"],
                "街路巷": p["road"],
                "门牌号": p["house_no"],
                "楼栋": p["building"],
                "网格编码": p["grid"],
                "经度": p["lon"],
                "纬度": p["lat"],
            }
        )
        ctx.landing.deliver(FEED, snap, "address_points.csv", csv_bytes(points, bom=True), points.height)
        active = grids.filter(pl.col("valid_to").is_null() | (pl.col("valid_to") > snap))
        if not after:  # boundaries as drawn before the reorganisation moved buildings between grids
            active = active.with_columns(min_lon=pl.col("min_lon0"), max_lon=pl.col("max_lon0"))
        feats = []
        for i, g in enumerate(active.iter_rows(named=True)):
            ring = [
                [round(g["min_lon"], 6), round(g["min_lat"], 6)],
                [round(g["max_lon"], 6), round(g["min_lat"], 6)],
                [round(g["max_lon"], 6), round(g["max_lat"], 6)],
                [round(g["min_lon"], 6), round(g["max_lat"], 6)],
                [round(g["min_lon"], 6), round(g["min_lat"], 6)],
            ]
            geom = (
                {"type": "MultiPolygon", "coordinates": [[ring]]}
                if i % 10 == 3
                else {"type": "Polygon", "coordinates": [ring]}
            )
            feats.append(
                {
                    "type": "Feature",
                    "properties": {"网格编码": g["grid_code"], "网格名称": g["grid_name"]},
                    "geometry": geom,
                }
            )
        gj = json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False, separators=(",", ":"))
        ctx.landing.deliver(FEED, snap, "grid_boundaries.geojson", b"\xef\xbb\xbf" + gj.encode("utf-8"), len(feats))
