"""police_incidents: daily 110 increments, first 处理中 and later updated, GB18030."""

from __future__ import annotations

import numpy as np
import polars as pl

from .._quirks import datetime_texts
from ..district import grid_at
from ..landing import csv_bytes
from ..params import DATETIME_FORMS, INCIDENT_COLUMNS
from ..patterns import record
from ._common import Context, emit_daily, laid_out, pick_outsiders, pick_residents, render_people, switched_codec

FEED = "police_incidents"
CATEGORIES = {
    "刑事案件": ["盗窃", "诈骗", "故意伤害"],
    "治安案件": ["殴打他人", "寻衅滋事", "噪音扰民"],
    "交通事故": ["车辆剐蹭", "人员受伤事故"],
    "火灾事故": ["居民楼火情", "车辆起火"],
    "纠纷": ["邻里纠纷", "家庭纠纷", "经济纠纷", "劳资纠纷", "物业纠纷"],
    "群众求助": ["走失寻人", "开锁求助", "醉酒求助"],
    "举报投诉": ["违法经营", "赌博线索"],
    "其他警情": ["其他"],
}
CAT_P = [0.06, 0.14, 0.12, 0.02, 0.3, 0.2, 0.08, 0.08]
OUTCOMES = ["已处理", "调解成功", "调解不成功", "移交相关部门", "无效警情"]
TEMPLATES = [
    '报警人称在{place}与邻居发生争执，对方说"再吵就动手"，请求民警到场处理。',
    "报警人称：{place}有人{sub}，现场约3人，\n请求出警。",
    '{place}附近{sub}，报警人{name}（电话{phone}）称"情况紧急"，要求尽快到场。',
    "报警人反映{sub}，地点{place}，已持续约1小时，\n民警到场后经了解，双方同意协商。",
    "报警人称其{sub}，地址：{place}，损失约2000元，请求处理。",
]


