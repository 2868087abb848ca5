"""The briefing page: one HTML file, charts inline as base64 PNG, no outside resources.

Headline figures carry ``data-k="<key>"`` so tests (and anyone scraping) can read them.
Personal data appears only as the warehouse's masked names (``dim_resident.name_masked``).
"""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

from briefing.charts import Charts
from briefing.data import (
    DUE_SOON_DAYS,
    FEED_NAMES,
    RULE_NAMES,
    SATISFACTION_DAYS,
    SEVERITY_NAMES,
    Briefing,
    load_briefing,
)
from ingestion.zones import Zones, write_with

__all__ = ["render_html", "write_briefing"]

_CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:24px auto;max-width:980px;color:#222}
h1{font-size:24px;margin-bottom:4px} h2{font-size:19px;border-bottom:2px solid #c00;padding-bottom:3px;margin-top:28px}
.sub{color:#666;font-size:13px} .cards{display:flex;gap:10px;flex-wrap:wrap;margin:14px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px} .card b{display:block;font-size:24px}
.card span{font-size:12px;color:#666} table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left} th{background:#f3f3f3} td.n{text-align:right}
.high{color:#c00;font-weight:bold} .note{color:#8a6d3b;background:#fcf8e3;padding:6px 10px;font-size:13px;margin:4px 0}
img{max-width:100%} .sev-red{color:#d62728} .sev-orange{color:#ff7f0e} .sev-yellow{color:#b8860b}
"""


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _table(headers: list[str], rows: list[list], numeric: set[int] = frozenset(), key: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{escape(_fmt(v))}</td>' if i in numeric else f"<td>{escape(_fmt(v))}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    attr = f' data-table="{key}"' if key else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return '<p class="sub">（无数据，不绘图）</p>'
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _card(key: str, label: str, value, unit: str = "") -> str:
    return (
        f'<div class="card"><b data-k="{key}">{escape(_fmt(value))}</b><span>{escape(label)}{escape(unit)}</span></div>'
    )


def render_html(b: Briefing, charts: Charts | None = None) -> tuple[str, dict[str, bytes]]:
    """The page and the chart PNGs it embeds (by name)."""
    charts = charts or Charts()
    pngs: dict[str, bytes | None] = {
        "alerts": charts.alerts_by_street(b.alerts_by_street) if b.alerts_available else None,
        "cases": charts.cases_by_street(b.cases_by_street),
        "categories": charts.categories(b.categories, b.history_days),
        "satisfaction": charts.satisfaction(b.satisfaction, FEED_NAMES),
    }
    scope = b.street or "全区"
    f = b.figures
    made = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>日排查日研判简报 {b.day} {escape(scope)}</title><style>{_CSS}</style></head><body>",
        f"<h1>日排查日研判简报 · {escape(scope)}</h1>",
        f'<p class="sub">研判日期 <span data-k="day">{b.day}</span> ｜ 数据范围 {b.data_from} 至 {b.data_to}'
        f" ｜ 生成于 {made}（北京时间）｜ 来源：{escape(str(b.snapshot))}（只读）｜ 个人信息均已脱敏</p>",
        '<div class="cards">',
    ]
    if b.alerts_available:
        parts += [
            _card("alerts_new", "当日新增预警", f.get("alerts_new"), "（条）"),
            _card("alerts_open", "未处置预警", f.get("alerts_open"), "（条）"),
        ]
    parts += [
        _card("cases_overdue", "超期未结", f["cases_overdue"], "（件）"),
        _card("cases_due_soon", f"{DUE_SOON_DAYS}日内到期", f["cases_due_soon"], "（件）"),
        _card("incidents_today", "当日受理", f["incidents_today"], "（件）"),
        _card("categories_high", "高于常态的类别", f["categories_high"], "（类）"),
        _card("key_population", "重点人群", f["key_population"], "（人）"),
        _card("satisfaction_rate", f"近{SATISFACTION_DAYS}日满意率", f["satisfaction_rate"], "（%）"),
    ]
    if b.care_available:
        parts.append(_card("care_coverage", "探访覆盖率", f.get("care_coverage"), "（%）"))
    parts.append("</div>")
    parts += [f'<p class="note">{escape(n)}</p>' for n in b.notes]

    if b.alerts_available:
        parts.append("<h2>一、预警：当日新增与未处置</h2>")
        parts.append(_img(pngs["alerts"], "各街道预警"))
        parts.append(
            _table(
                ["街道", "当日新增", "未处置", "红", "橙", "黄"],
                [
                    [
                        r["street_name"],
                        r["new_alerts"],
                        r["open_alerts"],
                        r["open_red"],
                        r["open_orange"],
                        r["open_yellow"],
                    ]
                    for r in b.alerts_by_street
                ],
                {1, 2, 3, 4, 5},
                "alerts_by_street",
            )
        )
        parts.append("<h3>未处置预警最多的网格（前10）</h3>")
        parts.append(
            _table(
                ["网格", "街道", "当日新增", "未处置"],
                [[r["grid_name"], r["street_name"], r["new_alerts"], r["open_alerts"]] for r in b.alerts_by_grid],
                {2, 3},
                "alerts_by_grid",
            )
        )
        parts.append("<h3>重点预警（按等级，前20）</h3>")
        parts.append(
            _table(
                ["等级", "规则", "网格", "类别", "涉及人员（脱敏）", "证据数", "指标/阈值", "预警时间", "新增"],
                [
                    [
                        SEVERITY_NAMES.get(r["severity"], r["severity"]),
                        RULE_NAMES.get(r["rule"], r["rule"]),
                        r["grid_name"],
                        r["category"],
                        r["person_masked"] or "",
                        r["evidence_count"],
                        f"{_fmt(r['metric_value'])}/{_fmt(r['threshold'])}",
                        r["raised_at"].astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m-%d %H:%M")
                        if r["raised_at"]
                        else "",
                        "是" if r["is_new"] else "",
                    ]
                    for r in b.alert_list
                ],
                {5},
                "alert_list",
            )
        )

    parts.append("<h2>二、超期与即将超期案件</h2>")
    parts.append(_img(pngs["cases"], "超期与即将超期"))
    parts.append(
        _table(
            ["街道", "超期未结", f"{DUE_SOON_DAYS}日内到期", "其中信访超期"],
            [[r["street_name"], r["overdue"], r["due_soon"], r["overdue_petitions"]] for r in b.cases_by_street],
            {1, 2, 3},
            "cases_by_street",
        )
    )
    parts.append("<h3>超期最久的案件（前15）</h3>")
    parts.append(
        _table(
            ["来源", "编号", "类别", "网格", "受理日期", "期限", "超期天数", "处置层级"],
            [
                [
                    FEED_NAMES.get(r["source_feed"], r["source_feed"]),
                    r["source_id"],
                    r["taxonomy_name_zh"],
                    r["grid_name"],
                    r["received_date"],
                    r["due_date"],
                    r["days_overdue"],
                    r["handling_level"],
                ]
                for r in b.overdue_list
            ],
            {6},
            "overdue_list",
        )
    )

    parts.append("<h2>三、各类事件与常态水平</h2>")
    parts.append(_img(pngs["categories"], "各类事件与常态"))
    parts.append(
        _table(
            ["类别", "当日", f"常态（前{b.history_days}日日均）", "判断"],
            [[r["category"], r["today"], r["usual"], "偏高" if r["is_high"] else ""] for r in b.categories],
            {1, 2},
            "categories",
        )
    )

    parts.append("<h2>四、重点人群覆盖</h2>")
    parts.append(
        _table(
            ["人群", "人数", "已落网格", "落格率（%）", "80岁以上", "涉及网格数"],
            [
                [r["tag_name"], r["residents"], r["placed"], r["placed_share"], r["aged_80_plus"], r["grids"]]
                for r in b.key_population
            ],
            {1, 2, 3, 4, 5},
            "key_population",
        )
    )
    if b.care_available:
        parts.append("<h3>探访关爱（按关爱分级）</h3>")
        parts.append(
            _table(
                ["关爱分级", "应探访人数", "期内已探访", "覆盖率（%）"],
                [[r["care_tier"], r["residents"], r["visited"], r["coverage"]] for r in b.care_visits],
                {1, 2, 3},
                "care_visits",
            )
        )

    parts.append(f"<h2>五、群众满意度（近{SATISFACTION_DAYS}日办结）</h2>")
    parts.append(_img(pngs["satisfaction"], "群众评价"))
    parts.append(
        _table(
            ["来源", "满意", "基本满意", "不满意", "参评件数", "满意率（%）"],
            [
                [
                    FEED_NAMES.get(r["source_feed"], r["source_feed"]),
                    r["satisfied"],
                    r["mostly"],
                    r["unsatisfied"],
                    r["rated"],
                    r["rate"],
                ]
                for r in b.satisfaction
            ],
            {1, 2, 3, 4, 5},
            "satisfaction",
        )
    )
    if b.hotline_available:
        parts += _hotline_section(b)
    if b.community_available:
        parts += _community_section(b)
    parts.append(
        '<p class="sub">口径：日界按北京时间；“未结”指截至研判日当日24时未办结；常态为研判日前各日日均；'
        "满意率 =（满意+基本满意）/ 参评件数。</p></body></html>"
    )
    return "".join(parts), {k: v for k, v in pngs.items() if v}


def _hotline_section(b: Briefing) -> list[str]:
    """六、接诉即办: the same-day list by 承办单位, the 三率 this month against last, the channel mix (aggregates
    only: no caller appears)."""
    f = b.figures
    parts = [
        "<h2>六、接诉即办（12345）</h2>",
        '<div class="cards">',
        _card("hotline_overdue", "12345工单超期未结", f.get("hotline_overdue"), "（件）"),
        _card("hotline_due_soon", "次日24时前到期", f.get("hotline_due_soon"), "（件）"),
        _card("hotline_orders_month", "本月工单", f.get("hotline_orders_month"), "（件）"),
        _card("hotline_group_share", "邻里牵手占比", f.get("hotline_group_share"), "（%）"),
        "</div>",
        "<h3>超期与即将超期工单（按承办单位）</h3>",
        _table(
            ["承办单位", "超期未结", "次日24时前到期"],
            [[r["unit"], r["overdue"], r["due_soon"]] for r in b.hotline_by_unit],
            {1, 2},
            "hotline_by_unit",
        ),
        "<h3>三率：本月与上月</h3>",
        _table(
            ["指标", "本月（%）", "上月（%）", "本月基数（件）"],
            [[r["name"], r["this_month"], r["last_month"], r["this_month_denominator"]] for r in b.hotline_rates],
            {1, 2, 3},
            "hotline_rates",
        ),
        "<h3>本月来源渠道</h3>",
        _table(
            ["渠道", "工单数", "占比（%）", "邻里牵手"],
            [[r["channel"], r["orders"], r["share"], "是" if r["is_group"] else ""] for r in b.hotline_channels],
            {1, 2},
            "hotline_channels",
        ),
        '<p class="sub">口径：超期＝截至研判日24时未办结且已过在用办理时限；即将超期＝时限落在次日24时前；'
        "三率取 mart_indicators 月度值（本月为月初至数据截止日）。</p>",
    ]
    return parts


def write_briefing(home: Path, day, street: str | None = None, out: Path | None = None) -> tuple[Path, Briefing]:
    zones = Zones(Path(home))
    b = load_briefing(zones.serving_db, day, street)
    html, _ = render_html(b)
    out = Path(out) if out else zones.briefings / f"briefing_{day}{'_' + b.street if b.street else ''}.html"
    # shared with the street and the centre's staff, so readable by others, unlike the home's private files
    write_with(out, lambda tmp: Path(tmp).write_text(html, encoding="utf-8"), mode=0o644)
    return out, b


def _community_section(b: Briefing) -> list[str]:
    """七、社区工作: 三张清单 needs unaccepted and supply gaps, 积分 redemptions this month, visits overdue by care
    tier, by street (aggregates only: no resident, household or need appears)."""
    f = b.figures
    return [
        "<h2>七、社区工作（三张清单·积分·走访）</h2>",
        '<div class="cards">',
        _card("community_needs_unaccepted", "需求超3日未接单", f.get("community_needs_unaccepted"), "（件）"),
        _card("community_supply_gaps", "有需求无资源（社区×类别）", f.get("community_supply_gaps"), "（项）"),
        _card("community_redemptions", "本月积分兑换", f.get("community_redemptions"), "（次）"),
        _card("community_points_redeemed", "本月兑换积分", f.get("community_points_redeemed"), "（分）"),
        _card("community_visits_overdue", "探访逾期", f.get("community_visits_overdue"), "（人）"),
        "</div>",
        "<h3>按街道</h3>",
        _table(
            ["街道", "需求超3日未接单", "供需缺口", "本月兑换（次）", "本月兑换积分", "探访逾期（人）"],
            [
                [
                    r["street_name"],
                    r["needs_unaccepted"],
                    r["supply_gaps"],
                    r["redemptions"],
                    r["points_redeemed"],
                    r["visits_overdue"],
                ]
                for r in b.community_by_street
            ],
            {1, 2, 3, 4, 5},
            "community_by_street",
        ),
        "<h3>探访逾期（按探访层级）</h3>",
        _table(
            ["层级", "逾期（人）", "连续两期及以上"],
            [[r["tier_name"], r["overdue"], r["overdue_two_or_more"]] for r in b.visits_overdue_by_tier],
            {1, 2},
            "visits_overdue_by_tier",
        ),
        '<p class="sub">口径：需求超3日未接单＝发布3日仍未接单且截至研判日24时未结（预警 service_need_unaccepted）；'
        "供需缺口取数据截止日 mart_service_supply_gap；兑换为本月1日至研判日；探访逾期＝最近一个已届满探访周期无有效走访"
        "（预警 visit_overdue）。</p>",
    ]
