"""credit_points: the community points ledger (积分制, 一户一档 文明诚信档案), one workbook a month.

Owns the generated ``JF_<yyyymm>.xlsx`` workbooks (sheets 积分项目 / 积分明细 / 兑换记录, header on row 1,
../shared/feeds/credit_points.md) and their truth: ``truth/credit_items.parquet`` (every item version as
listed), ``truth/credit_entries.parquet`` (each 流水号 in its latest delivered version, with the quirk it
carries), ``truth/credit_redemptions.parquet`` and ``truth/credit_households.parquet`` (户编号 -> the true
household and its head). Everything draws from its own streams (``ctx.rng(86, ...)``), so the other feeds'
bytes do not change.

The month's workbook is delivered on the 3rd of the next month; the period's last month, when the period
ends before that, comes on the period's last day holding the deeds entered so far (a generated landing
ends somewhere in a month). Quirks (at the page's "what real ledgers look like"): a 分值 typed other than
the item's; an item revised (a new version from a month), added and retired (still on its last month's
list); corrections re-sent in the next month under the same 流水号 with a later 审核时间; a household
split (分户) continuing under two new 户编号; redemptions below zero. With known patterns on (the generator's
``patterns``), the anomalies the alerts look for are injected and flagged in the truth: entries for a
person who had died or moved away before the deed, items used outside their validity or over their
monthly limit, and deeds entered twice.
"""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import polars as pl
import xlsxwriter

from ._common import Context, render_people

FEED = "credit_points"
STREAM = 86
SHEET_ITEMS, SHEET_ENTRIES, SHEET_REDEEM = "积分项目", "积分明细", "兑换记录"
ITEM_HEADER = ["项目编码", "项目名称", "项目类别", "分值", "计分对象", "每月上限", "启用月份", "停用月份"]
ENTRY_HEADER = [
    "流水号",
    "发生日期",
    "户编号",
    "户主姓名",
    "户主证件号码",
    "成员姓名",
    "成员证件号码",
    "项目编码",
    "分值",
    "事由",
    "证明材料",
    "审核人",
    "审核状态",
    "审核时间",
]
REDEEM_HEADER = ["兑换单号", "兑换日期", "户编号", "户主姓名", "户主证件号码", "兑换物品", "消耗积分", "兑换点"]

# code, name, category, points, target, monthly limit (0: none), weight of use
_ITEMS = [
    ("JF001", "参加平安巡逻", "平安建设", 5, "个人", 4, 10),
    ("JF002", "志愿服务1小时", "志愿服务", 3, "个人", 8, 14),
    ("JF003", "调解邻里纠纷", "平安建设", 10, "个人", 2, 3),
    ("JF004", "垃圾分类示范户", "文明守礼", 15, "家庭", 1, 5),
    ("JF005", "参加理论宣讲", "理论宣讲", 5, "个人", 2, 4),
    ("JF006", "诚信经营", "诚实守信", 10, "家庭", 1, 2),
    ("JF007", "见义勇为", "遵纪守法", 20, "个人", 0, 0.3),
    ("JF008", "违规占道经营", "扣分项", -10, "家庭", 0, 0.8),
    ("JF009", "乱扔垃圾", "扣分项", -5, "个人", 0, 1.0),
    ("JF010", "违法违规受到处理", "遵纪守法", -20, "个人", 0, 0.3),
]
#: retired in the period's first month: on that month's list, valid only before it
_RETIRED_FIRST = ("JF012", "清洁家园义务劳动", "文明守礼", 3, "家庭", 0, 0)
#: the second month's revision: JF002 is worth 5 from then on, JF005 is retired, JF011 is new
_REVISED_POINTS = {"JF002": 5}
_RETIRED_SECOND = "JF005"
_ADDED_SECOND = ("JF011", "关爱孤寡老人", "志愿服务", 10, "个人", 2, 3)
_STATUS = ["已审核", "待审核", "已驳回"]
_GOODS = [("食用油", 30), ("大米5kg", 50), ("洗衣液", 20), ("毛巾", 10), ("牙膏", 8)]
_STAFF = ["王芳", "李强", "陈静", "刘洋"]
_REASONS = {
    "个人": ["按时参加", "群众反映良好", "社区记录", "网格员核实"],
    "家庭": ["入户检查合格", "评议通过", "网格员核实"],
}


