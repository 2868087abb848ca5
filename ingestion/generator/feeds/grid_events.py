"""grid_events: daily grid-worker reports with status updates, UTF-8."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from .._quirks import datetime_texts
from ..district import grid_at
from ..landing import csv_bytes
from ..params import DATETIME_FORMS, EVENT_COLUMNS
from ..patterns import record
from ._common import Context, emit_daily, laid_out, pick_outsiders, pick_residents, render_people, switched_codec

FEED = "grid_events"
KINDS = {
    "矛盾纠纷": ["邻里纠纷", "家庭纠纷", "物业纠纷"],
    "安全隐患": ["消防隐患", "燃气隐患", "用电隐患", "房屋安全"],
    "治安隐患": ["可疑人员", "群租房"],
    "环境卫生": ["垃圾堆放", "污水外溢"],
    "市政设施": ["路灯损坏", "井盖缺失"],
    "民生服务": ["困难救助", "养老服务", "就业帮扶"],
    "特殊人群": ["走访发现异常"],
    "其他": ["其他"],
}
KIND_P = [0.2, 0.18, 0.07, 0.2, 0.12, 0.13, 0.05, 0.05]
DEPTS = ["", "区住建局", "区城管局", "区民政局", "街道综治中心", "社区居委会", "区应急管理局"]
LEVELS = ["网格", "社区", "街道", "区直部门"]
# text columns typed explicitly: built from numpy object arrays, they would be Polars Objects on a day
# (or a whole small district) without events
_TEXT = {c: pl.Utf8 for c in [*EVENT_COLUMNS, "_grid"] if c not in ("状态时间", "办结时间")}


def build(ctx: Context) -> None:
    rng = ctx.rng(60)
    d = ctx.district
    n_res = ctx.people.n_residents
    per_day = rng.poisson(1.0 * n_res / 1000, ctx.days)
    n = int(per_day.sum())
    day = np.repeat(np.array(ctx.dates(), dtype="datetime64[D]"), per_day)
    secs = rng.integers(8 * 3600, 20 * 3600, n)
    secs = secs[np.lexsort((secs, day))]
    rep = day.astype("datetime64[s]") + secs.astype("timedelta64[s]")
    pts = d.points
    pt = rng.integers(0, pts.height, n)
    grid = grid_at(d, pt, day)
    recorded = grid.copy()
    if d.reorg_date is not None:  # some phones still carry the retired grid
        before = pts["grid_before"].to_numpy()[pt]
        # only a retired grid (grid_events.md): a building moved between live grids is recorded as now
        retired = np.isin(before, d.grids.filter(pl.col("valid_to").is_not_null())["grid_code"].to_numpy())
        stale = (before != grid) & (rng.random(n) < 0.3) & retired
        recorded[stale] = before[stale]
    gcodes = d.grids["grid_code"].to_list()
    worker = dict(zip(gcodes, d.grids["worker"].to_list()))
    names = np.array([worker[g] or "社区代报" for g in grid], dtype=object)
    kinds = list(KINDS)
    kc = rng.choice(len(kinds), n, p=KIND_P)
    sub = np.array([KINDS[kinds[c]][int(rng.integers(0, len(KINDS[kinds[c]])))] for c in kc], dtype=object)
    # people involved: often none, else 1-3 pairs 姓名:身份证号
    n_people = np.where(rng.random(n) < 0.6, 0, rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1]))
    total = int(n_people.sum())
    who = np.where(rng.random(total) < 0.92, pick_residents(ctx, rng, total), pick_outsiders(ctx, rng, total))
    r = render_people(ctx, who, rng, feed=FEED)
    pairs = np.char.add(np.char.add(r["name"].astype(str), ":"), r["id"].astype(str)) if total else np.array([])
    off = np.r_[0, np.cumsum(n_people)]
    involved = [";".join(pairs[off[i] : off[i + 1]]) for i in range(n)]
    keys = []
    counter: dict[tuple, int] = {}
    for i in range(n):
        k = (recorded[i], day[i])
        counter[k] = counter.get(k, 0) + 1
        keys.append(f"SJ{recorded[i]}{str(day[i]).replace('-', '')}{counter[k]:03d}")
    std = pts["std_address"].to_numpy()
    plen = len(d.prefix)
    addr = [std[p][plen:] if rng.random() < 0.5 else std[p] for p in pt]
    desc = [f"{s}：{a}，网格员巡查发现，已现场劝导并拍照上报。" for s, a in zip(sub, addr)]
    level = np.array(LEVELS, dtype=object)[rng.choice(4, n, p=[0.6, 0.25, 0.1, 0.05])]
    dept = np.array(DEPTS, dtype=object)[rng.integers(0, len(DEPTS), n)]
    lon = np.round(pts["lon"].to_numpy()[pt], 6)
    lat = np.round(pts["lat"].to_numpy()[pt], 6)
    base = dict(
        事件编号=keys,
        上报时间=datetime_texts(
            pl.Series(rep.astype("datetime64[us]")),
            ctx.rng(64),
            [ctx.params.datetime_forms[FEED][f] for f in DATETIME_FORMS],
        ),
        上报人=names,
        网格编码=recorded,
        事件大类=np.array(kinds, dtype=object)[kc],
        事件小类=sub,
        事件描述=desc,
        发生地址=addr,
        经度=lon.astype(str),
        纬度=lat.astype(str),
        涉及人员=involved,
        处置层级=level,
        派遣部门=dept,
    )
    # status path: each event has 1-3 rows over time
    path = [["已办结"], ["已上报", "已受理", "已办结"], ["已上报", "已派遣", "处置中", "已结案"], ["已上报", "已退回"]]
    pk = rng.choice(4, n, p=[0.35, 0.4, 0.2, 0.05])
    rows = []
    for j in range(4):
        have = np.array([len(path[k]) > j for k in pk], dtype=bool)  # bool even when empty
        status = np.array([path[k][j] if len(path[k]) > j else "" for k in pk], dtype=object)
        t = rep + (rng.integers(600, 3 * 86400, n) * (j + (j > 0) * rng.integers(0, 4, n))).astype("timedelta64[s]")
        if j == 0:
            t = rep + np.where(pk == 0, rng.integers(600, 7200, n), 0).astype("timedelta64[s]")
        done = np.isin(status, ["已办结", "已结案"])
        rate = np.where(
            done,
            np.array(["满意", "基本满意", "不满意", ""], dtype=object)[rng.choice(4, n, p=[0.6, 0.2, 0.05, 0.15])],
            "",
        )
        rows.append(
            pl.DataFrame(
                {
                    **{k: v for k, v in base.items()},
                    "当前状态": status,
                    "_t": t.astype("datetime64[us]"),
                    "群众评价": rate,
                    "_done": done,
                    "_have": have,
                    "_j": np.full(n, j),
                    "_grid": grid,
                    "_rep": rep.astype("datetime64[us]"),
                    "_pi": np.arange(n),
                },
                schema_overrides=_TEXT,
            ).filter(pl.col("_have"))
        )
    allr = pl.concat(rows).sort("_pi", "_j")
    if ctx.patterns is not None and ctx.patterns.grid_events:
        extra, extra_people, extra_r = _injected(ctx, allr, n, worker)
        allr = pl.concat([allr, extra]).sort("_pi", "_j")
        n_people = np.r_[n_people, extra_people]
        off = np.r_[0, np.cumsum(n_people)]
        for k in ("person_id", "id_fault", "name_fault"):
            r[k] = np.r_[r[k], extra_r[k]]
    # times increase along each event's path
    allr = allr.with_columns(_t=pl.col("_t").cum_max().over("_pi"))
    forms = [ctx.params.datetime_forms[FEED][f] for f in DATETIME_FORMS]
    allr = allr.with_columns(状态时间=datetime_texts(allr["_t"], ctx.rng(62), forms))
    allr = allr.with_columns(
        办结时间=pl.when(pl.col("_done")).then(pl.col("状态时间")).otherwise(pl.lit("")),
        _file_date=pl.col("_t").dt.date(),
        _sort=pl.col("_t"),
        _comm=pl.col("_grid").str.slice(0, 12),
        _street=pl.col("_grid").str.slice(0, 9),
    ).filter(pl.col("_file_date") < ctx.end)
    cols = list(EVENT_COLUMNS)
    pid, idf, nf = r["person_id"], r["id_fault"].astype(str), r["name_fault"].astype(str)

    layout_rng = ctx.rng(63)

    def encode(df: pl.DataFrame, name: str, i: int, switched: bool):
        enc, bom = switched_codec(ctx, FEED) if switched else ("utf-8", False)
        return csv_bytes(laid_out(ctx, FEED, df, cols, i, layout_rng), encoding=enc, bom=bom), df.height

    def on_file(name: str, df: pl.DataFrame) -> None:
        m = df.height
        rec = np.arange(1, m + 1)
        ctx.truth.event_rows(
            FEED, name, rec, df["事件编号"], df["_rep"], df["_grid"], df["_comm"], df["_street"], ["address_point"] * m
        )
        ev = df["_pi"].to_numpy()
        cnt = n_people[ev]
        if cnt.sum() == 0:
            return
        rec_rep = np.repeat(rec, cnt)
        member = np.concatenate([np.arange(1, c + 1) for c in cnt if c > 0])
        src = np.concatenate([np.arange(off[e], off[e + 1]) for e, c in zip(ev, cnt) if c > 0])
        ctx.truth.records.add(FEED, name, "", rec_rep, member, pid[src], idf[src], nf[src])

    emit_daily(ctx, FEED, allr, "SB_{day:%Y%m%d}.csv", encode, on_file, feed_no=61)


def _injected(ctx: Context, allr: pl.DataFrame, n: int, worker: dict):
    """The pattern plan's grid events, as rows shaped like ``allr`` (``_pi`` from ``n`` on)."""
    rng = ctx.rng(903)
    pts = ctx.district.points
    specs = ctx.patterns.grid_events
    std, lon, lat = pts["std_address"].to_numpy(), pts["lon"].to_numpy(), pts["lat"].to_numpy()
    people = [p for s in specs for p in s.involved]
    r = render_people(ctx, np.array(people, dtype=np.int64), rng, feed=FEED, id_rates={})
    rows, at = [], 0
    for k, s in enumerate(specs):
        rep = dt.datetime.combine(s.day, dt.time(9)) + dt.timedelta(seconds=int(rng.integers(0, 9 * 3600)))
        m = len(s.involved)
        involved = ";".join(f"{r['name'][at + i]}:{r['id'][at + i]}" for i in range(m))
        pids = [int(x) for x in r["person_id"][at : at + m]]
        at += m
        closed = s.pattern == "grid_spike"
        path = (
            [("已办结", rep + dt.timedelta(hours=1))]
            if closed
            else [("已上报", rep), ("已受理", rep + dt.timedelta(hours=2))]
        )
        for j, (status, t) in enumerate(path):
            rows.append(
                {
                    "事件编号": s.key(),
                    "上报时间": rep.strftime("%Y-%m-%d %H:%M:%S"),
                    "上报人": worker[s.grid] or "社区代报",
                    "网格编码": s.grid,
                    "事件大类": s.category,
                    "事件小类": s.subcategory,
                    "事件描述": f"{s.subcategory}：{std[s.point]}，网格员巡查发现，已拍照上报。",
                    "发生地址": std[s.point],
                    "经度": str(round(float(lon[s.point]), 6)),
                    "纬度": str(round(float(lat[s.point]), 6)),
                    "涉及人员": involved,
                    "处置层级": "网格" if closed else "社区",
                    "派遣部门": "",
                    "当前状态": status,
                    "_t": t,
                    "群众评价": "满意" if closed else "",
                    "_done": closed,
                    "_have": True,
                    "_j": j,
                    "_grid": s.grid,
                    "_rep": rep,
                    "_pi": n + k,
                }
            )
        for p_id in pids or [None]:
            record(
                ctx.patterns,
                pattern=s.pattern,
                pattern_id=s.pattern_id,
                feed=FEED,
                record_key=s.key(),
                role="involved" if p_id is not None else "event",
                person_id=p_id,
                grid_code=s.grid,
                record_date=s.day,
                category=f"{s.category}/{s.subcategory}",
            )
    extra = pl.DataFrame(rows, schema=allr.schema)
    return extra, np.array([len(s.involved) for s in specs], dtype=np.int64), r
