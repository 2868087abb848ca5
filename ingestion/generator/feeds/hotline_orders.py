"""hotline_orders: 12345 接诉即办 work orders (GD, one row per changed order per day) and their process
steps (GDLZ), UTF-8 with BOM, with the true lifecycle of every order in ``truth/hotline_*.parquet``.

Each order is simulated as a sequence of steps (受理, 派单, 签收, 退回/改派, 延期申请/批准/驳回, 办结, 回访,
重办, 撤销); the GD rows are the order's state at the end of each day it changed, derived from those
steps, so the two files agree except where the feed page says they do not (a step delivered a day
late, a badly kept order). All randomness comes from this feed's own streams (``ctx.rng(70, ...)``)
and its quirk rates from ``params.hotline_params``, so adding the feed moves no other feed's bytes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ... import workdays
from ..district import grid_at
from ..landing import csv_bytes
from ..patterns import InjectedHotline, record
from ._common import Context, pick_outsiders, pick_residents, render_people

FEED = "hotline_orders"

CHANNELS = ["12345电话", "12345网站", "12345微信", "邻里牵手微信群", "网格员代办", "领导留言板"]
CHANNEL_P = [0.55, 0.08, 0.12, 0.16, 0.06, 0.03]
REQUEST_TYPES = ["咨询", "求助", "投诉", "举报", "建议", "表扬"]
REQUEST_P = [0.25, 0.3, 0.3, 0.07, 0.06, 0.02]
#: 诉求分类 -> the 区直部门 that takes it when it is not the street's or the community's
CATEGORIES = {
    "城乡建设/物业管理": "区住建局",
    "城乡建设/违章搭建": "区城管局",
    "市场监管/消费维权": "区市场监管局",
    "生态环境/噪声污染": "区生态环境分局",
    "劳动社保/拖欠工资": "区人社局",
    "公共服务/供水供电": "区水务局",
    "民政/养老服务": "区民政局",
    "社会治安/邻里纠纷": "区司法局",
    "交通运输/道路设施": "区交通运输局",
    "其他/其他": "区政务服务中心",
}
CATEGORY_P = [0.2, 0.08, 0.1, 0.12, 0.06, 0.12, 0.06, 0.1, 0.08, 0.08]
URGENCY = ["一般", "紧急", "复杂", ""]
URGENCY_P = [0.78, 0.06, 0.1, 0.06]
GD_COLUMNS = [
    "工单编号",
    "来电时间",
    "来源渠道",
    "诉求人",
    "证件号码",
    "联系电话",
    "诉求类型",
    "诉求分类",
    "紧急程度",
    "诉求内容",
    "事发地址",
    "经度",
    "纬度",
    "所属街道",
    "所属社区",
    "承办单位",
    "派单时间",
    "签收时间",
    "办理时限",
    "工单状态",
    "办结时间",
    "回访时间",
    "回访结果",
    "满意度",
    "是否重办",
    "更新时间",
]
GDLZ_COLUMNS = ["工单编号", "环节序号", "环节", "环节时间", "处理单位", "处理人", "说明"]
TEMPLATES = [
    "来电人反映{place}{what}，已持续多日，希望相关部门尽快处理。",
    '市民称：{place}"{what}"，联系电话{phone}，请核实处理。',
    "邻里牵手群内居民反映，{place}{what}，群内多人附和，\n请社区跟进。",
    "来电人{name}反映{what}，地点{place}，要求给予答复，并称如不解决将继续反映。",
]
WHAT = {
    "城乡建设/物业管理": "小区电梯经常停运，物业不作为",
    "城乡建设/违章搭建": "楼顶有人违规搭建彩钢棚",
    "市场监管/消费维权": "商户预付卡跑路，无法退款",
    "生态环境/噪声污染": "夜间施工噪音扰民",
    "劳动社保/拖欠工资": "工地拖欠农民工工资",
    "公共服务/供水供电": "小区停水未提前通知",
    "民政/养老服务": "老人申请居家养老服务无人回复",
    "社会治安/邻里纠纷": "楼上邻居漏水拒不维修",
    "交通运输/道路设施": "路面塌陷存在安全隐患",
    "其他/其他": "咨询相关政策",
}
_STAFF = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"


@dataclass
class Step:
    step: str
    at: dt.datetime
    unit: str
    note: str = ""
    late: bool = False  # delivered in the next day's GDLZ file


@dataclass
class Order:
    order_id: str
    called: dt.datetime
    urgency: str
    first_unit: str
    steps: list[Step] = field(default_factory=list)
    truth: dict = field(default_factory=dict)


def _fmt(t: dt.datetime | None) -> str:
    return "" if t is None else f"{t:%Y-%m-%d %H:%M:%S}"


def _after(rng: np.random.Generator, t: dt.datetime, lo_min: float, hi_min: float) -> dt.datetime:
    return t + dt.timedelta(seconds=int(rng.integers(int(lo_min * 60), int(hi_min * 60) + 1)))


def _simulate(o: Order, rng: np.random.Generator, q: dict, units: list[str], staff: str) -> None:
    """The order's steps and its true lifecycle (``o.truth``). Units: first, the re-dispatch target."""
    urg = o.urgency or "一般"
    s = o.steps
    t = _after(rng, o.called, 1, 15)
    s.append(Step("受理", t, "12345热线"))
    tr = o.truth
    tr.update(
        cancelled=False,
        returns=0,
        redispatches=0,
        ext_asked=0,
        ext_granted=0,
        ext_refused=0,
        reopened=False,
        badly_kept="",
        dispatches=[],
        closed_at=None,
        first_closed_at=None,
        followed_up_at=None,
        followup_result=None,
        satisfaction=None,
        due_at=None,
        first_due_at=None,
    )
    if rng.random() < q["cancelled"]:
        s.append(Step("撤销", _after(rng, t, 5, 60), "12345热线", "来电人撤回诉求"))
        tr["cancelled"] = True
        return
    dispatched = t if rng.random() < q["tie"] else _after(rng, t, 5, 120)
    s.append(Step("派单", dispatched, "12345热线"))
    tr["first_dispatch_at"] = dispatched
    due = workdays.default_due_at(dispatched, urg)
    tr["first_due_at"] = due
    holder = units[0]
    limit = workdays.sign_limit(urg)

    def sign(at_dispatch: dt.datetime, unit: str) -> dt.datetime:
        late = rng.random() < q["late_sign"]
        minutes = limit.total_seconds() / 60
        signed = (
            _after(rng, at_dispatch, minutes + 5, minutes * 6) if late else _after(rng, at_dispatch, 1, minutes - 1)
        )
        tr["dispatches"].append(
            {"unit": unit, "dispatched_at": at_dispatch, "signed_at": signed, "limit_at": at_dispatch + limit}
        )
        return signed

    if rng.random() < q["returned"]:
        # the first unit signs or not, then sends it back as not theirs; the platform re-dispatches
        back = _after(rng, dispatched, 10, 180)
        tr["dispatches"].append(
            {"unit": holder, "dispatched_at": dispatched, "signed_at": None, "limit_at": dispatched + limit}
        )
        s.append(Step("退回", back, holder, "非本单位职责，申请退回"))
        tr["returns"] += 1
        redispatch = _after(rng, back, 10, 90)
        holder = units[1]
        s.append(Step("改派", redispatch, "12345热线", f"改派至{holder}"))
        tr["redispatches"] += 1
        signed = sign(redispatch, holder)
    else:
        signed = sign(dispatched, holder)
    s.append(Step("签收", signed, holder))
    # handling: on time, or late past the deadline in force
    close_by = due
    if rng.random() < q["extension"]:
        ask = max(signed, due - dt.timedelta(hours=int(rng.integers(6, 30))))
        s.append(Step("延期申请", ask, holder, "情况复杂，需协调多部门，申请延期"))
        tr["ext_asked"] += 1
        decided = _after(rng, ask, 30, 240)
        if rng.random() < 0.7:
            due = workdays.add_working_days(due, 5)
            s.append(Step("延期批准", decided, "12345热线", f"同意延期，延期至{due:%Y-%m-%d %H:%M}"))
            tr["ext_granted"] += 1
        else:
            s.append(Step("延期驳回", decided, "12345热线", "延期理由不充分，驳回"))
            tr["ext_refused"] += 1
        close_by = due
    span = (close_by - signed).total_seconds()
    if rng.random() < q["late_close"]:
        closed = close_by + dt.timedelta(seconds=int(rng.integers(3600, 5 * 86400)))
    else:
        closed = signed + dt.timedelta(seconds=int(max(60, span) * rng.uniform(0.1, 0.98)))
    s.append(Step("办结", closed, holder, "已联系来电人并现场核实处理，诉求已解决"))
    tr["first_closed_at"] = closed
    tr["closed_at"], tr["due_at"] = closed, due
    tr["final_unit"] = holder
    if rng.random() < 0.9:
        fu = _after(rng, closed, 60, 2 * 1440)
        solved = rng.random() < 0.82
        sat = (
            ["满意", "基本满意", "不满意", "未评价"][int(rng.choice(4, p=[0.6, 0.2, 0.08, 0.12]))]
            if solved
            else ["不满意", "未评价", "基本满意"][int(rng.choice(3, p=[0.7, 0.2, 0.1]))]
        )
        s.append(Step("回访", fu, "12345热线", f"回访结果：{'已解决' if solved else '未解决'}；满意度：{sat}"))
        tr.update(followed_up_at=fu, followup_result="已解决" if solved else "未解决", satisfaction=sat)
        if not solved and rng.random() < q["reopen"]:
            reopen = _after(rng, fu, 30, 600)
            s.append(Step("重办", reopen, "12345热线", "回访未解决，重办"))
            tr["reopened"], tr["reopened_at"] = True, reopen
            due = workdays.default_due_at(reopen, urg)
            signed2 = sign(reopen, holder)
            s.append(Step("签收", signed2, holder))
            closed2 = signed2 + dt.timedelta(
                seconds=int(max(60, (due - signed2).total_seconds()) * rng.uniform(0.1, 0.9))
            )
            s.append(Step("办结", closed2, holder, "重办后已处理"))
            tr.update(closed_at=closed2, due_at=due, followed_up_at=None, followup_result=None, satisfaction=None)
            if rng.random() < 0.8:
                fu2 = _after(rng, closed2, 60, 1440)
                sat2 = ["满意", "基本满意", "不满意"][int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
                s.append(Step("回访", fu2, "12345热线", f"回访结果：已解决；满意度：{sat2}"))
                tr.update(followed_up_at=fu2, followup_result="已解决", satisfaction=sat2)
    tr["staff"] = staff


def _badly_kept(o: Order, rng: np.random.Generator) -> None:
    """One of the page's badly kept forms: 办结 before any 签收, 回访 with no 办结, a repeated step number."""
    kinds = [
        k
        for k, ok in (
            ("closed_before_signed", any(x.step == "办结" for x in o.steps)),
            ("followup_without_close", any(x.step == "回访" for x in o.steps)),
            ("step_repeated", len(o.steps) > 2),
        )
        if ok
    ]
    if not kinds:
        return
    kind = kinds[int(rng.integers(0, len(kinds)))]
    o.truth["badly_kept"] = kind
    if kind == "closed_before_signed":
        close = next(x for x in o.steps if x.step == "办结")
        sign = next(x for x in o.steps if x.step == "签收")
        sign.at = close.at + dt.timedelta(minutes=int(rng.integers(5, 120)))
    elif kind == "followup_without_close":
        o.steps = [x for x in o.steps if x.step != "办结"]
    # step_repeated is written when step numbers are given (see _numbered)


def _numbered(o: Order) -> list[tuple[int, Step]]:
    ordered = sorted(o.steps, key=lambda x: x.at)  # stable: a tie keeps the order the steps were taken in
    out = [(i + 1, x) for i, x in enumerate(ordered)]
    if o.truth.get("badly_kept") == "step_repeated":
        no, x = out[1]
        out.insert(2, (no, Step(x.step, x.at + dt.timedelta(minutes=3), x.unit, (x.note or "") + "（补录）")))
    return out


def _state_rows(
    o: Order, numbered: list[tuple[int, Step]], end: dt.datetime, base: dict, print_due: bool
) -> list[dict]:
    """GD rows: the order's state at the end of each day a step changed it (steps before ``end``)."""
    urg = o.urgency or "一般"
    st = {
        "工单状态": "待派单",
        "承办单位": "",
        "派单时间": None,
        "签收时间": None,
        "办理时限": None,
        "办结时间": None,
        "回访时间": None,
        "回访结果": "",
        "满意度": "",
        "是否重办": "否",
    }
    due_printed = True  # an extension or a 重办 always prints the deadline
    rows: list[dict] = []
    steps = [(n, x) for n, x in numbered if x.at < end]
    days = sorted({x.at.date() for _, x in steps})
    by_day: dict[dt.date, list[Step]] = {}
    for _, x in steps:
        by_day.setdefault(x.at.date(), []).append(x)
    seen: set[tuple] = set()
    for day in days:
        last = None
        for x in by_day[day]:
            if (x.step, x.at, x.note) in seen:  # the repeated step number changes no state
                continue
            seen.add((x.step, x.at, x.note))
            last = x.at
            if x.step == "派单":
                st.update(
                    工单状态="已派单",
                    承办单位=o.first_unit,
                    派单时间=x.at,
                    签收时间=None,
                    办理时限=workdays.default_due_at(x.at, urg),
                )
                due_printed = print_due
            elif x.step == "改派":
                st.update(工单状态="已派单", 承办单位=x.note.removeprefix("改派至"), 签收时间=None)
            elif x.step == "签收":
                st.update(
                    工单状态="已签收" if st["工单状态"] not in ("已办结", "已回访") else st["工单状态"],
                    签收时间=x.at,
                    承办单位=x.unit,
                )
            elif x.step == "退回":
                st.update(工单状态="已退回", 签收时间=None)
            elif x.step == "延期申请":
                st.update(工单状态="延期中")
            elif x.step == "延期批准":
                st.update(工单状态="延期中", 办理时限=dt.datetime.strptime(x.note.split("延期至")[1], "%Y-%m-%d %H:%M"))
                due_printed = True
            elif x.step == "延期驳回":
                st.update(工单状态="办理中")
            elif x.step == "办结":
                st.update(工单状态="已办结", 办结时间=x.at)
            elif x.step == "回访":
                result, sat = x.note.removeprefix("回访结果：").split("；满意度：")
                st.update(工单状态="已回访", 回访时间=x.at, 回访结果=result, 满意度=sat)
            elif x.step == "重办":
                st.update(
                    工单状态="已派单",
                    是否重办="是",
                    办理时限=workdays.default_due_at(x.at, urg),
                    签收时间=None,
                    办结时间=None,
                    回访时间=None,
                    回访结果="",
                    满意度="",
                )
                due_printed = True
            elif x.step == "撤销":
                st.update(工单状态="已撤销")
        if last is None:
            continue
        row = dict(base)
        row.update({k: (_fmt(v) if isinstance(v, dt.datetime) else v) for k, v in st.items()})
        if not due_printed:
            row["办理时限"] = ""
        row["更新时间"] = _fmt(last)
        row["_file_date"] = day
        rows.append(row)
    return rows


def build(ctx: Context) -> None:
    q = ctx.params.extra[FEED]
    rng = ctx.rng(70)
    d = ctx.district
    n_res = ctx.people.n_residents
    # a county of 1M receives about a thousand orders a day
    per_day = rng.poisson(1.0 * n_res / 1000, ctx.days)
    n = int(per_day.sum())
    day = np.repeat(np.array(ctx.dates(), dtype="datetime64[D]"), per_day)
    seq = np.concatenate([np.arange(1, k + 1) for k in per_day]) if n else np.array([], dtype=int)
    secs = rng.integers(7 * 3600, 23 * 3600, n)
    secs = secs[np.lexsort((secs, day))]
    call = day.astype("datetime64[s]") + secs.astype("timedelta64[s]")
    kind = rng.choice(3, n, p=[0.85 - q["anonymous"], 0.15, q["anonymous"]])
    who = np.where(kind == 0, pick_residents(ctx, rng, n), pick_outsiders(ctx, rng, n))
    r = render_people(ctx, who, ctx.rng(71), feed=FEED, id_rates=q["id_rates"], name_rates=q["name_rates"])
    anon = kind == 2
    r["name"][anon] = np.where(rng.random(int(anon.sum())) < 0.6, "匿名", "")
    r["name_fault"][anon] = "anonymous"
    no_id = anon | (rng.random(n) >= q["id_given"])
    r["id"][no_id], r["id_fault"][no_id] = "", "empty"
    r["person_id"][anon] = 0
    pts = d.points
    home = ctx.P["point"][who]
    pt = np.where((home >= 0) & (rng.random(n) < 0.6), home, rng.integers(0, pts.height, n))
    grid = grid_at(d, pt, day)
    comm = pts["community_code"].to_numpy()[pt]
    street = pts["street_code"].to_numpy()[pt]
    comm_name = dict(d.communities.select("community_code", "community_name").iter_rows())
    street_name = dict(d.streets.select("street_code", "street_name").iter_rows())
    std, road = pts["std_address"].to_numpy(), pts["road"].to_numpy()
    hint = rng.choice(3, n, p=[0.7, 0.12, 0.18])  # address point / coordinates only / the community picked
    coords = (hint == 1) | (rng.random(n) < q["coordinates"])
    cats = list(CATEGORIES)
    cat = rng.choice(len(cats), n, p=CATEGORY_P)
    rtype = rng.choice(len(REQUEST_TYPES), n, p=REQUEST_P)
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_P)
    urgency = rng.choice(len(URGENCY), n, p=URGENCY_P)
    level = rng.choice(3, n, p=[0.6, 0.25, 0.15])  # community / street / department first
    sim = ctx.rng(72)
    end = dt.datetime.combine(ctx.end, dt.time())
    gd_rows: list[dict] = []
    step_rows: list[dict] = []
    truths: list[dict] = []
    for k in range(n):
        c, s_code = comm[k], street[k]
        sname = street_name[s_code]
        cname = comm_name[c]
        comm_unit = cname[:-2] + "社区居委会" if cname.endswith("社区") else cname + "村委会"
        street_unit = sname + ("办事处" if sname.endswith("街道") else "人民政府")
        dept = CATEGORIES[cats[cat[k]]]
        first = [comm_unit, street_unit, dept][level[k]]
        other = dept if first != dept else street_unit
        oid = f"GD{d.county_code}{str(day[k]).replace('-', '')}{seq[k]:06d}"
        o = Order(oid, call[k].astype(dt.datetime), URGENCY[urgency[k]], first)
        staff = _STAFF[int(sim.integers(0, len(_STAFF)))] + "工作员"
        _simulate(o, sim, q, [first, other], staff)
        o.truth["true_steps"] = [Step(x.step, x.at, x.unit, x.note) for x in o.steps]
        if sim.random() < q["badly_kept"]:
            _badly_kept(o, sim)
        numbered = _numbered(o)
        p = pt[k]
        if hint[k] == 0:
            addr = std[p] if sim.random() < 0.6 else std[p][len(d.prefix) :]
        elif hint[k] == 1:
            addr = road[p] + "附近"
        else:
            addr = cname + "辖区"
        picked_empty = sim.random() < q["picked_empty"]
        what = WHAT[cats[cat[k]]]
        text = TEMPLATES[int(sim.integers(0, len(TEMPLATES)))].format(
            place=road[p], what=what, phone=ctx.P["phone"][who[k]], name=ctx.P["name"][who[k]]
        )
        base = {
            "工单编号": oid,
            "来电时间": _fmt(o.called),
            "来源渠道": CHANNELS[channel[k]],
            "诉求人": r["name"][k],
            "证件号码": r["id"][k],
            "联系电话": r["phone"][k],
            "诉求类型": REQUEST_TYPES[rtype[k]],
            "诉求分类": cats[cat[k]],
            "紧急程度": URGENCY[urgency[k]],
            "诉求内容": text,
            "事发地址": addr,
            "经度": f"{pts['lon'][int(p)]:.6f}" if coords[k] else "",
            "纬度": f"{pts['lat'][int(p)]:.6f}" if coords[k] else "",
            "所属街道": "" if picked_empty else sname,
            "所属社区": "" if picked_empty else cname,
            "_pid": int(r["person_id"][k]),
            "_idf": str(r["id_fault"][k]),
            "_nf": str(r["name_fault"][k]),
            "_grid": grid[k],
            "_comm": c,
            "_street": s_code,
            "_hint": ["address_point", "coordinate", "community_only"][hint[k]],
            "_call": o.called,
        }
        print_due = sim.random() >= q["empty_due"]
        gd_rows += _state_rows(o, numbered, end, base, print_due)
        for no, x in numbered:
            if x.at >= end:
                continue
            late = sim.random() < q["step_late"]
            fday = x.at.date() + dt.timedelta(days=1 if late else 0)
            if fday >= ctx.end:
                fday = x.at.date()
            step_rows.append(
                {
                    "工单编号": oid,
                    "环节序号": str(no),
                    "环节": x.step,
                    "环节时间": _fmt(x.at),
                    "处理单位": x.unit,
                    "处理人": o.truth.get("staff", "值班员") if x.unit != "12345热线" else "话务员",
                    "说明": x.note,
                    "_file_date": fday,
                    "_late": fday != x.at.date(),
                    "_at": x.at,
                }
            )
        truths.append(
            _truth_row(o, end, grid[k], c, s_code, int(r["person_id"][k]), CHANNELS[channel[k]], cats[cat[k]])
        )
    if ctx.patterns is not None and ctx.patterns.hotline:
        _inject(ctx, end, gd_rows, step_rows, truths)
    _emit(ctx, gd_rows, step_rows)
    _write_truth(ctx, truths, step_rows)


