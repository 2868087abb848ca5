"""The briefing's numbers, read from the serving snapshot ``<home>/serving/zhili.duckdb`` (read-only).

All day boundaries are China time: day ``D`` runs from ``D 00:00+08`` to ``D+1 00:00+08``.
A case is *open at the end of D* when it was received by D and not closed by then
(a case the snapshot calls closed without a closing time counts as closed).
Marts that may not exist yet (``mart_alerts``, ``mart_care_visits``) leave their
section empty with a note: the briefing never fails because a newer mart is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

__all__ = [
    "Briefing",
    "BriefingError",
    "load_briefing",
    "TRAILING_DAYS",
    "DUE_SOON_DAYS",
    "SATISFACTION_DAYS",
    "RULE_NAMES",
    "CARE_TIER_NAMES",
    "HOTLINE_RATES",
]

#: "usual level" of a category: the mean daily count over this many days before D
TRAILING_DAYS = 28
#: "soon due": due within this many days after D (as the due_soon indicator)
DUE_SOON_DAYS = 5
#: satisfaction is counted over cases closed in this many days ending with D
SATISFACTION_DAYS = 28
#: a category is flagged when its count is at least this multiple of its usual level (and >= 3)
SPIKE_RATIO = 1.5

FEED_NAMES = {"police_incidents": "110警情", "petitions": "信访", "grid_events": "网格事件"}
SEVERITY_NAMES = {"red": "红", "orange": "橙", "yellow": "黄"}
#: mart_care_visits.care_tier (and an alert's category for the care rules) in words, with the visit interval
CARE_TIER_NAMES = {"high_risk": "高风险（每周探访）", "key": "重点（每月探访）", "other": "一般（每季探访）"}
RULE_NAMES = {
    "repeat_petitioner": "重复信访人",
    "collective_forming": "集体访苗头",
    "grid_spike": "网格警情/事件异常升高",
    "escalated_dispute": "矛盾升级",
    "vulnerable_police": "困难群体涉警",
    "visit_overdue": "探访逾期",
    "petition_deadline": "信访超期/即将超期",
    "petition_overdue": "信访超期",
    "petition_due_soon": "信访即将超期",
    "hotline_unsigned": "12345工单超时未签收",
    "hotline_overdue": "12345工单超期",
    "hotline_due_soon": "12345工单即将超期",
    "hotline_repeat_caller": "12345同一诉求人重复来电",
    "hotline_repeat_address": "12345同一地址重复诉求",
    "cross_channel_escalation": "12345·110·信访跨渠道升级",
    "hotline_topic_spike": "12345社区话题激增",
}
#: the 三率 of 接诉即办 (mart_indicators codes) in the order the centre reports them
HOTLINE_RATES = {
    "hotline_response_rate": "响应率",
    "hotline_resolution_rate": "解决率",
    "hotline_satisfaction_rate": "满意率",
}
#: the 邻里牵手 share of 12345 orders (mart_indicators)
HOTLINE_GROUP_SHARE = "hotline_group_share"


class BriefingError(Exception):
    """Something the user can fix (no snapshot, unknown street, date outside the data): one sentence."""


@dataclass
class Briefing:
    day: date
    street: str | None
    street_code: str | None
    snapshot: Path
    data_from: date | None
    data_to: date | None
    notes: list[str] = field(default_factory=list)
    #: headline figures, keyed as the page's data-k attributes
    figures: dict[str, int | float | None] = field(default_factory=dict)
    alerts_available: bool = False
    alerts_by_street: list[dict] = field(default_factory=list)
    alerts_by_grid: list[dict] = field(default_factory=list)
    alert_list: list[dict] = field(default_factory=list)
    cases_by_street: list[dict] = field(default_factory=list)
    overdue_list: list[dict] = field(default_factory=list)
    categories: list[dict] = field(default_factory=list)
    history_days: int = 0
    key_population: list[dict] = field(default_factory=list)
    care_available: bool = False
    care_visits: list[dict] = field(default_factory=list)
    satisfaction: list[dict] = field(default_factory=list)
    #: 接诉即办 (12345): open orders overdue / falling due by the end of the next day, by 承办单位
    hotline_available: bool = False
    hotline_by_unit: list[dict] = field(default_factory=list)
    #: the 三率 this month (to D) and last month, from mart_indicators
    hotline_rates: list[dict] = field(default_factory=list)
    #: orders this month (to D) by channel, 邻里牵手 flagged
    hotline_channels: list[dict] = field(default_factory=list)
    #: the community's own work (issue 23), aggregates only: by street, needs unaccepted 3+ days (open
    #: service_need_unaccepted alerts) and categories with demand and no active resource (mart_service_supply_gap),
    #: points redemptions this month to D (fct_credit_redemption), care persons overdue for a visit (open
    #: visit_overdue alerts); and the overdue by care tier
    community_available: bool = False
    community_by_street: list[dict] = field(default_factory=list)
    visits_overdue_by_tier: list[dict] = field(default_factory=list)


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _tables(con) -> set[str]:
    return {
        r[0]
        for r in con.execute("select table_name from information_schema.tables where table_schema = 'marts'").fetchall()
    }


def _ts(day: date) -> str:
    """China-time midnight starting ``day`` as a timestamptz literal."""
    return f"timestamptz '{day.isoformat()} 00:00:00+08'"


def load_briefing(snapshot: Path, day: date, street: str | None = None) -> Briefing:
    import duckdb

    snapshot = Path(snapshot)
    if not snapshot.is_file():
        raise BriefingError(f"no serving snapshot at {snapshot}; run `zhili run` first or pass --home DIR")
    try:
        con = duckdb.connect(str(snapshot), read_only=True)
    except duckdb.Error as err:
        raise BriefingError(f"cannot open {snapshot} read-only: {str(err).splitlines()[0]}") from err
    try:
        return _load(con, snapshot, day, street)
    finally:
        con.close()


def _load(con, snapshot: Path, day: date, street: str | None) -> Briefing:
    tables = _tables(con)
    missing = {"dim_grid", "fct_incident", "mart_key_population", "dim_resident"} - tables
    if missing:
        raise BriefingError(
            f"{snapshot} lacks marts.{', marts.'.join(sorted(missing))}; is it a Zhili serving snapshot?"
        )
    # the data reach to the last day anything happened or the warehouse judged on (its as-of date)
    ends = ["max(received_date)", "max((status_at at time zone 'Asia/Shanghai')::date)"]
    span = con.execute(f"select min(received_date), greatest({', '.join(ends)}) from marts.fct_incident").fetchone()
    for table in ("mart_indicators", "mart_care_visits"):
        if table in tables:
            as_of = con.execute(f"select max(as_of_date) from marts.{table}").fetchone()[0]
            span = (span[0], max(d for d in (span[1], as_of) if d is not None))
    b = Briefing(day=day, street=street, street_code=None, snapshot=snapshot, data_from=span[0], data_to=span[1])
    if b.data_from is None:
        raise BriefingError(f"{snapshot} holds no incidents yet")
    if not (b.data_from <= day <= b.data_to):
        raise BriefingError(f"--date {day} is outside the data ({b.data_from} to {b.data_to})")

    streets = _rows(
        con, "select distinct street_code, street_name from marts.dim_grid where street_code is not null order by 1"
    )
    if street:
        match = [s for s in streets if street in (s["street_name"], s["street_code"])]
        if not match:
            known = ", ".join(s["street_name"] for s in streets)
            raise BriefingError(f"no street named {street!r}; known streets: {known}")
        b.street_code = match[0]["street_code"]
        b.street = match[0]["street_name"]
    sc = b.street_code
    # street filter on tables that carry street_code; `?` stays null-safe when no filter
    where_street = "(? is null or street_code = ?)"
    sp = [sc, sc]

    d0, d1 = _ts(day), _ts(day + timedelta(days=1))
    soon = _ts(day + timedelta(days=1 + DUE_SOON_DAYS))
    # street names: grids of one street share its name; an incident's street comes from its own street_code
    con.execute(
        "create temp table street_names as select street_code, any_value(street_name) as street_name "
        "from marts.dim_grid where street_code is not null group by 1"
    )
    con.execute("create temp table grid_names as select grid_code, grid_name, street_code from marts.dim_grid")

    # --- alerts (optional mart) -------------------------------------------------
    if "mart_alerts" in tables:
        b.alerts_available = True
        con.execute(
            f"""
            create temp table day_alerts as
            select a.*, raised_at >= {d0} and raised_at < {d1} as is_new,
                   is_open and raised_at < {d1} as is_open_now
            from marts.mart_alerts a
            where raised_at < {d1} and {where_street}""",
            sp,
        )
        b.alerts_by_street = _rows(
            con,
            """
            select coalesce(n.street_name, '未定位') as street_name,
                   count(*) filter (where is_new) as new_alerts,
                   count(*) filter (where is_open_now) as open_alerts,
                   count(*) filter (where is_open_now and severity = 'red') as open_red,
                   count(*) filter (where is_open_now and severity = 'orange') as open_orange,
                   count(*) filter (where is_open_now and severity = 'yellow') as open_yellow
            from day_alerts a left join street_names n using (street_code)
            group by 1 having count(*) filter (where is_new or is_open_now) > 0
            order by open_alerts desc, street_name""",
        )
        b.alerts_by_grid = _rows(
            con,
            """
            select coalesce(g.grid_name, a.grid_code) as grid_name, coalesce(n.street_name, '未定位') as street_name,
                   count(*) filter (where is_new) as new_alerts, count(*) filter (where is_open_now) as open_alerts
            from day_alerts a left join grid_names g using (grid_code) left join street_names n on n.street_code = a.street_code
            where a.grid_code is not null
            group by 1, 2 having count(*) filter (where is_new or is_open_now) > 0
            order by open_alerts desc, new_alerts desc, grid_name limit 10""",
        )
        b.alert_list = _rows(
            con,
            """
            select a.rule, a.severity, coalesce(g.grid_name, a.grid_code, '') as grid_name, a.category,
                   a.evidence_count, a.metric_value, a.threshold, a.raised_at, a.is_new,
                   r.name_masked as person_masked
            from day_alerts a left join grid_names g using (grid_code)
            left join marts.dim_resident r using (person_key)
            where a.is_open_now or a.is_new
            order by case a.severity when 'red' then 0 when 'orange' then 1 else 2 end, a.raised_at desc limit 20""",
        )
        # an alert's category is a taxonomy code, a petition category (already words) or a care tier: the
        # taxonomy's Chinese names come from the warehouse (the incident_taxonomy seed), not from a copy here
        names = dict(
            con.execute(
                "select distinct taxonomy_code, taxonomy_name_zh from marts.fct_incident "
                "where taxonomy_code is not null and taxonomy_name_zh is not null"
            ).fetchall()
        )
        for row in b.alert_list:
            row["category"] = names.get(row["category"]) or CARE_TIER_NAMES.get(row["category"]) or row["category"]
        b.figures["alerts_new"] = sum(r["new_alerts"] for r in b.alerts_by_street)
        b.figures["alerts_open"] = sum(r["open_alerts"] for r in b.alerts_by_street)
    else:
        b.notes.append("预警数据（marts.mart_alerts）尚未发布，本期不含预警一节 / mart_alerts is not in this snapshot")

    # --- overdue and soon-due cases ------------------------------------------------
    con.execute(
        f"""
        create temp table open_cases as
        select i.*, date_diff('day', (due_at at time zone 'Asia/Shanghai')::date, ?::date) as days_overdue
        from marts.fct_incident i
        where received_date <= ?::date
          and not (is_closed and (closed_at is null or closed_at < {d1}))
          and due_at is not null and {where_street}""",
        [day, day, *sp],
    )
    b.cases_by_street = _rows(
        con,
        f"""
        select coalesce(n.street_name, '未定位') as street_name,
               count(*) filter (where due_at < {d1}) as overdue,
               count(*) filter (where due_at >= {d1} and due_at < {soon}) as due_soon,
               count(*) filter (where due_at < {d1} and source_feed = 'petitions') as overdue_petitions
        from open_cases c left join street_names n using (street_code)
        group by 1 having count(*) filter (where due_at < {soon}) > 0
        order by overdue desc, due_soon desc, street_name""",
    )
    b.figures["cases_overdue"] = sum(r["overdue"] for r in b.cases_by_street)
    b.figures["cases_due_soon"] = sum(r["due_soon"] for r in b.cases_by_street)
    b.overdue_list = _rows(
        con,
        f"""
        select c.source_feed, c.source_id, c.taxonomy_name_zh, coalesce(g.grid_name, '未定位') as grid_name,
               c.received_date, (c.due_at at time zone 'Asia/Shanghai')::date as due_date, c.days_overdue, c.handling_level
        from open_cases c left join grid_names g using (grid_code)
        where c.due_at < {d1}
        order by c.days_overdue desc, c.source_id limit 15""",
    )

    # --- incidents by category vs their usual level ----------------------------------
    window_start = max(day - timedelta(days=TRAILING_DAYS), b.data_from)
    b.history_days = (day - window_start).days
    b.categories = _rows(
        con,
        """
        select coalesce(taxonomy_name_zh, '未分类') as category,
               count(*) filter (where received_date = ?::date) as today,
               count(*) filter (where received_date >= ?::date and received_date < ?::date) as trailing_count
        from marts.fct_incident
        where received_date >= ?::date and received_date <= ?::date and """
        + where_street
        + """
        group by 1 order by today desc, trailing_count desc, category""",
        [day, window_start, day, window_start, day, *sp],
    )
    for row in b.categories:
        row["usual"] = round(row["trailing_count"] / b.history_days, 1) if b.history_days else None
        usual = row["usual"]
        row["is_high"] = bool(usual is not None and row["today"] >= 3 and row["today"] >= SPIKE_RATIO * max(usual, 0.5))
    b.figures["incidents_today"] = sum(r["today"] for r in b.categories)
    b.figures["categories_high"] = sum(r["is_high"] for r in b.categories)
    if b.history_days < TRAILING_DAYS:
        b.notes.append(
            f"常态水平按 {b.history_days} 天计算（数据自 {b.data_from} 起，不足 {TRAILING_DAYS} 天）"
            f" / usual level over {b.history_days} days of history"
        )

    # --- key population -----------------------------------------------------------
    b.key_population = _rows(
        con,
        """
        select k.tag_code, any_value(k.tag_name_zh) as tag_name,
               sum(k.resident_count)::bigint as residents,
               coalesce(sum(k.resident_count) filter (where k.grid_code is not null), 0)::bigint as placed,
               sum(k.aged_80_plus_count)::bigint as aged_80_plus,
               count(distinct k.grid_code) as grids
        from marts.mart_key_population k left join grid_names g using (grid_code)
        where (? is null or g.street_code = ?)
        group by 1 order by residents desc, tag_code""",
        sp,
    )
    for row in b.key_population:
        row["placed_share"] = round(100 * row["placed"] / row["residents"], 1) if row["residents"] else None
    b.figures["key_population"] = sum(r["residents"] for r in b.key_population)
    if "mart_care_visits" in tables:
        b.care_available = True
        b.care_visits = _rows(
            con,
            """
            select coalesce(v.care_tier, '') as care_tier, count(*) as residents,
                   count(*) filter (where v.is_visited_within_interval) as visited
            from marts.mart_care_visits v left join grid_names g using (grid_code)
            where (? is null or g.street_code = ?)
            group by 1 order by 1""",
            sp,
        )
        for row in b.care_visits:
            row["care_tier"] = CARE_TIER_NAMES.get(row["care_tier"], row["care_tier"])
            row["coverage"] = round(100 * row["visited"] / row["residents"], 1) if row["residents"] else None
        total = sum(r["residents"] for r in b.care_visits)
        b.figures["care_coverage"] = round(100 * sum(r["visited"] for r in b.care_visits) / total, 1) if total else None
    else:
        b.notes.append(
            "探访关爱数据（marts.mart_care_visits）尚未发布，重点人群只列人数与落格率 / mart_care_visits is not in this snapshot"
        )

    # --- satisfaction ------------------------------------------------------------------
    sat_from = _ts(day - timedelta(days=SATISFACTION_DAYS - 1))
    b.satisfaction = _rows(
        con,
        f"""
        select source_feed,
               count(*) filter (where satisfaction = '满意') as satisfied,
               count(*) filter (where satisfaction = '基本满意') as mostly,
               count(*) filter (where satisfaction = '不满意') as unsatisfied,
               count(*) as rated
        from marts.fct_incident
        where status = 'closed' and satisfaction is not null and closed_at >= {sat_from} and closed_at < {d1}
          and {where_street}
        group by 1 order by 1""",
        sp,
    )
    for row in b.satisfaction:
        row["rate"] = round(100 * (row["satisfied"] + row["mostly"]) / row["rated"], 1) if row["rated"] else None
    rated = sum(r["rated"] for r in b.satisfaction)
    b.figures["satisfaction_rated"] = rated
    b.figures["satisfaction_rate"] = (
        round(100 * sum(r["satisfied"] + r["mostly"] for r in b.satisfaction) / rated, 1) if rated else None
    )
    _load_hotline(con, b, tables, where_street, sp)
    _load_community(con, b, tables)
    return b


def _load_hotline(con, b: Briefing, tables: set[str], where_street: str, sp: list) -> None:
    """The 接诉即办 section: the same-day list of the hotline_overdue / hotline_due_soon alerts (open at the
    end of D, past the deadline in force / due before the end of D+1) by the unit holding the order, the
    三率 this month against last (mart_indicators, month grain), and this month's channel mix."""
    if "fct_hotline_order" not in tables:
        b.notes.append("接诉即办数据（marts.fct_hotline_order）尚未发布 / fct_hotline_order is not in this snapshot")
        return
    b.hotline_available = True
    day = b.day
    d1, d2 = _ts(day + timedelta(days=1)), _ts(day + timedelta(days=2))
    b.hotline_by_unit = _rows(
        con,
        f"""
        select coalesce(last_unit, '未派单') as unit,
               count(*) filter (where due_at < {d1}) as overdue,
               count(*) filter (where due_at >= {d1} and due_at < {d2}) as due_soon
        from marts.fct_hotline_order
        where called_date <= ?::date and not is_cancelled and (closed_at is null or closed_at >= {d1})
          and due_at < {d2} and {where_street}
        group by 1 order by overdue desc, due_soon desc, unit""",
        [day, *sp],
    )
    b.figures["hotline_overdue"] = sum(r["overdue"] for r in b.hotline_by_unit)
    b.figures["hotline_due_soon"] = sum(r["due_soon"] for r in b.hotline_by_unit)
    this_month = day.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    if "mart_indicators" in tables:
        level, unit = ("street", b.street_code) if b.street_code else ("county", None)
        found = _rows(
            con,
            """
            select indicator_code, period_start_date, numerator, denominator, value
            from marts.mart_indicators
            where indicator_code in (select unnest(?)) and level = ? and (? is null or unit_code = ?)
              and period_grain = 'month' and period_start_date in (?::date, ?::date)
              and source = 'hotline_orders' and category = 'all'""",
            [[*HOTLINE_RATES, HOTLINE_GROUP_SHARE], level, unit, unit, this_month, last_month],
        )
        cell = {(r["indicator_code"], r["period_start_date"]): r for r in found}

        def pct(code: str, month) -> float | None:
            r = cell.get((code, month))
            return None if r is None or r["value"] is None else round(100 * r["value"], 1)

        b.hotline_rates = [
            {
                "indicator_code": code,
                "name": name,
                "this_month": pct(code, this_month),
                "last_month": pct(code, last_month),
                "this_month_denominator": (cell.get((code, this_month)) or {}).get("denominator"),
            }
            for code, name in HOTLINE_RATES.items()
        ]
        b.figures["hotline_group_share"] = pct(HOTLINE_GROUP_SHARE, this_month)
    b.hotline_channels = _rows(
        con,
        f"""
        select coalesce(channel, '未注明') as channel, bool_or(coalesce(is_neighbourhood_group, false)) as is_group,
               count(*) as orders
        from marts.fct_hotline_order
        where called_date >= ?::date and called_date <= ?::date and {where_street}
        group by 1 order by orders desc, channel""",
        [this_month, day, *sp],
    )
    total = sum(r["orders"] for r in b.hotline_channels)
    for row in b.hotline_channels:
        row["share"] = round(100 * row["orders"] / total, 1) if total else None
    b.figures["hotline_orders_month"] = total


