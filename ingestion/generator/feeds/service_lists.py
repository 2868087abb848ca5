"""service_lists: the community's 三张清单 ledger (QD_ daily workbooks: 需求清单, 资源清单, 项目清单).

Owns the generated needs, resources and projects and their truth (truth/service_needs.parquet,
truth/service_resources.parquet, truth/service_projects.parquet, truth/service_patterns.parquet). Everything
is drawn from this feed's own random streams (110-119), so adding it leaves every other feed's bytes for a
seed unchanged.

Resources: per community partner units, serving party members (在职党员 双报到), volunteers, social
organisations, units based in the area and shops; together they cover every 需求类别 in their community (so
a clean landing has no category without supply). A few are suspended for a while; a few are cancelled and
one of those is registered again under a new 资源编号 a few days later (same person or unit).

Needs: residents post about one a day per 300 residents; the community assigns each to an active resource
whose 服务范围 covers it and whose 服务类别 includes it, the resource accepts and closes it (most within a day:
"当天事、当天结"). The page's quirks: a resource outside its 服务范围 (when none inside covers the
category), 接单时间 earlier than 派单时间 (a device clock), 办结 with no 接单 (资源编号 set at 办结), the same
need posted twice minutes apart (the copy is withdrawn), hand-typed rows whose times are text.

With patterns (``ctx.patterns``): a few needs dispatched and never accepted (unaccepted after 3 days), and
one community where the only resource of one category is cancelled mid-period while needs in it keep
coming (demand without supply). Without patterns every need is accepted or ended within 3 days.
"""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import polars as pl
import xlsxwriter

from .._quirks import fmt_datetime
from ._common import Context, render_homes, render_people

FEED = "service_lists"
CATEGORIES = ["生活服务", "助老助残", "就业帮扶", "法律咨询", "矛盾调解", "环境整治", "文体活动", "医疗健康", "其他"]
CATEGORY_P = [0.28, 0.18, 0.07, 0.06, 0.07, 0.1, 0.08, 0.1, 0.06]
CHANNELS = ["小程序", "网格员代录", "电话", "议事会"]
CHANNEL_P = [0.55, 0.3, 0.12, 0.03]
RESOURCE_TYPES = ["联建单位", "在职党员", "志愿者", "社会组织", "驻区单位", "商户"]
RESOURCE_P = [0.15, 0.38, 0.27, 0.08, 0.07, 0.05]
PERSON_TYPES = ("在职党员", "志愿者")
NEED_COLUMNS = [
    "需求编号",
    "提出时间",
    "提出渠道",
    "提出人",
    "证件号码",
    "联系电话",
    "网格编码",
    "地址",
    "需求类别",
    "需求描述",
    "是否微心愿",
    "资源编号",
    "派单时间",
    "接单时间",
    "办结时间",
    "当前状态",
    "状态时间",
    "群众评价",
    "项目编号",
]
RESOURCE_COLUMNS = [
    "资源编号",
    "资源类型",
    "名称",
    "证件号码",
    "联系电话",
    "所属单位",
    "服务类别",
    "服务范围",
    "登记日期",
    "状态",
    "状态时间",
]
PROJECT_COLUMNS = [
    "项目编号",
    "项目名称",
    "项目类别",
    "牵头资源",
    "关联需求",
    "参与资源",
    "立项日期",
    "计划完成日期",
    "完成日期",
    "状态",
    "受益人数",
    "投入资金(元)",
    "状态时间",
]
SHEETS = {"需求清单": NEED_COLUMNS, "资源清单": RESOURCE_COLUMNS, "项目清单": PROJECT_COLUMNS}
UNIT_WORDS = ["物业服务中心", "卫生服务中心", "律师事务所", "职业技能学校", "供电所", "邮政支局", "超市", "义工协会"]
EMPLOYERS = ["区教育局", "区人民医院", "区税务局", "区供电局", "区农商银行", "区市场监管局", "第一中学"]
DESCRIPTIONS = {
    "生活服务": "家中水管漏水需维修",
    "助老助残": "老人行动不便需代购药品",
    "就业帮扶": "希望获得就业技能培训信息",
    "法律咨询": "咨询房屋租赁合同纠纷",
    "矛盾调解": "邻里噪音纠纷请求调解",
    "环境整治": "楼道堆放杂物需清理",
    "文体活动": "希望组织广场舞培训",
    "医疗健康": "需上门测量血压",
    "其他": "其他事项",
}
WISHES = ["孩子需要一个新书包", "希望有人帮忙修好轮椅", "想要一台收音机", "希望有人来家里陪聊"]