def months(ctx: Context) -> list[dt.date]:
    out, m = [], ctx.start.replace(day=1)
    while m < ctx.end:
        out.append(m)
        m = (m + dt.timedelta(days=32)).replace(day=1)
    return out


def _next_month(m: dt.date) -> dt.date:
    return (m + dt.timedelta(days=32)).replace(day=1)


def _ym(m: dt.date) -> str:
    return f"{m:%Y%m}"


def item_lists(ctx: Context) -> dict[dt.date, list[dict]]:
    """The item list each month's workbook carries: the items in force that month (and one retired in it)."""
    ms = months(ctx)
    first = ms[0]
    before = (first - dt.timedelta(days=200)).replace(day=1)
    out: dict[dt.date, list[dict]] = {}
    for k, m in enumerate(ms):
        rows = []
        for code, name, cat, pts, target, limit, _w in _ITEMS:
            start = before
            if k >= 1 and code in _REVISED_POINTS:
                pts, start = _REVISED_POINTS[code], ms[1]
            stop = None
            if code == _RETIRED_SECOND and k >= 1:
                if k > 1:
                    continue
                stop = _next_month(ms[1])
            rows.append(
                dict(code=code, name=name, cat=cat, pts=pts, target=target, limit=limit, start=start, stop=stop)
            )
        if k >= 1:
            code, name, cat, pts, target, limit, _w = _ADDED_SECOND
            rows.append(
                dict(code=code, name=name, cat=cat, pts=pts, target=target, limit=limit, start=ms[1], stop=None)
            )
        if k == 0:
            code, name, cat, pts, target, limit, _w = _RETIRED_FIRST
            rows.append(dict(code=code, name=name, cat=cat, pts=pts, target=target, limit=limit, start=before, stop=m))
        out[m] = rows
    return out


def _households(ctx: Context, rng: np.random.Generator) -> pl.DataFrame:
    """The register households that keep a points file (about 45 %), each with its 户编号 (``H`` + the
    community's 12-digit code + 4 digits, numbered in the community)."""
    res = ctx.people.residents().with_row_index("_i")
    heads = res.filter(pl.col("household_pos") == 0).sort("household_id")
    take = rng.random(heads.height) < 0.45
    hh = heads.filter(pl.Series(take)).select(
        "household_id", "community_code", pl.col("_i").alias("head_idx"), pl.col("registered_on")
    )
    hh = hh.with_columns((pl.int_range(pl.len()).over("community_code") + 1).alias("_seq"))
    return hh.with_columns(
        pl.format("H{}{}", "community_code", pl.col("_seq").cast(pl.String).str.zfill(4)).alias("household_no")
    ).drop("_seq")


