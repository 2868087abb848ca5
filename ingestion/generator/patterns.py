"""Known patterns injected into the feeds, so that the warehouse's early warnings can be scored.

The plan is drawn from its own random streams before any feed is built; each feed builder adds
the plan's records for its feed after drawing its own records, so the rest of a feed is the
same with or without patterns. Every injected record is written into
``truth/patterns.parquet`` (one row per pattern x record), which the pipeline never reads.

Patterns (all inside the period, at every scale with ``residents >= 2000`` and ``days >= 14``):

* ``repeat_petitioner`` — one resident petitions three times on the same matter within 11 days.
* ``collective_forming`` — five petitions on one category from one community within 7 days.
* ``grid_spike`` — ten grid events of one category in one grid on one day.
* ``escalated_dispute`` — a grid-worker dispute naming two residents, followed by a 110 call from
  one of them and a petition by the other (same ID numbers).
* ``vulnerable_police`` — a resident aged 80+ on the living-alone roll calls the police.

12345 orders (planned after the patterns above, from their own stream, so those keep their bytes):

* ``hotline_repeat_caller`` — one resident calls three times on one 诉求分类 within 11 days.
* ``hotline_repeat_address`` — three callers report one 诉求分类 at one address point within 11 days.
* ``hotline_unsigned`` — an order dispatched on the last day and never signed for.
* ``hotline_overdue`` — an urgent (紧急, 24 hours) order signed for and never closed.
* ``hotline_topic_spike`` — eight orders of one 诉求分类 from one community on one day.
* ``cross_channel_escalation`` — the escalated dispute's petitioner calls 12345 about the dispute's
  address two days before the 110 call made there (so: 12345, 110 and a petition within 4 days).
* ``hotline_due_soon`` — an ordinary (一般) order signed for and never closed that falls due the day after
  the reporting date (the period's end: the day the last data day's files arrive, which ``zhili run`` judges
  as of): by its default deadline (the 5th working day after its dispatch day, by the project's working-day
  calendar, 调休 included) when that day is a working day, else by an approved extension to it
  (:func:`due_soon_plan`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from .. import workdays

MIN_RESIDENTS, MIN_DAYS = 2000, 14
#: clock time of the due-soon order's dispatch (the feed dispatches injected orders 20 minutes after the call,
#: which is placed in the hour's first 50 minutes): only its day decides the deadline's day
DUE_SOON_DISPATCH = dt.time(10, 20)

PATTERN_SCHEMA = {
    "pattern": pl.Utf8,
    "pattern_id": pl.Utf8,
    "feed": pl.Utf8,
    "record_key": pl.Utf8,
    "role": pl.Utf8,
    "person_id": pl.Int64,
    "grid_code": pl.Utf8,
    "community_code": pl.Utf8,
    "street_code": pl.Utf8,
    "record_date": pl.Date,
    "first_date": pl.Date,
    "last_date": pl.Date,
    "category": pl.Utf8,
}


@dataclass
class InjectedPetition:
    day: dt.date
    seq: int  # 9001.. so keys never collide with the daily sequence
    members: list[int]  # person indices (rows of People.persons)
    point: int  # address point of the problem (wtsd)
    topic: str
    pattern: str
    pattern_id: str

    def key(self, county_code: str) -> str:
        return f"XF{county_code}{self.day:%Y%m%d}{self.seq:04d}"


@dataclass
class InjectedPolice:
    day: dt.date
    seq: int  # 90001..
    caller: int
    point: int
    category: str
    subcategory: str
    outcome: str
    pattern: str
    pattern_id: str

    def key(self, county_code: str) -> str:
        return f"J{county_code}{self.day:%Y%m%d}{self.seq:05d}"


@dataclass
class InjectedGridEvent:
    day: dt.date
    seq: int  # 901..
    point: int
    grid: str
    category: str
    subcategory: str
    involved: list[int]
    pattern: str
    pattern_id: str

    def key(self) -> str:
        return f"SJ{self.grid}{self.day:%Y%m%d}{self.seq:03d}"


@dataclass
class InjectedHotline:
    day: dt.date
    seq: int  # 900001.. so order ids never collide with the daily sequence
    caller: int  # person index, written with a clean ID
    point: int  # address point, written as its standard address (with coordinates)
    category: str  # 诉求分类
    shape: str  # closed (dispatched, signed, closed the same day) | unsigned | open (signed, never closed)
    urgency: str
    hour: int
    pattern: str
    pattern_id: str
    related: list[tuple] = field(default_factory=list)  # other feeds' records: (feed, key, role, person, day)
    extend_to: dt.datetime | None = None  # an approved extension's new deadline (asked on the last data day)

    def key(self, county_code: str) -> str:
        return f"GD{county_code}{self.day:%Y%m%d}{self.seq:06d}"


@dataclass
class PatternPlan:
    petitions: list[InjectedPetition] = field(default_factory=list)
    police: list[InjectedPolice] = field(default_factory=list)
    grid_events: list[InjectedGridEvent] = field(default_factory=list)
    hotline: list[InjectedHotline] = field(default_factory=list)
    clean_ids: set[int] = field(default_factory=set)  # persons whose IDs are rendered without faults
    living_alone: set[int] = field(default_factory=set)  # persons shown as 独居 on the care roll
    rows: list[dict] = field(default_factory=list)  # truth rows, completed as feeds are built

    def is_empty(self) -> bool:
        return not (self.petitions or self.police or self.grid_events or self.hotline)


def applies(residents: int, days: int) -> bool:
    return residents >= MIN_RESIDENTS and days >= MIN_DAYS


def plan_patterns(ctx) -> PatternPlan:
    """Choose the people, places and days of every pattern (deterministic in the seed)."""
    rng = ctx.rng(900)
    d, people = ctx.district, ctx.people
    res = people.residents()
    pts = d.points
    start64 = np.datetime64(ctx.start)
    stable = (
        (res["registered_on"].to_numpy().astype("datetime64[D]") <= start64)
        & np.isnat(res["left_on"].to_numpy().astype("datetime64[D]"))
        & (res["point_idx"].fill_null(-1).to_numpy() >= 0)
        & (res["doc_type"].to_numpy() == "居民身份证")
    )
    birth = res["birth_date"].to_numpy().astype("datetime64[D]")
    age_at_start = (start64 - birth).astype(int) / 365.25
    adults = np.flatnonzero(stable & (age_at_start >= 25) & (age_at_start < 70))
    used: set[int] = set()

    def pick(pool: np.ndarray) -> int:
        pool = np.array([i for i in pool if i not in used])
        i = int(pool[int(rng.integers(0, len(pool)))])
        used.add(i)
        return i

    point_of = res["point_idx"].fill_null(-1).to_numpy()
    day = lambda k: ctx.start + dt.timedelta(days=k)  # noqa: E731
    n = ctx.days
    plan = PatternPlan()

    # a repeat petitioner: three petitions on the same matter
    p = pick(adults)
    for j, k in enumerate((n - 13, n - 8, n - 3)):
        plan.petitions.append(
            InjectedPetition(
                day(k), 9001 + j, [p], int(point_of[p]), "城乡建设/物业管理", "repeat_petitioner", "repeat_petitioner-1"
            )
        )

    # a collective petition forming: five petitions on one category in one community within 7 days
    comm_of_person = pts["community_code"].to_numpy()[np.maximum(point_of, 0)]
    counts = pl.Series("v", comm_of_person[adults]).value_counts().sort(["count", "v"], descending=[True, False])
    community = counts.row(0)[0]
    local = adults[comm_of_person[adults] == community]
    comm_points = np.flatnonzero(pts["community_code"].to_numpy() == community)
    for j, k in enumerate((0, 1, 3, 4, 6)):
        m = pick(local)
        plan.petitions.append(
            InjectedPetition(
                day(n - 9 + k),
                9011 + j,
                [m],
                int(rng.choice(comm_points)),
                "自然资源/征地拆迁",
                "collective_forming",
                "collective_forming-1",
            )
        )

    # a spike: ten grid events of one category in a grid that exists throughout the period
    before, after = pts["grid_before"].to_numpy(), pts["grid_after"].to_numpy()
    steady = pl.Series("v", before[before == after]).value_counts().sort(["count", "v"], descending=[True, False])
    grid = steady.row(0)[0]
    grid_points = np.flatnonzero((before == grid) & (after == grid))
    for j in range(10):
        plan.grid_events.append(
            InjectedGridEvent(
                day(n - 2),
                901 + j,
                int(rng.choice(grid_points)),
                grid,
                "环境卫生",
                "垃圾堆放",
                [],
                "grid_spike",
                "grid_spike-1",
            )
        )

    # a dispute that escalates: grid event naming A and B, then A calls 110 and B petitions
    a = pick(adults)
    b_pool = adults[comm_of_person[adults] == comm_of_person[a]]
    b = pick(b_pool if len([i for i in b_pool if i not in used]) else adults)
    pa = int(point_of[a])
    ga = str(before[pa] if d.reorg_date is None or day(n - 10) < d.reorg_date else after[pa])
    plan.grid_events.append(
        InjectedGridEvent(
            day(n - 10), 951, pa, ga, "矛盾纠纷", "邻里纠纷", [a, b], "escalated_dispute", "escalated_dispute-1"
        )
    )
    plan.police.append(
        InjectedPolice(
            day(n - 6), 90001, a, pa, "纠纷", "邻里纠纷", "调解不成功", "escalated_dispute", "escalated_dispute-1"
        )
    )
    plan.petitions.append(
        InjectedPetition(day(n - 4), 9021, [b], pa, "城乡建设/物业管理", "escalated_dispute", "escalated_dispute-1")
    )

    # a vulnerable resident (80+, on the living-alone roll) involved in a police incident
    alone = np.flatnonzero(stable & res["lives_alone"].to_numpy() & (age_at_start >= 81))
    if len(alone) == 0:  # small districts: anyone 81+ on the register, shown on the roll as 独居
        alone = np.flatnonzero(stable & (age_at_start >= 81))
    v = pick(alone)
    plan.living_alone.add(v)
    plan.police.append(
        InjectedPolice(
            day(n - 5),
            90002,
            v,
            int(point_of[v]),
            "群众求助",
            "走失寻人",
            "已处理",
            "vulnerable_police",
            "vulnerable_police-1",
        )
    )

    plan.clean_ids = set(used)
    _plan_hotline(ctx, plan, adults, set(used), point_of, comm_of_person, community, b, pa)
    return plan


def _plan_hotline(
    ctx,
    plan: PatternPlan,
    adults: np.ndarray,
    used: set[int],
    point_of: np.ndarray,
    comm_of_person: np.ndarray,
    community: str,
    petitioner: int,
    place: int,
) -> None:
    """The 12345 patterns, drawn from their own stream after every other pattern (whose draws and
    clean IDs they leave alone): callers are written with clean IDs by the hotline feed itself."""
    rng = ctx.rng(904)
    pts = ctx.district.points
    day = lambda k: ctx.start + dt.timedelta(days=k)  # noqa: E731
    n = ctx.days
    seq = iter(range(900001, 999999))

    def pick(pool: np.ndarray) -> int:
        pool = np.array([i for i in pool if i not in used])
        i = int(pool[int(rng.integers(0, len(pool)))])
        used.add(i)
        return i

    def order(k: int, caller: int, point: int, category: str, pattern: str, *, shape="closed", urgency="一般", hour=10):
        plan.hotline.append(
            InjectedHotline(day(k), next(seq), caller, point, category, shape, urgency, hour, pattern, f"{pattern}-1")
        )

    c = pick(adults)
    for k in (n - 12, n - 7, n - 2):
        order(k, c, int(point_of[c]), "城乡建设/物业管理", "hotline_repeat_caller")
    q = pick(adults)
    for k in (n - 11, n - 6, n - 1):
        order(k, pick(adults), int(point_of[q]), "公共服务/供水供电", "hotline_repeat_address", hour=14)
    order(
        n - 1,
        pick(adults),
        int(point_of[pick(adults)]),
        "交通运输/道路设施",
        "hotline_unsigned",
        shape="unsigned",
        hour=9,
    )
    order(
        n - 6,
        pick(adults),
        int(point_of[pick(adults)]),
        "劳动社保/拖欠工资",
        "hotline_overdue",
        shape="open",
        urgency="紧急",
        hour=11,
    )
    local = adults[comm_of_person[adults] == community]
    comm_points = rng.permutation(np.flatnonzero(pts["community_code"].to_numpy() == community))
    for j in range(8):
        order(
            n - 2,
            pick(local),
            int(comm_points[j % len(comm_points)]),
            "生态环境/噪声污染",
            "hotline_topic_spike",
            hour=9 + j,
        )
    # the escalated dispute (above): its petitioner calls 12345 about the dispute's address, two days
    # before the 110 call made there and four before the petition
    order(n - 8, petitioner, place, "社会治安/邻里纠纷", "cross_channel_escalation", hour=19)
    county = ctx.district.county_code
    esc = plan.hotline[-1]
    esc.related = [
        ("police_incidents", x.key(county), "caller", x.caller, x.day)
        for x in plan.police
        if x.pattern == "escalated_dispute"
    ]
    esc.related += [
        ("petitions", x.key(county), "petitioner", m, x.day)
        for x in plan.petitions
        if x.pattern == "escalated_dispute"
        for m in x.members
    ]
    # an order about to pass its deadline (drawn last, so the patterns above keep their people and days)
    dispatched, extend_to = due_soon_plan(ctx.start, n)
    c = pick(adults)
    order(
        (dispatched - ctx.start).days,
        c,
        int(point_of[c]),
        "城乡建设/物业管理",
        "hotline_due_soon",
        shape="open",
        hour=DUE_SOON_DISPATCH.hour,
    )
    plan.hotline[-1].extend_to = extend_to


def due_soon_plan(start: dt.date, days: int) -> tuple[dt.date, dt.datetime | None]:
    """(dispatch day, extended deadline or None) of the ``hotline_due_soon`` order, which must fall due on the
    day after the reporting date ``start + days`` (the day the last data day's files arrive; the rule's list
    is what falls due before that next day ends).

    When that day is a working day (by :mod:`ingestion.workdays`, 调休 included), the order is dispatched on
    the latest data day whose default 一般 deadline (the 5th working day after it) is that day. A rest day is
    never a default 一般 deadline, so then the order is dispatched on the latest data day whose default
    deadline comes before it, and an approved extension moves the deadline to that rest day at 18:00."""
    due_day = start + dt.timedelta(days=days + 1)
    working = workdays.is_working_day(due_day)
    for k in range(days - 1, -1, -1):
        on = start + dt.timedelta(days=k)
        default = workdays.default_due_at(dt.datetime.combine(on, DUE_SOON_DISPATCH), "一般").date()
        if default == due_day if working else default < due_day:
            return on, None if working else dt.datetime.combine(due_day, dt.time(18))
    # cannot happen from MIN_DAYS on: the five working days before the list's day never span more than 14 days
    raise ValueError(f"no data day of {start} + {days} days has its 一般 deadline by {due_day}")


def record(
    plan: PatternPlan,
    *,
    pattern: str,
    pattern_id: str,
    feed: str,
    record_key: str,
    role: str,
    person_id: int | None,
    grid_code: str | None,
    record_date: dt.date,
    category: str,
) -> None:
    plan.rows.append(
        dict(
            pattern=pattern,
            pattern_id=pattern_id,
            feed=feed,
            record_key=record_key,
            role=role,
            person_id=person_id,
            grid_code=grid_code,
            community_code=grid_code[:12] if grid_code else None,
            street_code=grid_code[:9] if grid_code else None,
            record_date=record_date,
            category=category,
        )
    )


def patterns_frame(plan: PatternPlan | None) -> pl.DataFrame:
    """Truth rows with each pattern's first and last record date."""
    if plan is None or not plan.rows:
        return pl.DataFrame(schema=PATTERN_SCHEMA)
    df = pl.DataFrame(
        plan.rows, schema={k: v for k, v in PATTERN_SCHEMA.items() if k not in ("first_date", "last_date")}
    )
    df = df.with_columns(
        first_date=pl.col("record_date").min().over("pattern_id"),
        last_date=pl.col("record_date").max().over("pattern_id"),
    )
    return df.select(list(PATTERN_SCHEMA)).sort("pattern_id", "record_date", "record_key", "role", "person_id")