# rates (service_lists.md "What real ledgers look like")
NEEDS_PER_RESIDENT_DAY = 1 / 300
WISH_RATE = 0.1
WITHDRAW_RATE = 0.04
CANNOT_RATE = 0.03
CLOCK_SKEW_RATE = 0.02
NO_ACCEPT_CLOSE_RATE = 0.03
DOUBLE_TAP_RATE = 0.015
TYPED_TEXT_RATE = 0.1  # rows typed in by hand: their times are text
SUSPEND_RATE = 0.04
CANCEL_RATE = 0.03
RATINGS = ["满意", "基本满意", "不满意", ""]
RATING_P = [0.74, 0.15, 0.05, 0.06]
HOUR = dt.timedelta(hours=1)


# GB 32100 统一社会信用代码: 18 characters, the 9-character organisation code (GB 11714) inside, its own check
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
_ORG_W = [3, 7, 9, 10, 5, 8, 4, 2]


def credit_code(county: str, rng: np.random.Generator) -> str:
    """A valid 统一社会信用代码 registered in ``county`` (企业 91 prefix)."""
    body = "".join(_USCC_CHARS[int(i)] for i in rng.integers(0, 10, 8))
    c = 11 - sum(_USCC_CHARS.index(ch) * w for ch, w in zip(body, _ORG_W)) % 11
    org = body + ("X" if c == 10 else "0" if c == 11 else str(c))
    first = "91" + county + org
    s = 31 - sum(_USCC_CHARS.index(ch) * w for ch, w in zip(first, _USCC_W)) % 31
    return first + _USCC_CHARS[0 if s == 31 else s]


