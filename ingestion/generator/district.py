"""A coherent county: streets, communities, a lattice of grid cells, roads and address points."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from faker import Faker

BASE_LON, BASE_LAT = 109.19, 27.73
CELL_W, CELL_H = 0.012, 0.010
_SYLLABLES = list("锦江环北河西灯塔川硐滑石坝黄溪和平漾头谢桥云场坪桐木坪六龙山正光白水洞茶店瓦屋坪寨龙田鹿溪桃映")
_ROAD_SUFFIXES = ["路", "街", "大道", "巷", "大街"]


@dataclass
class District:
    county_code: str
    county_name: str
    province: str
    city: str
    streets: pl.DataFrame  # street_code, street_name, is_town
    communities: pl.DataFrame  # community_code, community_name, street_code
    grids: pl.DataFrame  # grid history, one row per grid code
    points: pl.DataFrame  # address points with grid before/after the reorganisation
    reorg_date: dt.date | None

    @property
    def prefix(self) -> str:
        return f"{self.province}{self.city}{self.county_name}"


def _place_names(rng: np.random.Generator, n: int, length: int = 2) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        name = "".join(rng.choice(_SYLLABLES, length))
        if name not in seen and len(set(name)) == length:
            seen.add(name)
            out.append(name)
    return out


def road_pool(seed: int, n: int) -> list[str]:
    """Distinct road names from Faker zh_CN stems; some stems deliberately get two suffixes (滨江路/滨江大道)."""
    fk = Faker("zh_CN")
    fk.seed_instance(seed)
    rng = np.random.default_rng([seed, 77])
    stems: list[str] = []
    seen: set[str] = set()
    tries = 0
    while len(stems) < n and tries < n * 50:
        tries += 1
        stem = fk.city_name() if rng.random() < 0.7 else fk.last_name() + fk.first_name()[:1]
        if stem not in seen:
            seen.add(stem)
            stems.append(stem)
    while len(stems) < n:  # Faker pool exhausted at huge scales: compose two stems
        stems.append(stems[len(stems) % 50] + stems[(len(stems) * 7) % 97 + 1][:1] + str(len(stems)))
    roads: list[str] = []
    for i, stem in enumerate(stems[:n]):
        roads.append(stem + ("路" if rng.random() < 0.6 else _ROAD_SUFFIXES[int(rng.integers(1, 5))]))
    # pairs like 滨江路 / 滨江大道: distinct roads sharing a stem
    for i in range(0, n, 9):
        base = roads[i]
        stem = stems[i]
        alt = stem + ("大道" if not base.endswith("大道") else "路")
        if alt not in roads:
            roads[min(i + 1, n - 1)] = alt
    return roads


#: Road names found in many counties, often in several of one county's streets and towns.
COMMON_ROADS = ["人民路", "解放路", "建设路", "中山路", "新华路", "胜利路", "和平路", "文化路", "团结路", "工业路"]
#: Share of grids that hand a strip of buildings to a neighbouring existing grid at the reorganisation.
REASSIGN_RATE = (0.03, 0.10)
#: Share of streets each recurring road name appears in, and how many such names (per seed).
RECUR_STREETS = (0.3, 0.7)
RECUR_NAMES = (1, 4)


def _reassign(grid_rows: list[dict], cols: int, rng: np.random.Generator) -> dict[str, tuple[str, float, bool]]:
    """Boundary redraws between existing grids: a donor hands its buildings beyond a cut to its east or west
    neighbour in the same community (both exist before and after; no code is created or retired).

    Shrinks the donor's and grows the receiver's rectangle (``min_lon``/``max_lon``; ``min_lon0``/``max_lon0``
    keep the geometry before) and returns ``donor -> (receiver, cut longitude, receiver is east)``.
    """
    steady = [g for g in grid_rows if g["valid_to"] is None and g["valid_from"] == grid_rows[0]["valid_from"]]
    by_cell = {g["cell"]: g for g in steady}
    n = int(round(rng.uniform(*REASSIGN_RATE) * len(steady)))
    busy: set[str] = set()
    out: dict[str, tuple[str, float, bool]] = {}
    for i in rng.permutation(len(steady)):
        if len(out) >= max(1, n):
            break
        x = steady[int(i)]
        east = bool(rng.random() < 0.5)
        y = by_cell.get(x["cell"] + (1 if east else -1))
        if (
            y is None
            or y["cell"] // cols != x["cell"] // cols
            or y["community_code"] != x["community_code"]
            or x["grid_code"] in busy
            or y["grid_code"] in busy
        ):
            continue
        share = float(rng.uniform(0.2, 0.4))
        width = x["max_lon"] - x["min_lon"]
        if east:
            cut = x["max_lon"] - share * width
            x["max_lon"], y["min_lon"] = cut, cut
        else:
            cut = x["min_lon"] + share * width
            x["min_lon"], y["max_lon"] = cut, cut
        busy.update((x["grid_code"], y["grid_code"]))
        out[x["grid_code"]] = (y["grid_code"], cut, east)
    return out


def recur_road_names(
    pool: list[str], n_streets: int, per_street: int, rng: np.random.Generator, *, used: set[int]
) -> list[str]:
    """``pool`` (``per_street`` roads for each street in turn) with a few common names (人民路, 解放路, ...) put
    in several streets: the same road name with its own house numbers in each, as in real counties.

    A name replaces a road some grid uses (``used`` pool indices), so its buildings exist; a slot already
    given a common name is not taken again."""
    if n_streets < 2:
        return pool
    pool = list(pool)
    taken: set[int] = set()
    k = int(rng.integers(RECUR_NAMES[0], RECUR_NAMES[1] + 1))
    for name in [COMMON_ROADS[int(i)] for i in rng.choice(len(COMMON_ROADS), k, replace=False)]:
        m = min(n_streets, max(2, int(round(rng.uniform(*RECUR_STREETS) * n_streets))))
        for s in sorted(int(v) for v in rng.choice(n_streets, m, replace=False)):
            slots = [i for i in range(s * per_street, (s + 1) * per_street) if i in used and i not in taken]
            if not slots or name in pool[s * per_street : (s + 1) * per_street]:
                continue
            i = slots[int(rng.integers(0, len(slots)))]
            pool[i] = name
            taken.add(i)
    return pool


def build_district(
    *,
    residents: int,
    days: int,
    start: dt.date,
    county_code: str,
    county_name: str,
    province: str,
    city: str,
    seed: int,
) -> District:
    if not (len(county_code) == 6 and county_code.isdigit()):
        raise ValueError(f"county_code={county_code!r} should be a 6-digit GB/T 2260 code")
    rng = np.random.default_rng([seed, 1])
    n_grids = max(6, round(residents / 500))
    # communities of 3-8 grids, streets of 4-10 communities, at least 3 streets
    comm_sizes: list[int] = []
    while sum(comm_sizes) < n_grids:
        comm_sizes.append(int(rng.integers(3, 9)))
    comm_sizes[-1] -= sum(comm_sizes) - n_grids
    if comm_sizes[-1] < 1:
        comm_sizes[-2] += comm_sizes.pop()
    n_comm = len(comm_sizes)
    n_streets = max(3, min(n_comm, math.ceil(n_comm / 7)))
    while n_comm < n_streets:  # tiny scales: split grids into more communities
        big = int(np.argmax(comm_sizes))
        comm_sizes[big] -= 1
        comm_sizes.append(1)
        n_comm += 1
    street_of_comm = np.sort(np.concatenate([np.arange(n_streets), rng.integers(0, n_streets, n_comm - n_streets)]))

    street_names = _place_names(rng, n_streets)
    n_town = n_streets // 3
    streets = []
    town_seq, st_seq = 100, 1
    for s in range(n_streets):
        is_town = s >= n_streets - n_town
        if is_town:
            code, town_seq = f"{county_code}{town_seq:03d}", town_seq + 1
        else:
            code, st_seq = f"{county_code}{st_seq:03d}", st_seq + 1
        streets.append((code, street_names[s] + ("镇" if is_town else "街道"), is_town))
    comm_names = _place_names(rng, n_comm)
    communities = []
    per_street_seq: dict[int, int] = {}
    for c in range(n_comm):
        s = int(street_of_comm[c])
        code_s, _, is_town = streets[s]
        rural = is_town and rng.random() < 0.8
        seq = per_street_seq.get(s, 200 if rural else 1)
        seq = max(seq, 200) if rural else seq
        per_street_seq[s] = seq + 1
        communities.append((f"{code_s}{seq:03d}", comm_names[c] + ("村" if rural else "社区"), code_s))

    cols = math.ceil(math.sqrt(n_grids * 1.4))
    rows = math.ceil(n_grids / cols)
    lon0, lat0 = BASE_LON - cols * CELL_W / 2, BASE_LAT - rows * CELL_H / 2
    fk = Faker("zh_CN")
    fk.seed_instance(seed)
    grid_rows = []
    k = 0
    epoch = start - dt.timedelta(days=int(rng.integers(400, 1500)))
    for c, size in enumerate(comm_sizes):
        ccode, cname, scode = communities[c]
        for g in range(size):
            r, q = divmod(k, cols)
            special = rng.random() < 0.05
            gname = (
                f"{cname}{['学校', '医院', '农贸市场', '工业园'][int(rng.integers(0, 4))]}专属网格"
                if special
                else f"{cname}第{g + 1}网格"
            )
            grid_rows.append(
                dict(
                    grid_code=f"{ccode}{g + 1:03d}",
                    grid_name=gname,
                    grid_type="专属网格" if special else "综合网格",
                    community_code=ccode,
                    street_code=scode,
                    valid_from=epoch,
                    valid_to=None,
                    merged_into=None,
                    min_lon=lon0 + q * CELL_W,
                    min_lat=lat0 + r * CELL_H,
                    max_lon=lon0 + (q + 1) * CELL_W,
                    max_lat=lat0 + (r + 1) * CELL_H,
                    cell=k,
                )
            )
            grid_rows[-1].update(min_lon0=grid_rows[-1]["min_lon"], max_lon0=grid_rows[-1]["max_lon"])
            k += 1
    # reorganisation mid-period: one split, one merge (each inside one community), and buildings
    # reassigned between existing neighbouring grids (_reassign)
    reorg = start + dt.timedelta(days=days // 2) if days >= 2 else None
    split_of: dict[str, tuple[str, str, float]] = {}
    merged: dict[str, str] = {}
    moved: dict[str, tuple[str, float, bool]] = {}
    if reorg is not None:
        by_comm: dict[str, list[dict]] = {}
        for g in grid_rows:
            by_comm.setdefault(g["community_code"], []).append(g)
        cands = sorted(c for c, gs in by_comm.items() if len(gs) >= 3)
        if cands:
            ccode = cands[int(rng.integers(0, len(cands)))]
            gs = by_comm[ccode]
            nxt = len(gs) + 1
            old = gs[0]
            cut = old["min_lon"] + 0.6 * (old["max_lon"] - old["min_lon"])
            a = dict(
                old,
                grid_code=f"{ccode}{nxt:03d}",
                grid_name=f"{old['grid_name']}一",
                valid_from=reorg,
                max_lon=cut,
                grid_type=old["grid_type"],
            )
            b = dict(
                old, grid_code=f"{ccode}{nxt + 1:03d}", grid_name=f"{old['grid_name']}二", valid_from=reorg, min_lon=cut
            )
            old["valid_to"], old["merged_into"] = reorg, a["grid_code"]
            split_of[old["grid_code"]] = (a["grid_code"], b["grid_code"], cut)
            new = [a, b]
            # merge: two horizontally adjacent cells of another (or the same) community
            for cc in cands[::-1]:
                g2 = [g for g in by_comm[cc] if g["valid_to"] is None]
                pair = next(
                    (
                        (x, y)
                        for x, y in zip(g2, g2[1:])
                        if y["cell"] == x["cell"] + 1 and x["cell"] // cols == y["cell"] // cols
                    ),
                    None,
                )
                if pair:
                    x, y = pair
                    seq = len(by_comm[cc]) + (3 if cc == ccode else 1)
                    m = dict(
                        x,
                        grid_code=f"{cc}{seq:03d}",
                        grid_name=f"{x['grid_name'][:-2]}合并网格"
                        if x["grid_name"].endswith("网格")
                        else x["grid_name"] + "合并",
                        valid_from=reorg,
                        max_lon=y["max_lon"],
                        grid_type="综合网格",
                    )
                    for old_g in (x, y):
                        old_g["valid_to"], old_g["merged_into"] = reorg, m["grid_code"]
                        merged[old_g["grid_code"]] = m["grid_code"]
                    new.append(m)
                    break
            grid_rows.extend(new)
            moved = _reassign(grid_rows, cols, np.random.default_rng([seed, 1, 19]))
    for g in grid_rows:
        vacant = rng.random() < 0.04
        g["worker"] = "" if vacant else fk.name()
        g["worker_phone"] = "" if vacant else "1" + str(int(rng.integers(3, 10))) + f"{int(rng.integers(0, 10**9)):09d}"
        g.pop("cell")
    grids = pl.DataFrame(grid_rows, schema_overrides={"valid_to": pl.Date, "merged_into": pl.Utf8}).sort("grid_code")

    # address points (building level), ~40 residents per building
    base = grids.filter(pl.col("valid_from") == epoch)
    per = max(3, round(residents / len(base) / 40))
    n_pts = per * len(base)
    gi = np.repeat(np.arange(len(base)), per)
    min_lon, max_lon = base["min_lon0"].to_numpy()[gi], base["max_lon0"].to_numpy()[gi]
    min_lat, max_lat = base["min_lat"].to_numpy()[gi], base["max_lat"].to_numpy()[gi]
    lon = np.round(min_lon + (0.05 + 0.9 * rng.random(n_pts)) * (max_lon - min_lon), 6)
    lat = np.round(min_lat + (0.05 + 0.9 * rng.random(n_pts)) * (max_lat - min_lat), 6)
    g_before = base["grid_code"].to_numpy()[gi]
    g_after = g_before.copy()
    for old, (a, b, cut) in split_of.items():
        sel = g_before == old
        g_after[sel] = np.where(lon[sel] < cut, a, b)
    for old, m in merged.items():
        g_after[g_before == old] = m
    for donor, (receiver, cut, east) in moved.items():
        sel = (g_before == donor) & ((lon >= cut) if east else (lon < cut))
        g_after[sel] = receiver
    # roads: each street owns a pool; each grid uses 2 of its street's roads
    st_codes = [s[0] for s in streets]
    roads_per_street = max(4, math.ceil(len(base) / n_streets * 1.2))
    street_idx = {c: i for i, c in enumerate(st_codes)}
    b_street = base["street_code"].to_numpy()
    grid_roads = np.array(
        [
            [street_idx[s] * roads_per_street + int(x) for x in rng.choice(roads_per_street, 2, replace=False)]
            for s in b_street
        ]
    )
    pool = recur_road_names(
        road_pool(seed, roads_per_street * n_streets),
        n_streets,
        roads_per_street,
        np.random.default_rng([seed, 1, 23]),
        used=set(grid_roads.ravel().tolist()),
    )
    road_id = grid_roads[gi, rng.integers(0, 2, n_pts)]
    # house numbers increase along a road
    order = np.lexsort((lon, road_id))
    house = np.empty(n_pts, dtype=np.int64)
    rs = road_id[order]
    first = np.r_[True, rs[1:] != rs[:-1]]
    run_start = np.maximum.accumulate(np.where(first, np.arange(n_pts), 0))
    j = np.empty(n_pts, dtype=np.int64)
    j[order] = np.arange(n_pts) - run_start
    house = j // 3 * 2 + 1
    bld = j % 3 + 1
    hs = house.astype(str)
    form = rng.random(n_pts)
    # 88号3栋 mostly; 88-2号 and 88号附1 are separate single-building plots
    house_txt = np.where(
        form < 0.88,
        np.char.add(hs, "号"),
        np.where(
            form < 0.94,
            np.char.add(np.char.add(np.char.add(hs, "-"), bld.astype(str)), "号"),
            np.char.add(np.char.add(hs, "号附"), bld.astype(str)),
        ),
    )
    bld = np.where(form < 0.88, bld, 0)
    bld_txt = np.where(bld > 0, np.char.add(bld.astype(str), "栋"), "")
    codes = rng.choice(16**8, size=n_pts * 2, replace=False)[:n_pts] if n_pts < 10**7 else None
    addr_code = np.char.add(f"DZ{county_code}", np.char.zfill(np.char.upper(np.array([f"{c:08x}" for c in codes])), 8))
    comm = dict(zip([c[0] for c in communities], [c[1] for c in communities]))
    sname = dict(zip(st_codes, [s[1] for s in streets]))
    b_comm = base["community_code"].to_numpy()[gi]
    b_st = base["street_code"].to_numpy()[gi]
    road_names = np.array(pool, dtype=object)[road_id]
    local = [f"{sname[s]}{comm[c]}" for s, c in zip(b_st, b_comm)]
    points = pl.DataFrame(
        {
            "address_code": addr_code,
            "road": road_names.astype(str),
            "house_no": house_txt,
            "building": bld_txt,
            "building_no": bld,
            "grid_before": g_before,
            "grid_after": g_after,
            "community_code": b_comm,
            "street_code": b_st,
            "lon": lon,
            "lat": lat,
            "local": local,
        }
    ).with_columns(
        std_address=pl.lit(f"{province}{city}{county_name}")
        + pl.col("local")
        + pl.col("road")
        + pl.col("house_no")
        + pl.col("building")
    )
    return District(
        county_code=county_code,
        county_name=county_name,
        province=province,
        city=city,
        streets=pl.DataFrame(streets, schema=["street_code", "street_name", "is_town"], orient="row"),
        communities=pl.DataFrame(communities, schema=["community_code", "community_name", "street_code"], orient="row"),
        grids=grids,
        points=points,
        reorg_date=reorg,
    )


def grid_at(district: District, point_idx: np.ndarray, when: np.ndarray) -> np.ndarray:
    """True grid of address points at dates ``when`` (datetime64[D])."""
    before = district.points["grid_before"].to_numpy()[point_idx]
    if district.reorg_date is None:
        return before
    after = district.points["grid_after"].to_numpy()[point_idx]
    return np.where(when < np.datetime64(district.reorg_date), before, after)