#: the community section's marts; any one present gives the section, a missing one leaves its columns empty
COMMUNITY_MARTS = ("mart_service_supply_gap", "fct_credit_redemption", "mart_alerts")


def _load_community(con, b: Briefing, tables: set[str]) -> None:
    """The community's own work (三张清单, 积分, 走访), by street and aggregated only (no person, household or need
    appears): needs unaccepted 3+ days after posting and still open at the end of D (the open
    service_need_unaccepted alerts raised by then), supply gaps (community x category with open needs and no
    active resource, mart_service_supply_gap as of the warehouse's date), points redemptions from the month's
    first day to D, and care persons overdue for a visit at the end of D (open visit_overdue alerts raised by
    then), those also by care tier."""
    if not any(t in tables for t in COMMUNITY_MARTS):
        b.notes.append("社区工作数据（三张清单、积分、走访）尚未发布 / the community marts are not in this snapshot")
        return
    b.community_available = True
    day, sc = b.day, b.street_code
    d1 = _ts(day + timedelta(days=1))
    parts = []
    if "mart_alerts" in tables:
        parts.append(
            f"""select street_code,
                   count(*) filter (where rule = 'service_need_unaccepted') as needs_unaccepted,
                   0 as supply_gaps, 0 as redemptions, 0 as points_redeemed,
                   count(*) filter (where rule = 'visit_overdue') as visits_overdue
            from marts.mart_alerts
            where rule in ('service_need_unaccepted', 'visit_overdue') and is_open and raised_at < {d1}
            group by 1"""
        )
    if "mart_service_supply_gap" in tables:
        parts.append(
            """select left(community_code, 9) as street_code, 0 as needs_unaccepted, count(*) as supply_gaps,
                   0 as redemptions, 0 as points_redeemed, 0 as visits_overdue
            from marts.mart_service_supply_gap where has_demand_without_supply group by 1"""
        )
    if "fct_credit_redemption" in tables:
        parts.append(
            f"""select left(community_code, 9) as street_code, 0 as needs_unaccepted, 0 as supply_gaps,
                   count(*) as redemptions, coalesce(sum(points_used), 0) as points_redeemed, 0 as visits_overdue
            from marts.fct_credit_redemption
            where redeemed_date >= date '{day.replace(day=1).isoformat()}' and redeemed_date <= date '{day.isoformat()}'
            group by 1"""
        )
    b.community_by_street = _rows(
        con,
        f"""
        with parts as ({" union all ".join(parts)})
        select coalesce(n.street_name, '未定位') as street_name,
               sum(needs_unaccepted)::bigint as needs_unaccepted, sum(supply_gaps)::bigint as supply_gaps,
               sum(redemptions)::bigint as redemptions, sum(points_redeemed)::bigint as points_redeemed,
               sum(visits_overdue)::bigint as visits_overdue
        from parts left join street_names n using (street_code)
        where ? is null or parts.street_code = ?
        group by 1 order by sum(needs_unaccepted) + sum(visits_overdue) desc, 1""",
        [sc, sc],
    )
    for key in ("needs_unaccepted", "supply_gaps", "redemptions", "points_redeemed", "visits_overdue"):
        b.figures[f"community_{key}"] = sum(r[key] for r in b.community_by_street)
    if "mart_alerts" in tables:
        b.visits_overdue_by_tier = _rows(
            con,
            f"""
            select category as care_tier, count(*) as overdue,
                   count(*) filter (where severity = 'orange') as overdue_two_or_more
            from marts.mart_alerts
            where rule = 'visit_overdue' and is_open and raised_at < {d1} and (? is null or street_code = ?)
            group by 1 order by case category when 'high_risk' then 0 when 'key' then 1 else 2 end""",
            [sc, sc],
        )
        for row in b.visits_overdue_by_tier:
            row["tier_name"] = CARE_TIER_NAMES.get(row["care_tier"], row["care_tier"])