def _resources(ctx: Context, rng: np.random.Generator) -> list[dict]:
    """The resource register: one dict per 资源编号 with its status history (``history``: [(time, status)])."""
    d = ctx.district
    res = ctx.people.residents()
    comm = d.communities.sort("community_code")
    start = dt.datetime.combine(ctx.start, dt.time())
    reg = res["registered_on"].to_numpy().astype("datetime64[D]")
    left = res["left_on"].to_numpy().astype("datetime64[D]")
    stay = np.flatnonzero((reg < np.datetime64(ctx.start)) & np.isnat(left))
    by_comm = res["community_code"].to_numpy()
    out: list[dict] = []
    for cc, cname in comm.select("community_code", "community_name").iter_rows():
        people_here = stay[by_comm[stay] == cc]
        n = max(9, len(people_here) // 120)
        types = rng.choice(len(RESOURCE_TYPES), n, p=RESOURCE_P)
        # categories round-robin (each twice, by different resources) so the community's resources cover
        # every category even when one of them is suspended
        order = list(rng.permutation(len(CATEGORIES)))
        for k in range(n):
            kind = RESOURCE_TYPES[int(types[k])]
            cats = {CATEGORIES[order[k % len(CATEGORIES)]], CATEGORIES[order[(k + 4) % len(CATEGORIES)]]}
            if rng.random() < 0.4:
                cats.add(CATEGORIES[int(rng.choice(len(CATEGORIES), p=CATEGORY_P))])
            person = int(rng.choice(people_here)) if kind in PERSON_TYPES and len(people_here) else None
            if kind in PERSON_TYPES and person is None:
                kind = "社会组织"
            scope = "全区" if rng.random() < 0.08 else cc
            registered = ctx.start - dt.timedelta(days=int(rng.integers(30, 900)))
            out.append(
                dict(
                    community_code=cc,
                    kind=kind,
                    person=person,
                    unit_name=None if person is not None else f"{cname}{UNIT_WORDS[k % len(UNIT_WORDS)]}",
                    credit=None if person is not None else credit_code(d.county_code, rng),
                    employer=EMPLOYERS[int(rng.integers(0, len(EMPLOYERS)))] if kind == "在职党员" else "",
                    categories=[c for c in CATEGORIES if c in cats],
                    scope=scope,
                    registered=registered,
                    history=[(start - dt.timedelta(days=int(rng.integers(0, 20)), hours=1), "可用")],
                    entity=None,
                    re_registered_from=None,
                )
            )
    # a few suspended for a while, a few cancelled; one cancelled resource registers again under a new 资源编号
    period = max(1, ctx.days)
    cancelled = []
    for r in out:
        u = rng.random()
        if u < SUSPEND_RATE:
            at = start + dt.timedelta(days=int(rng.integers(0, period)), hours=int(rng.integers(8, 18)))
            r["history"].append((at, "暂停"))
            r["history"].append((at + dt.timedelta(days=int(rng.integers(2, 8))), "可用"))
        elif u < SUSPEND_RATE + CANCEL_RATE:
            cancelled.append(r)
    if not cancelled and out and ctx.days >= 7:
        cancelled.append(out[int(rng.integers(0, len(out)))])
    for i, r in enumerate(cancelled):
        at = start + dt.timedelta(days=int(rng.integers(0, max(1, period - 5))), hours=int(rng.integers(8, 18)))
        r["history"].append((at, "注销"))
        if i == 0 or rng.random() < 0.5:
            again = at + dt.timedelta(days=int(rng.integers(1, 5)), hours=1)
            out.append(
                dict(r, registered=again.date(), history=[(again, "可用")], re_registered_from=id(r), entity=None)
            )
    return out


def _number_resources(ctx: Context, resources: list[dict]) -> None:
    seq: dict[str, int] = {}
    for r in sorted(resources, key=lambda r: (r["community_code"], r["history"][0][0])):
        seq[r["community_code"]] = seq.get(r["community_code"], 0) + 1
        r["resource_id"] = f"ZY{r['community_code']}{seq[r['community_code']]:05d}"
    ids = {id(r): r["resource_id"] for r in resources}
    for r in resources:
        r["re_registered_from"] = ids.get(r["re_registered_from"])
        # the same person or unit, whichever 资源编号 they are under
        r["entity"] = f"p{r['person']}" if r["person"] is not None else f"u{r['credit']}"


def _status_at(r: dict, at: dt.datetime) -> str | None:
    s = None
    for t, st in r["history"]:
        if t <= at:
            s = st
    return s


def _covers(r: dict, community: str, category: str, at: dt.datetime) -> bool:
    return (
        _status_at(r, at) == "可用"
        and category in r["categories"]
        and (r["scope"] == "全区" or community in r["scope"].split(";"))
    )


def _plan_gap(ctx: Context, resources: list[dict], rng: np.random.Generator) -> dict | None:
    """The injected demand-without-supply pattern: in one community, every resource of one category but one
    loses the category, and that one is cancelled (not re-registered) a third into the period."""
    if ctx.patterns is None or ctx.days < 14:
        return None
    comms = sorted({r["community_code"] for r in resources})
    cc = comms[int(rng.integers(0, len(comms)))]
    cat = "法律咨询"
    mine = [r for r in resources if r["community_code"] == cc and r["re_registered_from"] is None]
    keep = mine[0]
    for r in resources:
        if cat in r["categories"] and r is not keep and (r["community_code"] == cc or r["scope"] == "全区"):
            r["categories"] = [c for c in r["categories"] if c != cat] or ["其他"]
    if cat not in keep["categories"]:
        keep["categories"] = sorted([*keep["categories"], cat], key=CATEGORIES.index)
    at = dt.datetime.combine(ctx.start + dt.timedelta(days=ctx.days // 3), dt.time(9))
    keep["history"] = [h for h in keep["history"] if h[0] < at] + [(at, "注销")]
    # no later re-registration of it
    resources[:] = [r for r in resources if r.get("re_registered_from") != id(keep)]
    return dict(community_code=cc, category=cat, from_at=at)


def _needs(ctx: Context, resources: list[dict], gap: dict | None, rng: np.random.Generator) -> list[dict]:
    res = ctx.people.residents()
    start = dt.datetime.combine(ctx.start, dt.time())
    end = dt.datetime.combine(ctx.end, dt.time())
    n_day = rng.poisson(ctx.people.n_residents * NEEDS_PER_RESIDENT_DAY, ctx.days)
    comm = res["community_code"].to_numpy()
    grid = res["grid_code"].to_numpy()
    out: list[dict] = []
    for di, k in enumerate(n_day):
        day = ctx.start + dt.timedelta(days=di)
        pool = ctx.resident_pool(np.datetime64(day))
        who = pool[rng.integers(0, len(pool), int(k))] if len(pool) else np.array([], dtype=int)
        cats = rng.choice(len(CATEGORIES), len(who), p=CATEGORY_P)
        for j, idx in enumerate(who):
            posted = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=int(rng.integers(7 * 3600, 21 * 3600)))
            cat = CATEGORIES[int(cats[j])]
            if gap and comm[idx] == gap["community_code"] and posted > gap["from_at"] and rng.random() < 0.3:
                cat = gap["category"]
            out.append(dict(idx=int(idx), posted=posted, community_code=comm[idx], grid_code=grid[idx], category=cat))
    # the injected gap's demand: at least two needs in its category there after the cancellation
    if gap:
        here = np.flatnonzero(comm[ctx.resident_pool(np.datetime64(ctx.start))] == gap["community_code"])
        pool = ctx.resident_pool(np.datetime64(ctx.start))[here]
        for k in range(2):
            # late in the period, so the demand is recent on its last day
            posted = end - dt.timedelta(days=2 + 2 * k, hours=10)
            if posted < end and len(pool):
                idx = int(pool[int(rng.integers(0, len(pool)))])
                out.append(
                    dict(
                        idx=idx, posted=posted, community_code=comm[idx], grid_code=grid[idx], category=gap["category"]
                    )
                )
    out.sort(key=lambda n: n["posted"])
    stale_n = max(2, len(out) // 200) if ctx.patterns is not None and ctx.days >= 14 else 0
    stale_from = end - dt.timedelta(days=4)
    stale_pick = [i for i, n in enumerate(out) if n["posted"] < stale_from]
    stale = set(rng.choice(stale_pick, min(stale_n, len(stale_pick)), replace=False).tolist()) if stale_pick else set()
    index = _ResourceIndex(resources)
    for i, n in enumerate(out):
        _lifecycle(n, index, rng, stale=i in stale)
        n["start"] = start
    return out


def _minutes(rng: np.random.Generator, lo: float, hi: float) -> dt.timedelta:
    return dt.timedelta(minutes=float(rng.uniform(lo, hi)))


class _ResourceIndex:
    """Resources by the category they serve, and by (community, category) where their scope names the
    community (全区 ones under every community), in register order: a need looks only at its own few."""

    def __init__(self, resources: list[dict]) -> None:
        self.by_category: dict[str, list[dict]] = {}
        self.scoped: dict[tuple[str, str], list[dict]] = {}
        self.everywhere: dict[str, list[dict]] = {}
        for r in resources:
            for c in r["categories"]:
                self.by_category.setdefault(c, []).append(r)
                if r["scope"] == "全区":
                    self.everywhere.setdefault(c, []).append(r)
                else:
                    for cc in r["scope"].split(";"):
                        self.scoped.setdefault((cc, c), []).append(r)
        self.order = {id(r): i for i, r in enumerate(resources)}

    def covering(self, community: str, category: str) -> list[dict]:
        both = self.scoped.get((community, category), []) + self.everywhere.get(category, [])
        return sorted(both, key=lambda r: self.order[id(r)])


def _lifecycle(n: dict, resources: _ResourceIndex, rng: np.random.Generator, *, stale: bool) -> None:
    """Draw what happens to one need: its times, resource, outcome and rating (times may lie past the period:
    only the versions before its end are delivered)."""
    posted = n["posted"]
    n.update(
        is_wish=rng.random() < WISH_RATE,
        channel=CHANNELS[int(rng.choice(len(CHANNELS), p=CHANNEL_P))],
        resource=None,
        dispatched=None,
        accepted=None,
        started=None,
        closed=None,
        final=None,
        final_at=None,
        rating="",
        is_out_of_scope=False,
        is_clock_skew=False,
        is_closed_without_accept=False,
        is_injected_stale=stale,
        project=None,
    )
    u = rng.random()
    if u < WITHDRAW_RATE and not stale:
        n.update(final="已撤销", final_at=posted + _minutes(rng, 20, 600))
        return
    dispatched = posted + _minutes(rng, 5, 180)
    inside = [
        r
        for r in resources.covering(n["community_code"], n["category"])
        if _covers(r, n["community_code"], n["category"], dispatched)
    ]
    if inside:
        r = inside[int(rng.integers(0, len(inside)))]
    else:
        # none inside covers it: the community asks one outside its 服务范围, when there is one
        outside = [r for r in resources.by_category.get(n["category"], []) if _status_at(r, dispatched) == "可用"]
        if not outside:
            return  # stays 待派单
        r = outside[int(rng.integers(0, len(outside)))]
        n["is_out_of_scope"] = True
    n.update(resource=r["resource_id"], dispatched=dispatched)
    if stale:
        return  # dispatched, never accepted
    if u < WITHDRAW_RATE + CANNOT_RATE:
        n.update(final="无法办理", final_at=dispatched + dt.timedelta(hours=float(rng.uniform(4, 60))))
        return
    v = rng.random()
    wait = _minutes(rng, 3, 240) if v < 0.78 else dt.timedelta(hours=float(rng.uniform(20, 60)))
    accepted = dispatched + wait
    no_accept = rng.random() < NO_ACCEPT_CLOSE_RATE
    w = rng.random()
    if w < 0.55:  # the same day, when the evening allows
        work = _minutes(rng, 20, 300)
        if (accepted + work).date() != posted.date():
            work = dt.timedelta(hours=float(rng.uniform(14, 40)))
    else:
        work = dt.timedelta(hours=float(rng.uniform(14, 120)))
    closed = accepted + work
    if work > dt.timedelta(hours=24):
        n["started"] = accepted + _minutes(rng, 30, 300)
    if no_accept:
        n.update(is_closed_without_accept=True, accepted=None)
    else:
        n["accepted"] = accepted
        if rng.random() < CLOCK_SKEW_RATE:
            n.update(is_clock_skew=True, accepted_written=dispatched - _minutes(rng, 1, 30))
    n.update(final="已办结", final_at=closed, closed=closed)
    n["rating"] = RATINGS[int(rng.choice(4, p=RATING_P))]


def _need_versions(n: dict, end: dt.datetime) -> list[tuple[dt.datetime, dict]]:
    """(状态时间, cells) for each version of a need before ``end``."""
    written_accept = n.get("accepted_written", n["accepted"])
    steps: list[tuple[dt.datetime, str]] = [(n["posted"], "待派单")]
    if n["dispatched"] is not None:
        steps.append((n["dispatched"], "已派单"))
    if n["accepted"] is not None:
        steps.append((n["accepted"], "已接单"))
    if n["started"] is not None:
        steps.append((n["started"], "办理中"))
    if n["final"] is not None:
        steps.append((n["final_at"], n["final"]))
    out = []
    for at, status in steps:
        if at >= end:
            break
        done = status == "已办结"
        # 资源编号 is empty until accepted (set at 办结 for a need closed without any 接单)
        named = status in ("已接单", "办理中") or (done and n["resource"] is not None)
        out.append(
            (
                at,
                dict(
                    status=status,
                    resource=n["resource"] if named else None,
                    dispatched=n["dispatched"] if status not in ("待派单", "已撤销") else None,
                    accepted=written_accept if n["accepted"] is not None and at >= n["accepted"] else None,
                    closed=n["closed"] if done else None,
                    rating=n["rating"] if done else "",
                    project=n["project"] if n["project"] and n["started"] and at >= n["started"] else None,
                ),
            )
        )
    return out


def build(ctx: Context) -> None:
    rng = ctx.rng(110)
    resources = _resources(ctx, rng)
    gap = _plan_gap(ctx, resources, ctx.rng(111))
    _number_resources(ctx, resources)
    needs = _needs(ctx, resources, gap, ctx.rng(112))
    rng = ctx.rng(113)
    end = dt.datetime.combine(ctx.end, dt.time())
    start = dt.datetime.combine(ctx.start, dt.time())
    # double taps: a copy posted minutes later, withdrawn within the hour
    copies = []
    # at least one in a period (a small district would often have none at its rate)
    forced = int(rng.integers(0, len(needs))) if needs else -1
    for i, n in enumerate(needs):
        if rng.random() < DOUBLE_TAP_RATE or i == forced:
            c = dict(n, posted=n["posted"] + _minutes(rng, 1, 5), resource=None, dispatched=None, accepted=None)
            c.update(
                started=None,
                closed=None,
                final="已撤销",
                final_at=c["posted"] + _minutes(rng, 10, 50),
                rating="",
                is_double_tap=True,
                is_out_of_scope=False,
                is_clock_skew=False,
                is_closed_without_accept=False,
                is_injected_stale=False,
                project=None,
            )
            c.pop("accepted_written", None)
            copies.append(c)
    needs = sorted(needs + copies, key=lambda n: n["posted"])
    # 需求编号: XQ + community + posting date + sequence
    seq: dict[tuple[str, dt.date], int] = {}
    for n in needs:
        k = (n["community_code"], n["posted"].date())
        seq[k] = seq.get(k, 0) + 1
        n["need_id"] = f"XQ{k[0]}{k[1]:%Y%m%d}{seq[k]:03d}"
        n.setdefault("is_double_tap", False)
    # projects: a long need led by a unit becomes a project (立项 when work starts)
    projects = []
    pseq: dict[tuple[str, int], int] = {}
    by_id = {r["resource_id"]: r for r in resources}
    for n in needs:
        r = by_id.get(n["resource"])
        if n["started"] is not None and r is not None and r["person"] is None and rng.random() < 0.5:
            k = (n["community_code"], n["started"].year)
            pseq[k] = pseq.get(k, 0) + 1
            pid = f"XM{k[0]}{k[1]}{pseq[k]:03d}"
            n["project"] = pid
            projects.append(
                dict(
                    project_id=pid,
                    name=f"{n['category']}项目{pseq[k]}",
                    category=n["category"],
                    lead=r["resource_id"],
                    needs=n["need_id"],
                    started=n["started"],
                    planned=(n["started"] + dt.timedelta(days=14)).date(),
                    closed=n["closed"],
                    beneficiaries=int(rng.integers(1, 60)),
                    funds=round(float(rng.uniform(500, 20000)), 2),
                )
            )
    P = ctx.P
    idx = np.array([n["idx"] for n in needs], dtype=np.int64)
    people = render_people(ctx, idx, rng, feed="grid_visits", id_rates={"empty": 0.45}, name_rates={})
    homes = render_homes(ctx, idx, rng) if len(idx) else np.array([], dtype=object)
    rows: dict[str, list[dict]] = {s: [] for s in SHEETS}
    truth_records: dict[str, list] = {}
    for i, n in enumerate(needs):
        typed = n["channel"] == "网格员代录" and rng.random() < TYPED_TEXT_RATE * 3
        n["person_id"] = int(P["person_id"][n["idx"]])
        for at, cells in _need_versions(n, end):
            rows["需求清单"].append(
                dict(
                    _at=at,
                    _pid=n["person_id"],
                    _idf=str(people["id_fault"][i]),
                    _nf=str(people["name_fault"][i]),
                    _typed=typed,
                    需求编号=n["need_id"],
                    提出时间=n["posted"],
                    提出渠道=n["channel"],
                    提出人=people["name"][i],
                    证件号码=people["id"][i],
                    联系电话=people["phone"][i],
                    网格编码=n["grid_code"],
                    地址=homes[i],
                    需求类别=n["category"],
                    需求描述=WISHES[i % len(WISHES)] if n["is_wish"] else DESCRIPTIONS[n["category"]],
                    是否微心愿="是" if n["is_wish"] else "否",
                    资源编号=cells["resource"] or "",
                    派单时间=cells["dispatched"],
                    接单时间=cells["accepted"],
                    办结时间=cells["closed"],
                    当前状态=cells["status"],
                    状态时间=at,
                    群众评价=cells["rating"],
                    项目编号=cells["project"] or "",
                )
            )
    res_people = np.array([r["person"] if r["person"] is not None else 0 for r in resources], dtype=np.int64)
    # a resource registers with its ID (the same one when registered again)
    rp = render_people(ctx, res_people, rng, feed="grid_visits", id_rates={}, name_rates={})
    for i, r in enumerate(resources):
        person = r["person"] is not None
        r["person_id"] = int(P["person_id"][r["person"]]) if person else None
        for at, status in r["history"]:
            if at >= end:
                continue
            # the first delivery carries the ledger as it stands: earlier history is folded into it
            at_out = max(at, start)
            if at < start and any(t < start and t > at for t, _ in r["history"]):
                continue
            rows["资源清单"].append(
                dict(
                    _at=at_out,
                    _pid=r["person_id"] or 0,
                    _idf=str(rp["id_fault"][i]) if person else "",
                    _nf=str(rp["name_fault"][i]) if person else "",
                    _typed=False,
                    资源编号=r["resource_id"],
                    资源类型=r["kind"],
                    名称=rp["name"][i] if person else r["unit_name"],
                    证件号码=rp["id"][i] if person else r["credit"],
                    联系电话=rp["phone"][i] if person else f"0{ctx.params.county.area_code}-{8000000 + i}",
                    所属单位=r["employer"],
                    服务类别="、".join(r["categories"]),
                    服务范围=r["scope"],
                    登记日期=r["registered"],
                    状态=status,
                    状态时间=at,
                )
            )
    for p in projects:
        steps = [(p["started"], "立项"), (p["started"] + dt.timedelta(days=1), "实施中")]
        if p["closed"] is not None:
            steps.append((p["closed"] + HOUR, "已完成"))
        for at, status in steps:
            if at >= end:
                continue
            rows["项目清单"].append(
                dict(
                    _at=at,
                    _pid=0,
                    _typed=False,
                    项目编号=p["project_id"],
                    项目名称=p["name"],
                    项目类别=p["category"],
                    牵头资源=p["lead"],
                    关联需求=p["needs"],
                    参与资源=p["lead"],
                    立项日期=p["started"].date(),
                    计划完成日期=p["planned"],
                    完成日期=(p["closed"] + HOUR).date() if status == "已完成" else None,
                    状态=status,
                    受益人数=p["beneficiaries"],
                    投入资金=p["funds"],
                    状态时间=at,
                )
            )
    _deliver(ctx, rows, truth_records, rng)
    _write_truth(ctx, needs, resources, projects, gap)


def _deliver(ctx: Context, rows: dict[str, list[dict]], truth_records: dict, rng: np.random.Generator) -> None:
    """One workbook per data day (the first carries the ledger as it stands), delivered the next morning."""
    start = dt.datetime.combine(ctx.start, dt.time())
    by_day: dict[dt.date, dict[str, list[dict]]] = {}
    for sheet, items in rows.items():
        for r in items:
            day = max(r["_at"], start).date()
            by_day.setdefault(day, {s: [] for s in SHEETS})[sheet].append(r)
    for day in ctx.dates():
        sheets = by_day.get(day, {s: [] for s in SHEETS})
        name = f"QD_{day:%Y%m%d}.xlsx"
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
        wb.set_properties({"created": dt.datetime(2024, 1, 1), "author": "社区服务小程序"})
        dt_fmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        d_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        total = 0
        for sheet, header in SHEETS.items():
            items = sorted(sheets[sheet], key=lambda r: (r["_at"], r[header[0]]))
            if not items and rng.random() < 0.5:
                continue  # a day with nothing in a sheet: the sheet is absent (or header only)
            ws = wb.add_worksheet(sheet)
            ws.write_row(0, 0, header)
            recs, pids, idf, nf = [], [], [], []
            for i, r in enumerate(items, start=1):
                for j, h in enumerate(header):
                    v = r.get(h.replace("(元)", ""))
                    if v is None or v == "":
                        continue
                    if isinstance(v, dt.datetime):
                        if r["_typed"]:
                            ws.write_string(i, j, fmt_datetime(v, 1))
                        else:
                            ws.write_datetime(i, j, v, dt_fmt)
                    elif isinstance(v, dt.date):
                        ws.write_datetime(i, j, dt.datetime.combine(v, dt.time()), d_fmt)
                    elif isinstance(v, (int, float)) and not isinstance(v, bool):
                        ws.write_number(i, j, v)
                    else:
                        ws.write_string(i, j, str(v))
                if r["_pid"]:
                    recs.append(i + 1)
                    pids.append(r["_pid"])
                    idf.append(r["_idf"])
                    nf.append(r["_nf"])
                r["_file"], r["_record_no"] = name, i + 1
            total += len(items)
            ctx.truth.records.add(FEED, name, sheet, recs, np.ones(len(recs), dtype=np.int32), pids, idf, nf)
        if not wb.worksheets():
            wb.add_worksheet("需求清单").write_row(0, 0, NEED_COLUMNS)
        wb.close()
        ctx.landing.deliver(FEED, day + dt.timedelta(days=1), name, buf.getvalue(), total)


def _write_truth(ctx: Context, needs: list[dict], resources: list[dict], projects: list[dict], gap) -> None:
    t = ctx.truth.dir
    end = dt.datetime.combine(ctx.end, dt.time())

    def before_end(x):
        return x if x is not None and x < end else None

    pl.DataFrame(
        [
            dict(
                need_id=n["need_id"],
                person_id=n["person_id"],
                community_code=n["community_code"],
                grid_code=n["grid_code"],
                category=n["category"],
                is_wish=n["is_wish"],
                posted_at=n["posted"],
                resource_id=([c["resource"] for _, c in _need_versions(n, end)] or [None])[-1],
                dispatched_at=before_end(n["dispatched"]),
                accepted_at=n.get("accepted_written", n["accepted"]) if before_end(n["accepted"]) else None,
                closed_at=before_end(n["closed"]),
                final_at=before_end(n["final_at"]),
                status=_need_versions(n, end)[-1][1]["status"],
                rating=n["rating"] if before_end(n["closed"]) else "",
                project_id=n["project"],
                is_double_tap=n["is_double_tap"],
                is_out_of_scope=n["is_out_of_scope"],
                is_clock_skew=n["is_clock_skew"],
                is_closed_without_accept=n["is_closed_without_accept"],
                is_injected_stale=n["is_injected_stale"],
            )
            for n in needs
        ],
        schema_overrides={
            "posted_at": pl.Datetime("us"),
            "dispatched_at": pl.Datetime("us"),
            "accepted_at": pl.Datetime("us"),
            "closed_at": pl.Datetime("us"),
            "final_at": pl.Datetime("us"),
            "resource_id": pl.String,
            "project_id": pl.String,
            "person_id": pl.Int64,
        },
        infer_schema_length=None,
    ).write_parquet(t / "service_needs.parquet")
    pl.DataFrame(
        [
            dict(
                resource_id=r["resource_id"],
                kind=r["kind"],
                person_id=r["person_id"],
                entity=r["entity"],
                community_code=r["community_code"],
                categories="、".join(r["categories"]),
                scope=r["scope"],
                registered_on=r["registered"],
                history=[dict(at=a, status=s) for a, s in r["history"] if a < end],
                re_registered_from=r["re_registered_from"],
            )
            for r in resources
        ],
        schema_overrides={"person_id": pl.Int64, "re_registered_from": pl.String},
        infer_schema_length=None,
    ).write_parquet(t / "service_resources.parquet")
    pl.DataFrame(
        [
            dict(
                project_id=p["project_id"],
                category=p["category"],
                lead=p["lead"],
                needs=p["needs"],
                started=p["started"],
                closed=p["closed"],
            )
            for p in projects
        ],
        schema={
            "project_id": pl.String,
            "category": pl.String,
            "lead": pl.String,
            "needs": pl.String,
            "started": pl.Datetime("us"),
            "closed": pl.Datetime("us"),
        },
    ).write_parquet(t / "service_projects.parquet")
    pat = []
    for n in needs:
        if n["is_injected_stale"]:
            pat.append(dict(pattern="service_need_unaccepted", community_code=n["community_code"], key=n["need_id"]))
    if gap:
        pat.append(dict(pattern="service_supply_gap", community_code=gap["community_code"], key=gap["category"]))
    pl.DataFrame(pat, schema={"pattern": pl.String, "community_code": pl.String, "key": pl.String}).write_parquet(
        t / "service_patterns.parquet"
    )