def build(ctx: Context) -> None:
    rng = ctx.rng(STREAM, 1)
    ms = months(ctx)
    lists = item_lists(ctx)
    inject = ctx.patterns is not None
    res = ctx.people.residents()
    hh_id = res["household_id"].to_numpy()
    pos = res["household_pos"].to_numpy()
    reg = res["registered_on"].to_numpy().astype("datetime64[D]")
    left = res["left_on"].to_numpy().astype("datetime64[D]")
    households = _households(ctx, rng)
    members_of: dict[int, np.ndarray] = {}
    order = np.argsort(hh_id, kind="stable")
    bounds = np.r_[0, np.flatnonzero(np.diff(hh_id[order])) + 1, len(order)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        members_of[int(hh_id[order[a]])] = order[a:b]

    # 分户: from the second month a few households of 3+ go on as two, both under new 户编号
    hh_rows = [
        dict(
            household_no=no,
            household_id=h,
            community_code=c,
            head_idx=int(i),
            valid_from=None,
            valid_to=None,
            split_from=None,
        )
        for no, h, c, i in households.select("household_no", "household_id", "community_code", "head_idx").iter_rows()
    ]
    next_seq: dict[str, int] = {}
    for r in hh_rows:
        next_seq[r["community_code"]] = max(next_seq.get(r["community_code"], 0), int(r["household_no"][-4:]))
    members: dict[str, np.ndarray] = {r["household_no"]: members_of[r["household_id"]] for r in hh_rows}
    if len(ms) >= 2:
        big = [r for r in hh_rows if len(members[r["household_no"]]) >= 3]
        chosen = [big[int(j)] for j in rng.choice(len(big), size=min(len(big), max(1, len(big) // 100)), replace=False)]
        for r in chosen:
            r["valid_to"] = ms[1]
            mem = members[r["household_no"]]
            parts = (mem[pos[mem] < 2], mem[pos[mem] >= 2])
            for k, part in enumerate(parts):
                next_seq[r["community_code"]] += 1
                no = f"H{r['community_code']}{next_seq[r['community_code']]:04d}"
                # the first part keeps its head (ID unchanged); the second is headed by its eldest member
                hh_rows.append(
                    dict(
                        household_no=no,
                        household_id=r["household_id"],
                        community_code=r["community_code"],
                        head_idx=int(part[0]),
                        valid_from=ms[1],
                        valid_to=None,
                        split_from=r["household_no"],
                    )
                )
                members[no] = part
                del k

    entries: list[dict] = []
    seq = 0
    for mi, m in enumerate(ms):
        m_end = min(_next_month(m), ctx.end)
        n_days = (m_end - m).days
        items = [it for it in lists[m] if it["stop"] is None or it["stop"] > m]
        weights = np.array([_weight(it["code"]) for it in items], dtype=float)
        weights /= weights.sum()
        for r in hh_rows:
            if r["valid_from"] is not None and m < r["valid_from"]:
                continue
            if r["valid_to"] is not None and m >= r["valid_to"]:
                continue
            mem = members[r["household_no"]]
            n = int(rng.poisson(1.6 * n_days / 30))
            used: dict[tuple[str, int], int] = {}
            deeds: set[tuple[int, str, dt.date]] = set()
            for _ in range(n):
                it = items[int(rng.choice(len(items), p=weights))]
                day = m + dt.timedelta(days=int(rng.integers(0, n_days)))
                d64 = np.datetime64(day)
                alive = mem[(reg[mem] <= d64) & (np.isnat(left[mem]) | (left[mem] > d64))]
                if len(alive) == 0:
                    continue
                who = -1 if it["target"] == "家庭" else int(alive[int(rng.integers(0, len(alive)))])
                # one deed is one entry: the same subject, item and day twice is the injected quirk, not chance
                deed = (who, it["code"], day)
                if deed in deeds:
                    continue
                deeds.add(deed)
                if it["limit"]:
                    k = (it["code"], who)
                    if used.get(k, 0) >= it["limit"]:
                        continue
                    used[k] = used.get(k, 0) + 1
                seq += 1
                entries.append(_entry(ctx, rng, seq, m, day, r, who, it))
    if inject:
        seq = _inject(ctx, rng, ms, lists, hh_rows, members, left, entries, seq)

    entries_df = _entries_frame(entries)
    redemptions = _redemptions(ctx, rng, ms, hh_rows, entries_df)
    _write(ctx, rng, ms, lists, hh_rows, entries_df, redemptions)


def _weight(code: str) -> float:
    for c, *_rest, w in (*_ITEMS, _ADDED_SECOND):
        if c == code:
            return float(w)
    return 0.0


def _entry(ctx, rng, seq, month, day, hh, who, it, **flags) -> dict:
    u = rng.random()
    points = it["pts"]
    differs = False
    if u < 0.02:  # typed other than the item's 分值
        points = it["pts"] * 2 if it["pts"] > 0 else it["pts"] // 2
        differs = True
    status = _STATUS[int(rng.choice(3, p=[0.86, 0.09, 0.05]))]
    reviewed = dt.datetime.combine(day, dt.time(9)) + dt.timedelta(
        days=int(rng.integers(0, 4)), minutes=int(rng.integers(0, 540))
    )
    return dict(
        entry_id=f"JF{month:%Y%m}{seq:07d}",
        month=month,
        occurred_date=day,
        household_no=hh["household_no"],
        community_code=hh["community_code"],
        head_idx=hh["head_idx"],
        member_idx=who,
        item_code=it["code"],
        item_points=it["pts"],
        target=it["target"],
        category=it["cat"],
        points=points,
        status=status,
        reviewed_at=reviewed,
        points_differ=differs,
        is_duplicate=flags.get("is_duplicate", False),
        duplicate_of=flags.get("duplicate_of"),
        person_gone=flags.get("person_gone", False),
        outside_validity=flags.get("outside_validity", False),
        over_limit=flags.get("over_limit", False),
        corrected_in=None,
        staff=_STAFF[int(rng.integers(0, len(_STAFF)))],
        reason=_REASONS[it["target"]][int(rng.integers(0, len(_REASONS[it["target"]])))],
        proof="有" if rng.random() < 0.7 else "无",
    )


def _inject(ctx, rng, ms, lists, hh_rows, members, left, entries, seq) -> int:
    """The anomalies the alerts look for, a few of each, flagged in the truth."""
    rng = ctx.rng(STREAM, 2)
    # households not split, whose head stays all period: an injected anomaly is that one and no other
    live = [r for r in hh_rows if r["valid_to"] is None and r["valid_from"] is None and np.isnat(left[r["head_idx"]])]
    last = ms[-1]
    m_end = min(_next_month(last), ctx.end)

    def pick() -> dict:
        return live[int(rng.integers(0, len(live)))]

    def item(code: str, month: dt.date) -> dict:
        return next(it for it in lists[month] if it["code"] == code)

    # a deed entered twice: same person, item and date under a second 流水号
    counts: dict[tuple, int] = {}
    for e in entries:
        k = (e["household_no"], e["member_idx"], e["item_code"], e["month"])
        counts[k] = counts.get(k, 0) + 1
    limits = {c: lim for c, _n, _c, _p, _t, lim, _w in (*_ITEMS, _ADDED_SECOND, _RETIRED_FIRST)}
    # a twin that would also take its item over the monthly limit would be two anomalies in one: not chosen
    base = [
        e
        for e in entries
        if e["status"] == "已审核"
        and not e["points_differ"]
        and (
            not limits[e["item_code"]]
            or counts[(e["household_no"], e["member_idx"], e["item_code"], e["month"])] < limits[e["item_code"]]
        )
    ]
    for j in rng.choice(len(base), size=min(len(base), 4), replace=False):
        e = base[int(j)]
        seq += 1
        twin = dict(e, entry_id=f"JF{e['month']:%Y%m}{seq:07d}", is_duplicate=True, duplicate_of=e["entry_id"])
        twin["reviewed_at"] = e["reviewed_at"] + dt.timedelta(minutes=int(rng.integers(5, 300)))
        entries.append(twin)
    # points for someone who had died or moved away before the deed, where a weekly register snapshot has
    # said so by the period's end (the register is how the warehouse knows)
    last_snapshot = np.datetime64(ctx.start + dt.timedelta(days=7 * ((ctx.days + 6) // 7 - 1)))
    gone = [
        (r, int(i))
        for r in live
        for i in members[r["household_no"]]
        if not np.isnat(left[i]) and left[i] <= last_snapshot and i != r["head_idx"]
    ]
    for j in rng.choice(len(gone), size=min(len(gone), 3), replace=False) if gone else []:
        r, i = gone[int(j)]
        lo = max((left[i] + np.timedelta64(1, "D")).astype(dt.date), last)
        if lo >= m_end:
            continue
        day = lo + dt.timedelta(days=int(rng.integers(0, (m_end - lo).days)))
        seq += 1
        entries.append(
            dict(_entry(ctx, rng, seq, last, day, r, i, item("JF007", last)), person_gone=True, status="已审核")
        )
    # an item used outside its validity: the first month's retired item (on that month's list)
    first = ms[0]
    first_end = min(_next_month(first), ctx.end)
    retired = next(it for it in lists[first] if it["code"] == _RETIRED_FIRST[0])
    for _ in range(3):
        r = pick()
        day = first + dt.timedelta(days=int(rng.integers(0, (first_end - first).days)))
        seq += 1
        entries.append(dict(_entry(ctx, rng, seq, first, day, r, -1, retired), outside_validity=True, status="已审核"))
    # an item used over its monthly limit: one more 调解邻里纠纷 than the two a month allows
    for _ in range(2):
        r = pick()
        head = r["head_idx"]
        lim = item("JF003", last)
        already = sum(
            1 for e in entries if e["member_idx"] == head and e["item_code"] == "JF003" and e["month"] == last
        )
        taken = {e["occurred_date"] for e in entries if e["member_idx"] == head and e["item_code"] == "JF003"}
        free = [last + dt.timedelta(days=d) for d in range((m_end - last).days)]
        free = [d for d in free if d not in taken]
        if len(free) < lim["limit"] + 1 - already:
            continue
        days = sorted(free[int(j)] for j in rng.choice(len(free), size=lim["limit"] + 1 - already, replace=False))
        for k, day in enumerate(days):
            seq += 1
            entries.append(
                dict(
                    _entry(ctx, rng, seq, last, day, r, head, lim),
                    over_limit=k == lim["limit"] - already,
                    status="已审核",
                )
            )
    return seq


_ENTRY_SCHEMA = {
    "entry_id": pl.String,
    "month": pl.Date,
    "occurred_date": pl.Date,
    "household_no": pl.String,
    "community_code": pl.String,
    "head_idx": pl.Int64,
    "member_idx": pl.Int64,
    "item_code": pl.String,
    "item_points": pl.Int64,
    "target": pl.String,
    "category": pl.String,
    "points": pl.Int64,
    "status": pl.String,
    "reviewed_at": pl.Datetime("us"),
    "points_differ": pl.Boolean,
    "is_duplicate": pl.Boolean,
    "duplicate_of": pl.String,
    "person_gone": pl.Boolean,
    "outside_validity": pl.Boolean,
    "over_limit": pl.Boolean,
    "corrected_in": pl.Date,
    "staff": pl.String,
    "reason": pl.String,
    "proof": pl.String,
}


def _entries_frame(entries: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(entries, schema=_ENTRY_SCHEMA, orient="row") if entries else pl.DataFrame(schema=_ENTRY_SCHEMA)


def _redemptions(ctx, rng, ms, hh_rows, entries: pl.DataFrame) -> pl.DataFrame:
    """Each month about a fifth of the households with points exchange some at the 爱心超市; a few take
    more than their balance (the ledger lets them: the page's "redemptions below zero")."""
    rows = []
    balance: dict[str, int] = {}
    seq = 0
    for m in ms:
        m_end = min(_next_month(m), ctx.end)
        got = (
            entries.filter((pl.col("month") == m) & (pl.col("status") == "已审核"))
            .group_by("household_no")
            .agg(pl.col("points").sum())
        )
        for no, p in got.sort("household_no").iter_rows():
            balance[no] = balance.get(no, 0) + int(p)
        for r in hh_rows:
            no = r["household_no"]
            if r["valid_to"] is not None and m >= r["valid_to"]:
                continue
            b = balance.get(no, 0)
            if b <= 0 or rng.random() >= 0.2:
                continue
            goods, price = _GOODS[int(rng.integers(0, len(_GOODS)))]
            qty = max(1, b // price // 2)
            cost = price * qty
            if rng.random() < 0.03:
                cost = b + price  # below zero
            seq += 1
            day = m + dt.timedelta(days=int(rng.integers(0, (m_end - m).days)))
            rows.append(
                dict(
                    redemption_id=f"DH{m:%Y%m}{seq:06d}",
                    redeemed_date=day,
                    household_no=no,
                    community_code=r["community_code"],
                    head_idx=r["head_idx"],
                    goods=f"{goods}x{qty}",
                    points=int(cost),
                    month=m,
                    point_name=f"{r['community_code'][-3:]}爱心超市",
                )
            )
            balance[no] = b - int(cost)
    schema = {
        "redemption_id": pl.String,
        "redeemed_date": pl.Date,
        "household_no": pl.String,
        "community_code": pl.String,
        "head_idx": pl.Int64,
        "goods": pl.String,
        "points": pl.Int64,
        "month": pl.Date,
        "point_name": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _delivery(ctx: Context, m: dt.date) -> dt.date:
    return min(_next_month(m) + dt.timedelta(days=2), ctx.end - dt.timedelta(days=1))


def _write(ctx, rng, ms, lists, hh_rows, entries: pl.DataFrame, redemptions: pl.DataFrame) -> None:
    P = ctx.P
    # corrections: about 3 % of a month's entries come again in the next month's workbook, reviewed later
    # (待审核 -> 已审核 mostly; now and then an approved entry is rejected)
    by_month: dict[dt.date, list[dict]] = {m: [] for m in ms}
    final: dict[str, dict] = {}
    for e in entries.iter_rows(named=True):
        by_month[e["month"]].append(e)
        final[e["entry_id"]] = e
    for k, m in enumerate(ms[:-1]):
        nxt = ms[k + 1]
        for e in list(by_month[m]):
            if e["is_duplicate"] or e["person_gone"] or e["outside_validity"] or e["over_limit"]:
                continue
            if rng.random() < 0.03:
                again = dict(e)
                again["status"] = "已审核" if e["status"] == "待审核" else "已驳回"
                # reviewed again after the first review, in the next month (a deed of the month's last days may
                # have had its first review in the next month's first days already)
                again["reviewed_at"] = max(e["reviewed_at"], dt.datetime.combine(nxt, dt.time(10))) + dt.timedelta(
                    days=int(rng.integers(1, 3)), minutes=int(rng.integers(0, 400))
                )
                again["corrected_in"] = nxt
                by_month[nxt].append(again)
                final[e["entry_id"]] = again
    truth = pl.DataFrame(list(final.values()), schema=_ENTRY_SCHEMA, orient="row") if final else entries.clear()
    flagged = entries.filter(
        pl.col("is_duplicate") | pl.col("person_gone") | pl.col("outside_validity") | pl.col("over_limit")
    )
    pattern_people = set(flagged["member_idx"].to_list()) - {-1}
    pid = P["person_id"]
    mem_idx = truth["member_idx"].to_numpy()
    truth = truth.with_columns(
        pl.Series("head_person_id", pid[truth["head_idx"].to_numpy()], dtype=pl.Int64),
        pl.Series("member_person_id", np.where(mem_idx >= 0, pid[np.maximum(mem_idx, 0)], 0), dtype=pl.Int64),
    ).with_columns(pl.col("member_person_id").replace(0, None))
    truth.write_parquet(ctx.truth.dir / "credit_entries.parquet")
    redemptions.with_columns(
        pl.Series("head_person_id", pid[redemptions["head_idx"].to_numpy()], dtype=pl.Int64)
    ).write_parquet(ctx.truth.dir / "credit_redemptions.parquet")
    pl.DataFrame(
        [
            dict(
                household_no=r["household_no"],
                household_id=r["household_id"],
                community_code=r["community_code"],
                head_person_id=int(pid[r["head_idx"]]),
                valid_from=r["valid_from"],
                valid_to=r["valid_to"],
                split_from=r["split_from"],
            )
            for r in hh_rows
        ],
        schema={
            "household_no": pl.String,
            "household_id": pl.Int64,
            "community_code": pl.String,
            "head_person_id": pl.Int64,
            "valid_from": pl.Date,
            "valid_to": pl.Date,
            "split_from": pl.String,
        },
        orient="row",
    ).write_parquet(ctx.truth.dir / "credit_households.parquet")
    pl.DataFrame(
        [dict(month=m, **{k: v for k, v in it.items()}) for m in ms for it in lists[m]],
        schema={
            "month": pl.Date,
            "code": pl.String,
            "name": pl.String,
            "cat": pl.String,
            "pts": pl.Int64,
            "target": pl.String,
            "limit": pl.Int64,
            "start": pl.Date,
            "stop": pl.Date,
        },
        orient="row",
    ).rename(
        {
            "code": "item_code",
            "name": "item_name",
            "cat": "category",
            "pts": "points",
            "limit": "monthly_limit",
            "start": "valid_from",
            "stop": "valid_to",
        }
    ).write_parquet(ctx.truth.dir / "credit_items.parquet")

    for m in ms:
        name = f"JF_{m:%Y%m}.xlsx"
        folder = _delivery(ctx, m)
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
        wb.set_properties({"created": dt.datetime(2024, 1, 1, 9, 0, 0), "author": "积分管理系统"})
        ws = wb.add_worksheet(SHEET_ITEMS)
        ws.write_row(0, 0, ITEM_HEADER)
        for i, it in enumerate(lists[m], start=1):
            ws.write_row(i, 0, [it["code"], it["name"], it["cat"]])
            ws.write_number(i, 3, it["pts"])
            ws.write_row(i, 4, [it["target"]])
            if it["limit"]:
                ws.write_number(i, 5, it["limit"])
            ws.write_string(i, 6, _ym(it["start"]))
            if it["stop"] is not None:
                ws.write_string(i, 7, _ym(it["stop"]))
        rows = len(lists[m])

        ws = wb.add_worksheet(SHEET_ENTRIES)
        ws.write_row(0, 0, ENTRY_HEADER)
        es = sorted(by_month[m], key=lambda e: (e["reviewed_at"], e["entry_id"]))
        r_rng = ctx.rng(STREAM, 3, ms.index(m))
        heads = np.array([e["head_idx"] for e in es], dtype=np.int64)
        mems = np.array([e["member_idx"] for e in es], dtype=np.int64)
        rates_id, rates_nm = ctx.params.id_rates["civil_affairs"], ctx.params.name_rates["civil_affairs"]
        hp = render_people(ctx, heads, r_rng, feed=FEED, id_rates=rates_id, name_rates=rates_nm)
        mp = render_people(ctx, np.maximum(mems, 0), r_rng, feed=FEED, id_rates=rates_id, name_rates=rates_nm)
        # the people of an injected anomaly are written with clean IDs on every entry naming them, so what the
        # warehouse finds is the anomaly and not an ID fault (as the other feeds' pattern people are)
        clean = np.isin(mems, sorted(pattern_people)) & (mems >= 0)
        mp["id"][clean] = P["id_number"][mems[clean]]
        mp["id_fault"][clean] = "none"
        rec, mrec = [], []
        for i, e in enumerate(es, start=1):
            ws.write_string(i, 0, e["entry_id"])
            ws.write_string(i, 1, f"{e['occurred_date']:%Y-%m-%d}")
            ws.write_string(i, 2, e["household_no"])
            ws.write_string(i, 3, hp["name"][i - 1])
            ws.write_string(i, 4, hp["id"][i - 1])
            if e["member_idx"] >= 0:
                ws.write_string(i, 5, mp["name"][i - 1])
                ws.write_string(i, 6, mp["id"][i - 1])
                mrec.append(i - 1)
            ws.write_string(i, 7, e["item_code"])
            ws.write_number(i, 8, e["points"])
            ws.write_row(i, 9, [e["reason"], e["proof"], e["staff"], e["status"]])
            ws.write_string(i, 13, f"{e['reviewed_at']:%Y-%m-%d %H:%M:%S}")
            rec.append(i + 1)
        rec_a = np.array(rec, dtype=np.int64)
        mrec_a = np.array(mrec, dtype=np.int64)
        ctx.truth.records.add(
            FEED, name, SHEET_ENTRIES, rec_a, np.ones(len(rec_a)), hp["person_id"], hp["id_fault"], hp["name_fault"]
        )
        ctx.truth.records.add(
            FEED,
            name,
            SHEET_ENTRIES,
            rec_a[mrec_a] if len(mrec_a) else rec_a[:0],
            np.full(len(mrec_a), 2),
            mp["person_id"][mrec_a] if len(mrec_a) else mp["person_id"][:0],
            mp["id_fault"][mrec_a] if len(mrec_a) else mp["id_fault"][:0],
            mp["name_fault"][mrec_a] if len(mrec_a) else mp["name_fault"][:0],
        )
        rows += len(es)

        ws = wb.add_worksheet(SHEET_REDEEM)
        ws.write_row(0, 0, REDEEM_HEADER)
        rd = redemptions.filter(pl.col("month") == m).sort("redemption_id")
        rp = render_people(
            ctx, rd["head_idx"].to_numpy().astype(np.int64), r_rng, feed=FEED, id_rates=rates_id, name_rates=rates_nm
        )
        for i, e in enumerate(rd.iter_rows(named=True), start=1):
            ws.write_row(i, 0, [e["redemption_id"], f"{e['redeemed_date']:%Y-%m-%d}", e["household_no"]])
            ws.write_row(i, 3, [rp["name"][i - 1], rp["id"][i - 1], e["goods"]])
            ws.write_number(i, 6, e["points"])
            ws.write_string(i, 7, e["point_name"])
        ctx.truth.records.add(
            FEED,
            name,
            SHEET_REDEEM,
            np.arange(2, rd.height + 2, dtype=np.int64),
            np.ones(rd.height),
            rp["person_id"],
            rp["id_fault"],
            rp["name_fault"],
        )
        rows += rd.height
        wb.close()
        ctx.landing.deliver(FEED, folder, name, buf.getvalue(), rows)
