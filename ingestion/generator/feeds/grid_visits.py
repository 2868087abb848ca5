"""grid_visits: grid workers' home visits (ZF_ daily, UTF-8) and their roster (WGY_ monthly, GB18030).

Owns the generated 走访 log and 网格员花名册 and their truth (truth/visits.parquet, truth/grid_workers.parquet,
truth/grid_vacancies.parquet). Everything is drawn from this feed's own random streams (70-79), so adding
it leaves every other feed's bytes for a seed unchanged.

Who serves where: one 专职网格员 per grid the registry staffs (a grid the registry lists without a worker has
none), one 网格长 per community. Over the period one worker moves to another grid mid-month (调岗日期) and
their old grid waits 10-20 days for a new worker (a gap the warnings should see), and another worker leaves
(离职日期) with a successor three days later (a gap they should not).

Who is visited: the care register on its cadence (DOMAIN.md 探访关爱: 80+ living alone weekly, other
people living alone, the disabled and 特困 monthly, everyone else on a care or benefit roll (高龄津贴, 低保)
quarterly), with a few persons neglected from some day on (their visits stop: overdue by the truth; with
patterns, at least one per tier, early enough that a whole period of the tier passes without a visit where
the period holds one), plus ordinary households now and then. The page's quirks: a visit
submitted twice within minutes (two keys), a visit typed in at the desk (the phone far from the
address), a visit to someone who had moved away or died, 发现问题 是 with no event.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ..landing import csv_bytes
from ._common import Context, render_homes, render_people

FEED = "grid_visits"
VISIT_COLUMNS = [
    "走访编号",
    "走访时间",
    "网格员工号",
    "网格员",
    "网格编码",
    "走访对象类型",
    "对象姓名",
    "对象证件号码",
    "对象电话",
    "地址",
    "户编号",
    "走访方式",
    "走访主题",
    "发现问题",
    "关联事件编号",
    "经度",
    "纬度",
    "备注",
]
ROSTER_COLUMNS = [
    "工号",
    "姓名",
    "证件号码",
    "联系电话",
    "岗位",
    "网格编码",
    "微网格",
    "岗位档次",
    "入职日期",
    "离职日期",
    "调岗日期",
    "上年度考核等次",
]
MODES = np.array(["入户", "电话", "视频", "门口"], dtype=object)
MODE_P = [0.72, 0.14, 0.04, 0.10]
THEMES = np.array(["日常走访", "节日慰问", "话党史", "话平安", "话发展", "话治理", "话民生"], dtype=object)
THEME_P = [0.7, 0.05, 0.05, 0.06, 0.04, 0.05, 0.05]
GRADES = np.array(["优秀", "合格", "基本合格", "不合格"], dtype=object)
GRADE_P = [0.2, 0.65, 0.12, 0.03]
#: cadence per care tier (DOMAIN.md): weekly (each ISO week) / monthly (each calendar month) / quarterly (each
#: calendar quarter), as days
WEEKLY, MONTHLY, QUARTERLY = 7, 30, 90
#: how far (metres) a visit typed in at the desk is from the address, at least
DESK_FAR_M = 500
_M_PER_DEG = 111_000.0

# quirk rates (grid_visits.md "What real logs look like")
DOUBLE_RATE = 0.02
DESK_RATE = 0.03
PROBLEM_RATE = 0.08
PROBLEM_NO_EVENT = 0.3
NEGLECT_RATE = 0.03
GONE_VISITS = 0.3  # share of persons who left in the period visited once more after leaving


def _workers(ctx: Context) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The roster's truth, one row per worker and serving interval (a mover has two, one per grid), and the
    vacancies the period's move and departure leave."""
    rng = ctx.rng(70)
    g = ctx.district.grids
    rows = []
    seq = 0

    def new_id() -> str:
        nonlocal seq
        seq += 1
        return f"W{int(ctx.district.county_code[-2:]) * 10**6 + seq:08d}"

    staffed = g.filter(pl.col("worker") != "")
    for r in staffed.iter_rows(named=True):
        hired = (
            r["valid_from"] - dt.timedelta(days=int(rng.integers(0, 2000)))
            if r["valid_from"] <= ctx.start
            else r["valid_from"]
        )
        rows.append(
            dict(
                worker_id=new_id(),
                name=r["worker"],
                phone=r["worker_phone"],
                post="专职网格员",
                grid_code=r["grid_code"],
                hired_on=hired,
                served_from=max(hired, r["valid_from"]),
                served_to=r["valid_to"],
                left_on=r["valid_to"],
                moved_on=None,
            )
        )
    comms = (
        g.filter(pl.col("valid_to").is_null())
        .group_by("community_code")
        .agg(pl.col("grid_code").min())
        .sort("community_code")
    )
    for cc, gc in comms.iter_rows():
        hired = ctx.start - dt.timedelta(days=int(rng.integers(200, 3000)))
        rows.append(
            dict(
                worker_id=new_id(),
                name="",
                phone="",
                post="网格长",
                grid_code=gc,
                hired_on=hired,
                served_from=hired,
                served_to=None,
                left_on=None,
                moved_on=None,
            )
        )
    w = pl.DataFrame(rows, schema_overrides={"served_to": pl.Date, "left_on": pl.Date, "moved_on": pl.Date})
    # the whole period's steady grids: where a move and a departure can happen
    steady = w.filter(
        (pl.col("post") == "专职网格员") & pl.col("served_to").is_null() & (pl.col("served_from") <= ctx.start)
    )
    events = []
    # a small district may have only two grids staffed the whole period: the move needs two, the departure a third
    if steady.height >= 2 and ctx.days >= 14:
        pick = rng.choice(steady.height, min(3, steady.height), replace=False)
        mover, to_row = (steady.row(int(i), named=True) for i in pick[:2])
        leaver = steady.row(int(pick[2]), named=True) if len(pick) == 3 else None
        move_on = ctx.start + dt.timedelta(days=int(rng.integers(ctx.days // 4, max(ctx.days // 4 + 1, ctx.days // 2))))
        gap = int(rng.integers(10, 21))
        # the mover serves the other grid from move_on; the old grid gets a new worker after the gap
        w = w.with_columns(
            served_to=pl.when(pl.col("worker_id") == mover["worker_id"]).then(pl.lit(move_on)).otherwise("served_to"),
        )
        w = pl.concat(
            [
                w,
                pl.DataFrame(
                    [
                        dict(
                            mover, grid_code=to_row["grid_code"], served_from=move_on, served_to=None, moved_on=move_on
                        ),
                        dict(
                            worker_id=new_id(),
                            name="",
                            phone="",
                            post="专职网格员",
                            grid_code=mover["grid_code"],
                            hired_on=move_on + dt.timedelta(days=gap),
                            served_from=move_on + dt.timedelta(days=gap),
                            served_to=None,
                            left_on=None,
                            moved_on=None,
                        ),
                    ],
                    schema=w.schema,
                ),
            ]
        )
        events.append(
            dict(
                grid_code=mover["grid_code"],
                vacant_from=move_on,
                vacant_to=move_on + dt.timedelta(days=gap),
                cause="调岗",
            )
        )
        leave_on = ctx.start + dt.timedelta(
            days=int(rng.integers(ctx.days // 3, max(ctx.days // 3 + 1, 2 * ctx.days // 3)))
        )
    if steady.height >= 2 and ctx.days >= 14 and leaver is not None:
        w = w.with_columns(
            served_to=pl.when(pl.col("worker_id") == leaver["worker_id"]).then(pl.lit(leave_on)).otherwise("served_to"),
            left_on=pl.when(pl.col("worker_id") == leaver["worker_id"]).then(pl.lit(leave_on)).otherwise("left_on"),
        )
        w = pl.concat(
            [
                w,
                pl.DataFrame(
                    [
                        dict(
                            worker_id=new_id(),
                            name="",
                            phone="",
                            post="专职网格员",
                            grid_code=leaver["grid_code"],
                            hired_on=leave_on + dt.timedelta(days=3),
                            served_from=leave_on + dt.timedelta(days=3),
                            served_to=None,
                            left_on=None,
                            moved_on=None,
                        )
                    ],
                    schema=w.schema,
                ),
            ]
        )
        events.append(
            dict(
                grid_code=leaver["grid_code"],
                vacant_from=leave_on,
                vacant_to=leave_on + dt.timedelta(days=3),
                cause="离职",
            )
        )
    # names, IDs and phones for staff the registry does not name (new hires, 网格长): staff, not residents
    fk_rng = ctx.rng(71)
    from faker import Faker

    fk = Faker("zh_CN")
    fk.seed_instance(int(fk_rng.integers(0, 2**31)))
    names = [n or fk.name() for n in w["name"]]
    ids = [fk.ssn(min_age=22, max_age=58) for _ in range(w.height)]
    by_worker = {}
    for wid, nm, i in zip(w["worker_id"], names, ids):
        by_worker.setdefault(wid, (nm, i))
    phones = [p or f"1{int(fk_rng.integers(3, 10))}{int(fk_rng.integers(0, 10**9)):09d}" for p in w["phone"]]
    w = w.with_columns(
        name=pl.Series([by_worker[x][0] for x in w["worker_id"]]),
        id_number=pl.Series([by_worker[x][1] for x in w["worker_id"]]),
        phone=pl.Series(phones),
        step=pl.Series(fk_rng.integers(1, 13, w.height)),
        grade=pl.Series(
            np.where(
                pl.Series(w["hired_on"]).to_numpy() < np.datetime64(ctx.start - dt.timedelta(days=365)),
                GRADES[fk_rng.choice(4, w.height, p=GRADE_P)],
                "",
            )
        ),
    )
    vac = pl.DataFrame(
        events, schema={"grid_code": pl.String, "vacant_from": pl.Date, "vacant_to": pl.Date, "cause": pl.String}
    )
    return w, vac


def _roster_file(ctx: Context, w: pl.DataFrame, month: dt.date) -> tuple[bytes, int]:
    """WGY_<yyyymm>: everyone who served at any time in ``month``, the row showing the grid at its end."""
    first = month
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    on = w.filter((pl.col("served_from") < nxt) & (pl.col("served_to").is_null() | (pl.col("served_to") > first)))
    # one row per worker: their last interval in the month
    on = on.sort("served_from").group_by("worker_id", maintain_order=True).last().sort("worker_id")
    moved = on["moved_on"].to_list()
    df = pl.DataFrame(
        {
            "工号": on["worker_id"],
            "姓名": on["name"],
            "证件号码": on["id_number"],
            "联系电话": on["phone"],
            "岗位": on["post"],
            "网格编码": on["grid_code"],
            "微网格": [""] * on.height,
            "岗位档次": on["step"].cast(pl.String),
            "入职日期": on["hired_on"].cast(pl.String),
            "离职日期": [str(x) if x is not None and x < nxt else "" for x in on["left_on"]],
            "调岗日期": [str(x) if x is not None and first <= x < nxt else "" for x in moved],
            "上年度考核等次": on["grade"],
        }
    )
    return csv_bytes(df, encoding="gb18030", bom=False, crlf=True), df.height


def _serving(w: pl.DataFrame, day: dt.date) -> dict[str, tuple[str, str]]:
    """grid -> (worker id, name) of its 专职网格员 serving on ``day``."""
    on = w.filter(
        (pl.col("post") == "专职网格员")
        & (pl.col("served_from") <= day)
        & (pl.col("served_to").is_null() | (pl.col("served_to") > day))
    )
    return {g: (i, n) for g, i, n in on.select("grid_code", "worker_id", "name").iter_rows()}


def _heads(w: pl.DataFrame) -> dict[str, tuple[str, str]]:
    """community -> (worker id, name) of its 网格长, who visits where no 专职网格员 serves."""
    h = w.filter(pl.col("post") == "网格长")
    return {g[:12]: (i, n) for g, i, n in h.select("grid_code", "worker_id", "name").iter_rows()}


def _periods(ctx: Context, every: int) -> tuple[np.ndarray, np.ndarray]:
    """First days and lengths (days) of the calendar periods of a cadence that overlap the period: ISO weeks
    (Monday first) for WEEKLY, calendar months for MONTHLY, calendar quarters for QUARTERLY."""
    start64, end64 = np.datetime64(ctx.start), np.datetime64(ctx.end)
    if every == WEEKLY:
        monday = start64 - np.timedelta64((start64.astype(np.int64) + 3) % 7, "D")  # 1970-01-01 was a Thursday
        starts = monday + np.arange(0, (end64 - monday).astype(int) + 7, 7).astype("timedelta64[D]")
        starts = starts[starts < end64]
        return starts, np.full(len(starts), 7)
    step = 3 if every == QUARTERLY else 1
    first = start64.astype("datetime64[M]")
    first -= first.astype(np.int64) % step  # a calendar quarter starts in January, April, July or October
    months = np.arange(first, end64.astype("datetime64[M]") + 1, step)
    starts = months.astype("datetime64[D]")
    lengths = ((months + step).astype("datetime64[D]") - starts).astype(int)
    keep = starts < end64
    return starts[keep], lengths[keep]


# built from numpy object arrays, a text column would be a Polars Object where a small district has none
_KIND = {"kind": pl.String}


def _part(idx: np.ndarray, day: np.ndarray, kind: np.ndarray, cadence_days: int) -> pl.DataFrame:
    """One group of scheduled visits: resident index, day, 走访对象类型 and the cadence (days; 0 for none)."""
    return pl.DataFrame(
        {
            "idx": idx,
            "day": day,
            "kind": kind,
            "cadence_days": np.full(len(idx), cadence_days, dtype=np.int32),
        },
        schema_overrides=_KIND,
    )


def _schedule(ctx: Context) -> pl.DataFrame:
    """The visits due and made: care register persons on their cadence, ordinary households now and then."""
    rng = ctx.rng(72)
    res = ctx.people.residents()
    start64, end64 = np.datetime64(ctx.start), np.datetime64(ctx.end)
    age = (start64 - res["birth_date"].to_numpy().astype("datetime64[D]")).astype(int) / 365.25
    alone = res["lives_alone"].to_numpy()
    # the warehouse tiers by age on its reporting date: whoever is 80 by the period's end is visited weekly all along
    age_end = (end64 - res["birth_date"].to_numpy().astype("datetime64[D]")).astype(int) / 365.25
    weekly = alone & (age_end >= 80)
    monthly = ~weekly & (alone | res["disabled"].to_numpy() | res["extreme_poverty"].to_numpy())
    reg = res["registered_on"].to_numpy().astype("datetime64[D]")
    left = res["left_on"].to_numpy().astype("datetime64[D]")
    # everyone else on a care or benefit roll the warehouse tiers as 'other' (高龄津贴, 低保): quarterly
    quarterly = ~weekly & ~monthly & (res["aged_80_plus"].to_numpy() | res["low_income"].to_numpy())
    kinds = np.where(
        weekly,
        "独居老人",
        np.where(
            alone,
            "空巢老人",
            np.where(
                res["disabled"].to_numpy(),
                "残疾人",
                np.where(quarterly & ~res["low_income"].to_numpy(), "一般住户", "困难家庭"),
            ),
        ),
    )
    # a person the warehouse surely puts in the tier (mart_care_visits): monthly, a disability of grade 1-2 under
    # 79 (key); quarterly, not on the living-alone roll (other); and staying to the end of the period
    stays = np.isnat(left) & (reg < start64)
    surely = {
        WEEKLY: stays,
        MONTHLY: stays
        & (res["disability_grade"].to_numpy() >= 1)
        & (res["disability_grade"].to_numpy() <= 2)
        & (age < 79)
        & ~alone,
        QUARTERLY: stays,
    }
    parts = []
    for mask, every in ((weekly, WEEKLY), (monthly, MONTHLY), (quarterly, QUARTERLY)):
        # someone registered during the period is owed the periods that begin on or after their registration
        who = np.flatnonzero(mask & (reg < end64))
        if not len(who):
            continue
        # the quarterly tier draws from its own stream so the weekly and monthly tiers keep their draws
        trng = ctx.rng(72, QUARTERLY) if every == QUARTERLY else rng
        # neglect is an injected pattern (visit_overdue must find it): a landing without patterns has none; with
        # them, at least one person per tier, from early enough that a whole period of the tier passes without a
        # visit (weekly: within the first quarter of the period; monthly and quarterly: from its first day)
        u = trng.random(len(who))
        stop_day = trng.integers(0, max(1, ctx.days), len(who))
        neglected = (u < NEGLECT_RATE) & (ctx.patterns is not None)
        sure = surely[every][who]
        if ctx.patterns is not None and sure.any():
            first = int(np.flatnonzero(sure)[np.argmin(u[sure])])
            neglected[first] = True
            stop_day[first] = min(int(stop_day[first]), ctx.days // 4) if every == WEEKLY else 0
        neglect_from = np.where(neglected, start64 + stop_day.astype("timedelta64[D]"), np.datetime64("NaT", "D"))
        # once in every calendar period of the tier (DOMAIN.md: weekly = each ISO week, monthly = each calendar
        # month, quarterly = each calendar quarter), on a day drawn within it
        starts, lengths = _periods(ctx, every)
        k = np.arange(len(starts))
        offset = (trng.random((len(who), len(k))) * lengths[None, :]).astype(np.int64).astype("timedelta64[D]")
        when = starts[None, :] + offset
        pid = np.repeat(who, len(k))
        when = when.ravel()
        stop = np.repeat(neglect_from, len(k))
        gone = np.repeat(left[who], len(k))
        owed = np.tile(starts, len(who)) >= np.repeat(reg[who], len(k))
        keep = (
            owed
            & (when >= start64)
            & (when < end64)
            & (np.isnat(stop) | (when < stop))
            & (np.isnat(gone) | (when < gone))
        )
        parts.append(_part(pid[keep], when[keep], kinds[pid[keep]], every))
        ctx.extra.setdefault("visit_neglect", []).append(
            pl.DataFrame(
                {
                    "person_id": res["person_id"].to_numpy()[who],
                    "cadence_days": np.full(len(who), every, dtype=np.int32),
                    "neglected_from": neglect_from,
                }
            )
        )
    # ordinary households: about one visit per 400 residents a day
    n_plain = rng.poisson(ctx.people.n_residents / 400, ctx.days)
    days = np.repeat(np.array(ctx.dates(), dtype="datetime64[D]"), n_plain)
    who = rng.integers(0, ctx.people.n_residents, len(days))
    ok = (reg[who] <= days) & (np.isnat(left[who]) | (left[who] > days))
    parts.append(_part(who[ok], days[ok], np.full(ok.sum(), "一般住户", dtype=object), 0))
    # someone who moved away or died, visited once more (the worker's list was stale)
    gone = np.flatnonzero(~np.isnat(left) & (left >= start64) & (left < end64 - np.timedelta64(2, "D")))
    stale = gone[rng.random(len(gone)) < GONE_VISITS]
    stale_day = left[stale] + rng.integers(1, 3, len(stale)).astype("timedelta64[D]")
    parts.append(_part(stale, stale_day, np.full(len(stale), "一般住户", dtype=object), 0))
    out = pl.concat([p.with_columns(pl.col("idx").cast(pl.Int64), pl.col("day").cast(pl.Date)) for p in parts])
    return out.filter(pl.col("day") < ctx.end).sort("day", "idx")


def build(ctx: Context) -> None:
    w, vac = _workers(ctx)
    visits = _schedule(ctx)
    rng = ctx.rng(73)
    res = ctx.people.residents()
    pts = ctx.district.points
    n = visits.height
    idx = visits["idx"].to_numpy()
    day = visits["day"].to_numpy().astype("datetime64[D]")
    grid = res["grid_code"].to_numpy()[idx]
    point = res["point_idx"].to_numpy()[idx]
    pid = res["person_id"].to_numpy()[idx]
    left = res["left_on"].to_numpy().astype("datetime64[D]")[idx]
    # who visited: the grid's 专职网格员 that day, else the community's 网格长
    heads = _heads(w)
    days_list = sorted(set(visits["day"].to_list()))
    serving = {d: _serving(w, d) for d in days_list}
    vday = visits["day"].to_list()
    wid, wname = np.empty(n, dtype=object), np.empty(n, dtype=object)
    for i in range(n):
        s = serving[vday[i]].get(grid[i]) or heads.get(grid[i][:12]) or ("", "")
        wid[i], wname[i] = s
    has_worker = wid != ""
    secs = rng.integers(8 * 3600, 19 * 3600, n)
    at = day.astype("datetime64[s]") + secs.astype("timedelta64[s]")
    mode = MODES[rng.choice(4, n, p=MODE_P)]
    theme = THEMES[rng.choice(len(THEMES), n, p=THEME_P)]
    lon0, lat0 = pts["lon"].to_numpy()[point], pts["lat"].to_numpy()[point]
    desk = rng.random(n) < DESK_RATE
    # on the spot: within ~30 m; at the desk: DESK_FAR_M..3 km away
    far = rng.uniform(DESK_FAR_M + 100, 3000, n) / _M_PER_DEG
    ang = rng.uniform(0, 2 * np.pi, n)
    near = rng.uniform(0, 30, n) / _M_PER_DEG
    dist = np.where(desk, far, near)
    lon = lon0 + dist * np.cos(ang) / np.cos(np.radians(lat0))
    lat = lat0 + dist * np.sin(ang)
    problem = rng.random(n) < PROBLEM_RATE
    no_event = problem & (rng.random(n) < PROBLEM_NO_EVENT)
    r = render_people(ctx, idx, rng, feed=FEED, id_rates={"empty": 0.12}, name_rates={})
    homes = render_homes(ctx, idx, rng)
    frame = pl.DataFrame(
        {
            "_day": visits["day"],
            "_at": at.astype("datetime64[us]"),
            "_grid": grid,
            "_pid": pid,
            "_idf": r["id_fault"].astype(str),
            "_nf": r["name_fault"].astype(str),
            "网格员工号": wid,
            "网格员": wname,
            "网格编码": grid,
            "走访对象类型": visits["kind"],
            "对象姓名": r["name"],
            "对象证件号码": r["id"],
            "对象电话": r["phone"],
            "地址": homes,
            "户编号": [""] * n,
            "走访方式": mode,
            "走访主题": theme,
            "发现问题": np.where(problem, "是", "否"),
            "经度": np.round(lon, 6).astype(str),
            "纬度": np.round(lat, 6).astype(str),
            "备注": [""] * n,
            "_desk": desk,
            "_problem_no_event": no_event,
            "_problem": problem,
            "_gone": ~np.isnat(left) & (left <= day),
            "_cadence": visits["cadence_days"],
            "_double": np.zeros(n, dtype=bool),
        },
        schema_overrides={
            c: pl.String
            for c in (
                "_grid",
                "网格员工号",
                "网格员",
                "网格编码",
                "走访对象类型",
                "对象姓名",
                "对象证件号码",
                "对象电话",
                "地址",
                "户编号",
                "走访方式",
                "走访主题",
                "发现问题",
                "备注",
            )
        },
    )
    frame = frame.filter(pl.Series(has_worker))
    # the same visit submitted twice within minutes: a second row, a second key
    dup = frame.filter(pl.Series(rng.random(frame.height) < DOUBLE_RATE))
    dup = dup.with_columns(
        (pl.col("_at") + pl.duration(minutes=pl.lit(1) + pl.col("_pid") % 5)).alias("_at"),
        pl.lit(True).alias("_double"),
    )
    frame = pl.concat([frame, dup]).sort("_at", "_pid")
    frame = (
        frame.with_columns(
            pl.col("_at").dt.strftime("%Y-%m-%d %H:%M:%S").alias("走访时间"),
            (pl.int_range(pl.len()).over("_grid", "_day") + 1).alias("_seq"),
        )
        .with_columns(
            pl.format(
                "ZF{}{}{}", "_grid", pl.col("_day").dt.strftime("%Y%m%d"), pl.col("_seq").cast(pl.String).str.zfill(3)
            ).alias("走访编号"),
        )
        .with_columns(
            pl.when(pl.col("_problem") & ~pl.col("_problem_no_event"))
            .then(
                pl.format(
                    "SJ{}{}{}",
                    "_grid",
                    pl.col("_day").dt.strftime("%Y%m%d"),
                    (900 + pl.col("_seq") % 100).cast(pl.String),
                )
            )
            .otherwise(pl.lit(""))
            .alias("关联事件编号"),
        )
    )
    truth_rows = []
    for d in ctx.dates():
        day_rows = frame.filter(pl.col("_day") == d)
        name = f"ZF_{d:%Y%m%d}.csv"
        ctx.landing.deliver(
            FEED, d, name, csv_bytes(day_rows.select(VISIT_COLUMNS), encoding="utf-8", bom=False), day_rows.height
        )
        m = day_rows.height
        if m:
            rec = np.arange(1, m + 1)
            ctx.truth.records.add(
                FEED,
                name,
                "",
                rec,
                np.ones(m, dtype=np.int32),
                day_rows["_pid"].to_numpy(),
                day_rows["_idf"].to_numpy(),
                day_rows["_nf"].to_numpy(),
            )
            truth_rows.append(
                day_rows.select(
                    pl.lit(name).alias("file"),
                    pl.int_range(1, m + 1).alias("record_no"),
                    pl.col("走访编号").alias("visit_id"),
                    pl.col("_pid").alias("person_id"),
                    pl.col("_grid").alias("grid_code"),
                    pl.col("网格员工号").alias("worker_id"),
                    pl.col("_day").alias("visit_date"),
                    pl.col("走访方式").alias("mode"),
                    pl.col("_desk").alias("is_desk_typed"),
                    pl.col("_double").alias("is_double_submission"),
                    pl.col("_gone").alias("is_person_gone"),
                    pl.col("_problem").alias("has_problem"),
                    pl.col("_problem_no_event").alias("is_problem_without_event"),
                    pl.col("_cadence").alias("cadence_days"),
                )
            )
    # rosters: the month before the period on its second day, then each month of the period that ended
    month = (ctx.start.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    while True:
        nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        folder = max(nxt + dt.timedelta(days=1), ctx.start + dt.timedelta(days=1))
        if folder >= ctx.end:
            break
        data, rows = _roster_file(ctx, w, month)
        ctx.landing.deliver(FEED, folder, f"WGY_{month:%Y%m}.csv", data, rows)
        month = nxt
    t = ctx.truth.dir
    schema = {
        "file": pl.String,
        "record_no": pl.Int64,
        "visit_id": pl.String,
        "person_id": pl.Int64,
        "grid_code": pl.String,
        "worker_id": pl.String,
        "visit_date": pl.Date,
        "mode": pl.String,
        "is_desk_typed": pl.Boolean,
        "is_double_submission": pl.Boolean,
        "is_person_gone": pl.Boolean,
        "has_problem": pl.Boolean,
        "is_problem_without_event": pl.Boolean,
        "cadence_days": pl.Int32,
    }
    (pl.concat(truth_rows) if truth_rows else pl.DataFrame(schema=schema)).write_parquet(t / "visits.parquet")
    w.drop("id_number", "phone").write_parquet(t / "grid_workers.parquet")
    vac.write_parquet(t / "grid_vacancies.parquet")
    neglect = ctx.extra.pop("visit_neglect", [])
    (
        pl.concat(neglect)
        if neglect
        else pl.DataFrame(schema={"person_id": pl.Int64, "cadence_days": pl.Int32, "neglected_from": pl.Date})
    ).write_parquet(t / "visit_cadence.parquet")