def _inject(ctx: Context, end: dt.datetime, gd_rows: list[dict], step_rows: list[dict], truths: list[dict]) -> None:
    """The pattern plan's orders (after the feed's own, from their own stream, so those keep their bytes):
    callers with clean IDs, the address point's standard address with coordinates, lifecycles fixed by the
    pattern's shape. Each order, and the records of other feeds a pattern names, goes into the truth."""
    specs: list[InjectedHotline] = ctx.patterns.hotline
    rng = ctx.rng(905)
    d, pts = ctx.district, ctx.district.points
    who = np.array([x.caller for x in specs], dtype=np.int64)
    r = render_people(ctx, who, rng, feed=FEED, id_rates={}, name_rates={})
    pt = np.array([x.point for x in specs], dtype=np.int64)
    grid = grid_at(d, pt, np.array([x.day for x in specs], dtype="datetime64[D]"))
    comm_name = dict(d.communities.select("community_code", "community_name").iter_rows())
    street_name = dict(d.streets.select("street_code", "street_name").iter_rows())
    for k, x in enumerate(specs):
        p = int(pt[k])
        c, s_code = str(pts["community_code"][p]), str(pts["street_code"][p])
        cname = comm_name[c]
        unit = cname[:-2] + "社区居委会" if cname.endswith("社区") else cname + "村委会"
        oid = x.key(d.county_code)
        called = dt.datetime.combine(x.day, dt.time(x.hour, int(rng.integers(0, 50))))
        o = Order(oid, called, x.urgency, unit)
        o.steps += [
            Step("受理", called + dt.timedelta(minutes=3), "12345热线"),
            Step("派单", called + dt.timedelta(minutes=20), "12345热线"),
        ]
        if x.shape != "unsigned":
            o.steps.append(Step("签收", called + dt.timedelta(minutes=45), unit))
        if x.extend_to is not None:
            # asked before the default deadline and on a data day; granted an hour later
            default = workdays.default_due_at(called + dt.timedelta(minutes=20), x.urgency)
            asked = min(
                default - dt.timedelta(hours=2), dt.datetime.combine(ctx.end - dt.timedelta(days=1), dt.time(16))
            )
            o.steps += [
                Step("延期申请", asked, unit, "情况复杂，需协调多部门，申请延期"),
                Step(
                    "延期批准",
                    asked + dt.timedelta(hours=1),
                    "12345热线",
                    f"同意延期，延期至{x.extend_to:%Y-%m-%d %H:%M}",
                ),
            ]
        if x.shape == "closed":
            o.steps.append(Step("办结", called + dt.timedelta(hours=4), unit, "已联系来电人并现场核实处理，诉求已解决"))
        o.truth["true_steps"] = [Step(y.step, y.at, y.unit, y.note) for y in o.steps]
        numbered = _numbered(o)
        base = {
            "工单编号": oid,
            "来电时间": _fmt(called),
            "来源渠道": "12345电话",
            "诉求人": r["name"][k],
            "证件号码": r["id"][k],
            "联系电话": r["phone"][k],
            "诉求类型": "投诉",
            "诉求分类": x.category,
            "紧急程度": x.urgency,
            "诉求内容": f"来电人反映{pts['road'][p]}{WHAT[x.category]}，要求尽快处理。",
            "事发地址": pts["std_address"][p],
            "经度": f"{pts['lon'][p]:.6f}",
            "纬度": f"{pts['lat'][p]:.6f}",
            "所属街道": street_name[s_code],
            "所属社区": cname,
            "_pid": int(r["person_id"][k]),
            "_idf": str(r["id_fault"][k]),
            "_nf": str(r["name_fault"][k]),
            "_grid": grid[k],
            "_comm": c,
            "_street": s_code,
            "_hint": "address_point",
            "_call": called,
        }
        gd_rows += _state_rows(o, numbered, end, base, True)
        for no, y in numbered:
            if y.at < end:
                step_rows.append(
                    {
                        "工单编号": oid,
                        "环节序号": str(no),
                        "环节": y.step,
                        "环节时间": _fmt(y.at),
                        "处理单位": y.unit,
                        "处理人": "话务员" if y.unit == "12345热线" else "值班员",
                        "说明": y.note,
                        "_file_date": y.at.date(),
                        "_late": False,
                        "_at": y.at,
                    }
                )
        truths.append(_truth_row(o, end, grid[k], c, s_code, int(r["person_id"][k]), "12345电话", x.category))
        rows = [(FEED, oid, "caller", int(r["person_id"][k]), x.day)]
        rows += [(feed, key, role, int(ctx.P["person_id"][i]), on) for feed, key, role, i, on in x.related]
        for feed, key, role, pid, on in rows:
            record(
                ctx.patterns,
                pattern=x.pattern,
                pattern_id=x.pattern_id,
                feed=feed,
                record_key=key,
                role=role,
                person_id=pid,
                grid_code=str(grid[k]),
                record_date=on,
                category=x.category,
            )