def build(ctx: Context) -> None:
    rng = ctx.rng(30)
    d = ctx.district
    n_res = ctx.people.n_residents
    lam = 0.5 * n_res / 1000
    per_day = rng.poisson(lam, ctx.days)
    n = int(per_day.sum())
    day = np.repeat(np.array(ctx.dates(), dtype="datetime64[D]"), per_day)
    seq = np.concatenate([np.arange(1, k + 1) for k in per_day]) if n else np.array([], dtype=int)
    secs = rng.integers(0, 86400, n)
    secs = secs[np.lexsort((secs, day))]
    call = day.astype("datetime64[s]") + secs.astype("timedelta64[s]")
    kind = rng.choice(3, n, p=[0.8, 0.13, 0.07])
    who = np.where(kind == 0, pick_residents(ctx, rng, n), pick_outsiders(ctx, rng, n))
    r = render_people(ctx, who, rng, feed=FEED)
    anon = kind == 2
    r["name"][anon], r["name_fault"][anon] = "匿名", "anonymous"
    no_id = anon | (rng.random(n) < 0.5)
    r["id"][no_id], r["id_fault"][no_id] = "", "empty"
    r["person_id"][anon] = 0
    home_pt = ctx.P["point"][who]
    pt = np.where((home_pt >= 0) & (rng.random(n) < 0.5), home_pt, rng.integers(0, d.points.height, n))
    grid = grid_at(d, pt, call.astype("datetime64[D]"))
    pts = d.points
    std, local, road = pts["std_address"].to_numpy(), pts["local"].to_numpy(), pts["road"].to_numpy()
    lon, lat = pts["lon"].to_numpy()[pt], pts["lat"].to_numpy()[pt]
    comm_name = dict(d.communities.select("community_code", "community_name").iter_rows())
    hint = rng.choice(3, n, p=[0.75, 0.17, 0.08])
    prefix_len = len(d.prefix)
    addr = np.empty(n, dtype=object)
    for k in range(n):
        p = pt[k]
        if hint[k] == 0:
            addr[k] = std[p] if rng.random() < 0.7 else std[p][prefix_len:]
        elif hint[k] == 1:
            addr[k] = local[p] + road[p] + ["附近", "路口", "路段", ""][int(rng.integers(0, 4))]
        else:
            addr[k] = comm_name[pts["community_code"][int(p)]] + ["", "辖区", "一带"][int(rng.integers(0, 3))]
    lon_s = np.round(lon, 6).astype(str).astype(object)
    lat_s = np.round(lat, 6).astype(str).astype(object)
    lon_s[hint == 2], lat_s[hint == 2] = "", ""
    cf = ctx.params.coordinates  # the seed's share of empty, 0 and swapped coordinates
    fault = np.where(
        hint == 0,
        rng.choice(4, n, p=[1 - cf["empty"] - cf["zero"] - cf["swapped"], cf["empty"], cf["zero"], cf["swapped"]]),
        0,
    )
    lon_s[fault == 1], lat_s[fault == 1] = "", ""
    lon_s[fault == 2], lat_s[fault == 2] = "0", "0"
    sw = fault == 3
    lon_s[sw], lat_s[sw] = lat_s[sw].copy(), lon_s[sw].copy()
    cats = list(CATEGORIES)
    cat = rng.choice(len(cats), n, p=CAT_P)
    sub = np.array([CATEGORIES[cats[c]][int(rng.integers(0, len(CATEGORIES[cats[c]])))] for c in cat], dtype=object)
    tpl = rng.integers(0, len(TEMPLATES), n)
    text = [
        TEMPLATES[t].format(place=road[p], sub=s, name=ctx.P["name"][w], phone=ctx.P["phone"][w])
        for t, p, s, w in zip(tpl, pt, sub, who)
    ]
    key = [f"J{d.county_code}{str(dd).replace('-', '')}{s:05d}" for dd, s in zip(day, seq)]
    station = np.array([s.replace("街道", "").replace("镇", "") + "派出所" for s in d.streets["street_name"]])
    st_idx = {c: i for i, c in enumerate(d.streets["street_code"])}
    stn = station[[st_idx[s] for s in pts["street_code"].to_numpy()[pt]]]
    pending = rng.random(n) < 0.65
    outcome = np.array(OUTCOMES, dtype=object)[rng.choice(5, n, p=[0.55, 0.2, 0.08, 0.1, 0.07])]
    first_fb = call + rng.integers(300, 5400, n).astype("timedelta64[s]")
    late = rng.random(n) < 0.2
    delay_days = np.where(late, rng.integers(14, 41, n), rng.integers(0, 4, n))
    upd_fb = (call.astype("datetime64[D]") + delay_days.astype("timedelta64[D]")).astype(
        "datetime64[s]"
    ) + rng.integers(8 * 3600, 22 * 3600, n).astype("timedelta64[s]")
    upd_fb = np.maximum(upd_fb, first_fb + np.timedelta64(1800, "s"))
    how = np.array(["110电话", "短信报警", "网络报警", "现场报警"], dtype=object)[
        rng.choice(4, n, p=[0.85, 0.03, 0.05, 0.07])
    ]
    base = pl.DataFrame(
        {
            "警情编号": key,
            "接警时间": datetime_texts(
                pl.Series(call.astype("datetime64[us]")),
                ctx.rng(34),
                [ctx.params.datetime_forms[FEED][f] for f in DATETIME_FORMS],
            ),
            "报警方式": how,
            "报警人": r["name"],
            "报警人证件号码": r["id"],
            "报警电话": r["phone"],
            "发生地址": addr,
            "经度": lon_s,
            "纬度": lat_s,
            "警情类别": np.array(cats, dtype=object)[cat],
            "警情细类": sub,
            "简要警情": text,
            "管辖单位": stn,
            "_pid": r["person_id"],
            "_idf": r["id_fault"].astype(str),
            "_nf": r["name_fault"].astype(str),
            "_call": call.astype("datetime64[us]"),
            "_grid": grid,
            "_comm": pts["community_code"].to_numpy()[pt],
            "_street": pts["street_code"].to_numpy()[pt],
            "_hint": np.array(["address_point", "coordinate", "community_only"])[hint],
        },
        schema_overrides={"经度": pl.Utf8, "纬度": pl.Utf8},
    )
    if ctx.patterns is not None and ctx.patterns.police:
        extra, extra_outcome, extra_call = _injected(ctx, base, station, st_idx)
        base = pl.concat([base, extra])
        pending = np.r_[pending, np.zeros(extra.height, dtype=bool)]
        outcome = np.r_[outcome, extra_outcome]
        first_fb = np.r_[first_fb, extra_call + np.timedelta64(3600, "s")]
        upd_fb = np.r_[upd_fb, extra_call + np.timedelta64(7200, "s")]
    first = base.with_columns(
        处警结果=pl.Series(np.where(pending, "处理中", outcome), dtype=pl.Utf8),
        _fb=pl.Series(first_fb.astype("datetime64[us]")),
    )
    upd = base.filter(pl.Series(pending)).with_columns(
        处警结果=pl.Series(outcome[pending], dtype=pl.Utf8), _fb=pl.Series(upd_fb[pending].astype("datetime64[us]"))
    )
    forms = [ctx.params.datetime_forms[FEED][f] for f in DATETIME_FORMS]
    rows = pl.concat([first, upd])
    rows = rows.with_columns(
        反馈时间=datetime_texts(rows["_fb"], ctx.rng(32), forms),
        _file_date=pl.col("_fb").dt.date(),
        _sort=pl.col("_fb"),
    ).filter(pl.col("_file_date") < ctx.end)
    cols = list(INCIDENT_COLUMNS)

    layout_rng = ctx.rng(33)

    def encode(df: pl.DataFrame, name: str, i: int, switched: bool):
        enc, bom = switched_codec(ctx, FEED) if switched else ("gb18030", False)
        return csv_bytes(laid_out(ctx, FEED, df, cols, i, layout_rng), encoding=enc, bom=bom, crlf=True), df.height

    def on_file(name: str, df: pl.DataFrame) -> None:
        m = df.height
        rec = np.arange(1, m + 1)
        ctx.truth.records.add(
            FEED, name, "", rec, np.ones(m), df["_pid"].to_numpy(), df["_idf"].to_numpy(), df["_nf"].to_numpy()
        )
        ctx.truth.event_rows(
            FEED, name, rec, df["警情编号"], df["_call"], df["_grid"], df["_comm"], df["_street"], df["_hint"]
        )

    emit_daily(ctx, FEED, rows, "JQ_{day:%Y%m%d}.csv", encode, on_file, feed_no=31)


