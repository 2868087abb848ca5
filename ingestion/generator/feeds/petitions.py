"""petitions: daily JSON Lines exports, a line per case movement, rare broken lines."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np

from ..district import grid_at
from ..patterns import record
from ._common import (
    Context,
    pick_outsiders,
    pick_residents,
    render_homes,
    render_people,
    switched_codec,
    switched_encoding,
)

FEED = "petitions"
CHANNELS = ["来信", "来访", "网上信访", "电话", "12345热线", "领导信箱"]
TOPICS = [
    "城乡建设/物业管理",
    "劳动社保/拖欠工资",
    "民政/低保救助",
    "政法/治安问题",
    "自然资源/征地拆迁",
    "卫生健康/医疗纠纷",
    "教育/入学",
    "生态环境/噪声污染",
    "农业农村/土地承包",
    "其他/其他",
]
UNITS = ["区住建局", "区人社局", "区民政局", "区公安分局", "区自然资源局", "区卫健局", "区教育局", "区生态环境局"]


def _iso(t: dt.datetime, zone: bool) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S+08:00") if zone else t.strftime("%Y-%m-%d %H:%M:%S")


def build(ctx: Context) -> None:
    rng = ctx.rng(50)
    d = ctx.district
    n_res = ctx.people.n_residents
    per_day = rng.poisson(0.1 * n_res / 1000, ctx.days)
    repeaters = pick_residents(ctx, rng, max(3, n_res // 5000))
    comm_name = dict(d.communities.select("community_code", "community_name").iter_rows())
    st_name = dict(d.streets.select("street_code", "street_name").iter_rows())
    pts = d.points
    lines_by_day: dict[dt.date, list[tuple[dt.datetime, int, dict, list, dict]]] = {}
    case_no = 0
    for di, day in enumerate(ctx.dates()):
        for s in range(int(per_day[di])):
            case_no += 1
            reg = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=int(rng.integers(0, 10 * 3600)))
            collective = rng.random() < 0.06
            xfrs = int(rng.integers(5, 31)) if collective else int(rng.choice([1, 1, 1, 2, 3]))
            listed = min(xfrs, int(rng.integers(1, 7))) if collective else xfrs
            members = np.where(
                rng.random(listed) < 0.85, pick_residents(ctx, rng, listed), pick_outsiders(ctx, rng, listed)
            )
            if rng.random() < 0.3:
                members[0] = repeaters[int(rng.integers(0, len(repeaters)))]
            rp = render_people(ctx, members, rng, feed=FEED)
            homes = render_homes(ctx, members, rng)
            xfr, truth = [], []
            for m in range(listed):
                o = {"xm": rp["name"][m], "zjhm": rp["id"][m], "lxdh": rp["phone"][m], "zz": homes[m]}
                for k in ("zjhm", "lxdh", "zz"):
                    if rng.random() < 0.05:
                        o.pop(k)
                if "zjhm" not in o:
                    rp["id_fault"][m] = "empty"
                xfr.append(o)
                truth.append((m + 1, int(rp["person_id"][m]), str(rp["id_fault"][m]), str(rp["name_fault"][m])))
            home = ctx.P["point"][members[0]]
            p = int(home) if home >= 0 and rng.random() < 0.6 else int(rng.integers(0, pts.height))
            when = np.datetime64(day)

            g = str(grid_at(d, np.array([p]), np.array([when]))[0])
            wtsd = {"jd": st_name[g[:9]], "sq": comm_name[g[:12]], "dz": pts["road"][p] + pts["house_no"][p]}
            hint = "community_only"
            if rng.random() < 0.15:
                wtsd.pop("sq")
                hint = "street_only"
            topic = TOPICS[int(rng.integers(0, len(TOPICS)))]
            key = f"XF{d.county_code}{day:%Y%m%d}{s + 1:04d}"
            zone = rng.random() < ctx.params.petition_zone_rate
            unit = UNITS[int(rng.integers(0, len(UNITS)))]
            base = {
                "xfjbh": key,
                "djsj": _iso(reg, zone),
                "xfxs": CHANNELS[int(rng.integers(0, len(CHANNELS)))],
                "xfrs": xfrs,
                "xfr": xfr,
                "wtsd": wtsd,
                "wtlb": topic,
                "nrzy": f"反映{topic.split('/')[1]}问题，要求尽快解决。",
                "zrdw": unit,
                "cfxf": bool(rng.random() < 0.1),
            }
            # movements: registered -> accepted -> handling -> closed (or refused / forwarded)
            steps = [("待受理", reg)]
            t = reg
            path = (
                ["已受理", "办理中", "已办结"]
                if rng.random() < 0.85
                else [["不予受理"], ["已转送"]][int(rng.integers(0, 2))]
            )
            for zt in path:
                t = t + dt.timedelta(
                    days=int(rng.integers(1, 8) if zt != "已办结" else rng.integers(10, 60)),
                    seconds=int(rng.integers(0, 8 * 3600)),
                )
                steps.append((zt, t))
            accepted = next((s_t for zt, s_t in steps if zt == "已受理"), None)
            ext = rng.random() < 0.1
            for j, (zt, t_j) in enumerate(steps):
                if j > 0 and rng.random() < 0.15:
                    continue  # not every movement is exported on its own
                lz = [
                    {"zt": z, "sj": _iso(s_t, True), "dw": unit if z != "待受理" else "区信访局", "yj": ""}
                    for z, s_t in steps[: j + 1]
                ]
                rec = dict(
                    base,
                    blzt=zt,
                    lz=lz,
                    blqx=(accepted + dt.timedelta(days=60 + (30 if ext else 0))).strftime("%Y-%m-%d")
                    if accepted and j >= 1
                    else None,
                    bjsj=_iso(t_j, True) if zt == "已办结" else None,
                    myd=(["满意", "基本满意", "不满意", None][int(rng.integers(0, 4))] if zt == "已办结" else None),
                )
                if ext and j >= 2:
                    rec["yq"] = True
                if rng.random() < 0.02:
                    rec["kzzd"] = {"ly": "省信访信息系统"}  # unknown key
                lines_by_day.setdefault(t_j.date(), []).append(
                    (t_j, case_no, rec, truth, dict(key=key, occurred=reg, grid=g, hint=hint))
                )
    if ctx.patterns is not None:
        _inject(ctx, lines_by_day, comm_name, st_name)
    # rare broken lines, drawn among the ordinary lines only (an injected pattern is never cut)
    total_lines = sum(1 for v in lines_by_day.values() for item in v if not item[4].get("injected"))
    brk = ctx.rng(51)
    rate = ctx.params.broken_json_rate
    n_broken = max(1, round(total_lines * rate)) if total_lines >= 3 and rate > 0 else 0
    broken = set(brk.choice(total_lines, n_broken, replace=False).tolist()) if n_broken else set()
    global_no = -1
    forced_resend = ctx.days // 2 + 1 if ctx.days >= 10 else -1
    for i, day in enumerate(ctx.dates()):
        items = sorted(lines_by_day.get(day, []), key=lambda x: (x[0], x[1]))
        name = f"XF_{day:%Y%m%d}.jsonl"
        out: list[str] = []
        rec_no, member, pid, idf, nf = [], [], [], [], []
        ev = {"record_no": [], "key": [], "occ": [], "grid": [], "hint": []}
        for ln, (_, _, rec, truth, e) in enumerate(items, start=1):
            text = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
            global_no += 0 if e.get("injected") else 1
            if global_no in broken and not e.get("injected"):
                cut = int(brk.integers(10, len(text) - 5))
                out.append(text[:cut])
                ctx.truth.fault(FEED, "", name, "broken_json_line", record_no=ln, detail=f"cut at char {cut}")
                continue
            out.append(text)
            for m, p_id, f_id, f_nm in truth:
                rec_no.append(ln), member.append(m), pid.append(p_id), idf.append(f_id), nf.append(f_nm)
            ev["record_no"].append(ln), ev["key"].append(e["key"]), ev["occ"].append(e["occurred"])
            ev["grid"].append(e["grid"]), ev["hint"].append(e["hint"])
        switched = switched_encoding(ctx, FEED, i)
        data = "".join(line + "\n" for line in out).encode(switched_codec(ctx, FEED)[0] if switched else "utf-8")
        folder = ctx.daily_folder(day, brk)
        ctx.landing.deliver(FEED, folder, name, data, len(out))
        if switched:
            ctx.truth.fault(FEED, folder, name, "encoding_switch", detail="gb18030 instead of utf-8")
        if i == forced_resend or brk.random() < ctx.params.resend_rate:
            again = folder + dt.timedelta(days=int(brk.integers(2, 7)))
            ctx.landing.deliver(FEED, again, name, data, len(out))
            ctx.truth.fault(FEED, again, name, "resend", detail=f"identical copy of {folder.isoformat()}/{name}")
        for f in ctx.truth.faults:
            if f["file"] == name and f["folder"] == "":
                f["folder"] = folder.isoformat()
        ctx.truth.records.add(FEED, name, "", rec_no, member, pid, idf, nf)
        if ev["record_no"]:
            ctx.truth.event_rows(
                FEED,
                name,
                ev["record_no"],
                ev["key"],
                ev["occ"],
                ev["grid"],
                [g[:12] for g in ev["grid"]],
                [g[:9] for g in ev["grid"]],
                ev["hint"],
            )


def _inject(ctx: Context, lines_by_day: dict, comm_name: dict, st_name: dict) -> None:
    """Add the pattern plan's petitions: clean IDs, the problem's community always named, still open."""
    rng = ctx.rng(901)
    d, pts = ctx.district, ctx.district.points
    for pi in ctx.patterns.petitions:
        members = np.array(pi.members, dtype=np.int64)
        rp = render_people(ctx, members, rng, feed=FEED, id_rates={})
        homes = render_homes(ctx, members, rng)
        xfr = [
            {"xm": rp["name"][m], "zjhm": rp["id"][m], "lxdh": rp["phone"][m], "zz": homes[m]}
            for m in range(len(members))
        ]
        truth = [
            (m + 1, int(rp["person_id"][m]), str(rp["id_fault"][m]), str(rp["name_fault"][m]))
            for m in range(len(members))
        ]
        g = str(grid_at(d, np.array([pi.point]), np.array([np.datetime64(pi.day)]))[0])
        wtsd = {"jd": st_name[g[:9]], "sq": comm_name[g[:12]], "dz": pts["road"][pi.point] + pts["house_no"][pi.point]}
        key = pi.key(d.county_code)
        reg = dt.datetime.combine(pi.day, dt.time(9)) + dt.timedelta(seconds=int(rng.integers(0, 8 * 3600)))
        unit = UNITS[0]
        base = {
            "xfjbh": key,
            "djsj": _iso(reg, True),
            "xfxs": "来访",
            "xfrs": len(members),
            "xfr": xfr,
            "wtsd": wtsd,
            "wtlb": pi.topic,
            "nrzy": f"再次反映{pi.topic.split('/')[1]}问题，要求尽快解决。",
            "zrdw": unit,
            "cfxf": False,
        }
        steps = [("待受理", reg), ("已受理", reg + dt.timedelta(days=1)), ("办理中", reg + dt.timedelta(days=3))]
        accepted = steps[1][1]
        for j, (zt, t_j) in enumerate(steps):
            lz = [
                {"zt": z, "sj": _iso(s_t, True), "dw": unit if z != "待受理" else "区信访局", "yj": ""}
                for z, s_t in steps[: j + 1]
            ]
            rec = dict(
                base,
                blzt=zt,
                lz=lz,
                bjsj=None,
                myd=None,
                blqx=(accepted + dt.timedelta(days=60)).strftime("%Y-%m-%d") if j >= 1 else None,
            )
            lines_by_day.setdefault(t_j.date(), []).append(
                (
                    t_j,
                    10**9 + pi.seq,
                    rec,
                    truth,
                    dict(key=key, occurred=reg, grid=g, hint="community_only", injected=True),
                )
            )
        for m, p_id, _, _ in truth:
            record(
                ctx.patterns,
                pattern=pi.pattern,
                pattern_id=pi.pattern_id,
                feed=FEED,
                record_key=key,
                role="petitioner",
                person_id=p_id,
                grid_code=g,
                record_date=pi.day,
                category=pi.topic,
            )