def _truth_row(
    o: Order, end: dt.datetime, grid: str, comm: str, street: str, pid: int, channel: str, category: str
) -> dict:
    """The order's true lifecycle as of the end of the period, walked from the steps as taken (before a
    badly kept order was mangled; steps after the period have not happened yet)."""
    urg = o.urgency or "一般"
    limit = workdays.sign_limit(urg)
    steps = sorted((x for x in o.truth["true_steps"] if x.at < end), key=lambda x: x.at)
    due = first_dispatch = closed = first_closed = fu = None
    result = sat = None
    units: list[str] = []
    dispatches: list[list] = []  # [dispatched_at, signed_at]
    count = {k: 0 for k in ("退回", "改派", "延期申请", "延期批准", "延期驳回", "重办")}
    for x in steps:
        if x.step in count:
            count[x.step] += 1
        if x.step == "派单":
            first_dispatch = x.at
            due = workdays.default_due_at(x.at, urg)
            dispatches.append([x.at, None])
            units.append(o.first_unit)
        elif x.step == "改派":
            dispatches.append([x.at, None])
            units.append(x.note.removeprefix("改派至"))
        elif x.step == "重办":
            due = workdays.default_due_at(x.at, urg)
            dispatches.append([x.at, None])
            closed, fu, result, sat = None, None, None, None
        elif x.step == "签收" and dispatches and dispatches[-1][1] is None:
            dispatches[-1][1] = x.at
        elif x.step == "延期批准":
            due = dt.datetime.strptime(x.note.split("延期至")[1], "%Y-%m-%d %H:%M")
        elif x.step == "办结":
            closed = x.at
            first_closed = first_closed or x.at
        elif x.step == "回访":
            fu = x.at
            result, sat = x.note.removeprefix("回访结果：").split("；满意度：")
    return {
        "order_id": o.order_id,
        "called_at": o.called,
        "channel": channel,
        "category": category,
        "urgency": urg,
        "person_id": pid or None,
        "grid_code": grid,
        "community_code": comm,
        "street_code": street,
        "first_unit": o.first_unit if first_dispatch else None,
        "final_unit": units[-1] if units else None,
        "is_cancelled": any(x.step == "撤销" for x in steps),
        "first_dispatch_at": first_dispatch,
        "dispatches": len(dispatches),
        "dispatches_signed_in_limit": sum(1 for a, b in dispatches if b is not None and b - a <= limit),
        "dispatches_due_to_sign": sum(1 for a, b in dispatches if b is not None or a + limit <= end),
        "returns": count["退回"],
        "redispatches": count["改派"],
        "ext_asked": count["延期申请"],
        "ext_granted": count["延期批准"],
        "ext_refused": count["延期驳回"],
        "is_reopened": count["重办"] > 0,
        "first_closed_at": first_closed,
        "closed_at": closed,
        "due_at": due,
        "is_on_time": None if closed is None else closed <= due,
        "working_days_to_close": None if closed is None else workdays.working_days_between(first_dispatch, closed),
        "followed_up_at": fu,
        "followup_result": result,
        "satisfaction": sat,
        # still open at the period's end with its last dispatch unsigned past the limit
        "is_awaiting_sign_past_limit": bool(
            closed is None
            and dispatches
            and dispatches[-1][1] is None
            and dispatches[-1][0] + limit <= end
            and not any(x.step == "撤销" for x in steps)
        ),
        "badly_kept": o.truth.get("badly_kept") or None,
    }