def _injected(ctx: Context, base: pl.DataFrame, station: np.ndarray, st_idx: dict):
    """The pattern plan's 110 calls: caller with a clean ID, placed by a full standard address."""
    rng = ctx.rng(902)
    d, pts = ctx.district, ctx.district.points
    specs = ctx.patterns.police
    who = np.array([s.caller for s in specs], dtype=np.int64)
    pt = np.array([s.point for s in specs], dtype=np.int64)
    day = np.array([s.day for s in specs], dtype="datetime64[D]")
    call = day.astype("datetime64[s]") + rng.integers(9 * 3600, 18 * 3600, len(specs)).astype("timedelta64[s]")
    r = render_people(ctx, who, rng, feed=FEED, id_rates={})
    grid = grid_at(d, pt, day)
    std, road = pts["std_address"].to_numpy(), pts["road"].to_numpy()
    keys = [s.key(d.county_code) for s in specs]
    df = pl.DataFrame(
        {
            "警情编号": keys,
            "接警时间": pl.Series(call.astype("datetime64[us]")).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "报警方式": ["110电话"] * len(specs),
            "报警人": r["name"],
            "报警人证件号码": r["id"],
            "报警电话": r["phone"],
            "发生地址": std[pt],
            "经度": np.round(pts["lon"].to_numpy()[pt], 6).astype(str),
            "纬度": np.round(pts["lat"].to_numpy()[pt], 6).astype(str),
            "警情类别": [s.category for s in specs],
            "警情细类": [s.subcategory for s in specs],
            "简要警情": [f"报警人称在{road[p]}{s.subcategory}，请求民警到场处理。" for p, s in zip(pt, specs)],
            "管辖单位": station[[st_idx[c] for c in pts["street_code"].to_numpy()[pt]]],
            "_pid": r["person_id"],
            "_idf": r["id_fault"].astype(str),
            "_nf": r["name_fault"].astype(str),
            "_call": call.astype("datetime64[us]"),
            "_grid": grid,
            "_comm": pts["community_code"].to_numpy()[pt],
            "_street": pts["street_code"].to_numpy()[pt],
            "_hint": ["address_point"] * len(specs),
        },
        schema=base.schema,
    )
    for s, k, g, p_id in zip(specs, keys, grid, r["person_id"]):
        record(
            ctx.patterns,
            pattern=s.pattern,
            pattern_id=s.pattern_id,
            feed=FEED,
            record_key=k,
            role="caller",
            person_id=int(p_id),
            grid_code=str(g),
            record_date=s.day,
            category=f"{s.category}/{s.subcategory}",
        )
    return df, np.array([s.outcome for s in specs], dtype=object), call