def _emit(ctx: Context, gd_rows: list[dict], step_rows: list[dict]) -> None:
    """One GD and one GDLZ file per data day, delivered together (empty days included)."""
    gd = pl.DataFrame(gd_rows, schema_overrides={c: pl.Utf8 for c in GD_COLUMNS}) if gd_rows else None
    lz = pl.DataFrame(step_rows, schema_overrides={c: pl.Utf8 for c in GDLZ_COLUMNS}) if step_rows else None
    gd_parts = {k[0]: v for k, v in gd.partition_by("_file_date", as_dict=True).items()} if gd is not None else {}
    lz_parts = (
        {k[0]: v for k, v in lz.sort("_at", maintain_order=True).partition_by("_file_date", as_dict=True).items()}
        if lz is not None
        else {}
    )
    rng = ctx.rng(73)
    for day in ctx.dates():
        folder = ctx.daily_folder(day, rng)
        g = gd_parts.get(day)
        g = g.sort("更新时间", "工单编号") if g is not None else pl.DataFrame(schema={c: pl.Utf8 for c in GD_COLUMNS})
        name = f"GD_{day:%Y%m%d}.csv"
        ctx.landing.deliver(
            FEED, folder, name, csv_bytes(g.select(GD_COLUMNS), encoding="utf-8", bom=True, crlf=True), g.height
        )
        if g.height:
            rec = np.arange(1, g.height + 1)
            ctx.truth.records.add(
                FEED, name, "", rec, np.ones(g.height), g["_pid"].to_numpy(), g["_idf"].to_numpy(), g["_nf"].to_numpy()
            )
            ctx.truth.event_rows(
                FEED,
                name,
                rec,
                g["工单编号"],
                pl.Series(g["_call"]).cast(pl.Datetime("us")),
                g["_grid"],
                g["_comm"],
                g["_street"],
                g["_hint"],
            )
        s = lz_parts.get(day)
        s = s if s is not None else pl.DataFrame(schema={c: pl.Utf8 for c in GDLZ_COLUMNS})
        name = f"GDLZ_{day:%Y%m%d}.csv"
        ctx.landing.deliver(
            FEED, folder, name, csv_bytes(s.select(GDLZ_COLUMNS), encoding="utf-8", bom=True, crlf=True), s.height
        )
        if s.height and "_late" in s.columns:
            for no in np.flatnonzero(s["_late"].to_numpy()):
                ctx.truth.fault(FEED, folder, name, "step_a_day_late", record_no=int(no) + 1)


def _write_truth(ctx: Context, truths: list[dict], step_rows: list[dict]) -> None:
    orders = pl.DataFrame(truths, infer_schema_length=None) if truths else pl.DataFrame()
    orders.write_parquet(ctx.truth.dir / "hotline_orders.parquet")
    steps = (
        pl.DataFrame(step_rows, infer_schema_length=None).select(
            pl.col("工单编号").alias("order_id"),
            pl.col("环节序号").cast(pl.Int64).alias("step_no"),
            pl.col("环节").alias("step"),
            pl.col("_at").alias("step_at"),
            pl.col("处理单位").alias("unit"),
            pl.col("_file_date").alias("file_date"),
            pl.col("_late").alias("is_late"),
        )
        if step_rows
        else pl.DataFrame()
    )
    steps.write_parquet(ctx.truth.dir / "hotline_steps.parquet")
