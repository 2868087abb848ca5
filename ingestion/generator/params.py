"""Per-seed variation within the feed contract: how a district's departments happen to deliver.

Fixed quirk rates made every generated landing look alike, so readers written by the same hands
agreed with the generator by construction. Here each seed draws its own county, its own rate for
every quirk the feed pages list (zero for some: a department that never sends 15-digit IDs), its own
date and phone habits, encoding switches and register layouts whose columns come and go. The draw
is deterministic in the seed and written to ``truth/params.json``, so a failing seed can be read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["COUNTIES", "County", "Params", "draw_params", "hotline_params"]


@dataclass(frozen=True)
class County:
    code: str  # GB/T 2260
    name: str
    province: str
    city: str  # empty for a district of a municipality (北京市朝阳区)
    area_code: str  # landline prefix


# Real counties and districts (GB/T 2260 codes, their landline area codes). The first is the demo's.
COUNTIES: tuple[County, ...] = (
    County("520602", "碧江区", "贵州省", "铜仁市", "0856"),
    County("520102", "南明区", "贵州省", "贵阳市", "0851"),
    County("522601", "凯里市", "贵州省", "黔东南苗族侗族自治州", "0855"),
    County("433101", "吉首市", "湖南省", "湘西土家族苗族自治州", "0743"),
    County("431202", "鹤城区", "湖南省", "怀化市", "0745"),
    County("422801", "恩施市", "湖北省", "恩施土家族苗族自治州", "0718"),
    County("500101", "万州区", "重庆市", "", "023"),
    County("510104", "锦江区", "四川省", "成都市", "028"),
    County("530102", "五华区", "云南省", "昆明市", "0871"),
    County("451302", "兴宾区", "广西壮族自治区", "来宾市", "0772"),
    County("360102", "东湖区", "江西省", "南昌市", "0791"),
    County("330106", "西湖区", "浙江省", "杭州市", "0571"),
    County("110105", "朝阳区", "北京市", "", "010"),
)
#: seeds whose county is fixed: the demo (`make demo`, seed 20241101) keeps the district it always had
_PINNED = {20241101: "520602"}

# (low, high) of each quirk's share of records; a quirk is switched off entirely for some seeds.
ID_RANGES = {
    "lower_x": (0.001, 0.01),
    "fullwidth": (0.001, 0.01),
    "spaces": (0.001, 0.01),
    "old_15": (0.001, 0.015),
    "empty": (0.002, 0.03),
    "placeholder": (0.0005, 0.008),
    "bad_check": (0.001, 0.01),
    "bad_date": (0.0003, 0.003),
    "excel_damage": (0.0005, 0.005),
}
NAME_RANGES = {
    "whitespace": (0.001, 0.01),
    "spaces": (0.001, 0.01),
    "traditional": (0.001, 0.01),
    "homophone": (0.001, 0.01),
    "anonymous": (0.0001, 0.002),
}
# phone forms as _quirks.render_phones numbers them (0 = plain mobile)
PHONE_FORMS = (
    "mobile",
    "+86",
    "86",
    "+86-",
    "spaced",
    "dashed",
    "landline_dash",
    "landline_paren",
    "landline_local",
    "two_numbers",
    "fullwidth",
    "empty",
)
SEX_FORMS = ("text", "gb_code", "letter", "empty")
DATE_FORMS = ("iso", "slash", "compact", "chinese", "dotted")
DATETIME_FORMS = ("iso", "slash_minutes")
ID_FEEDS = ("police_population", "police_incidents", "civil_affairs", "petitions", "grid_events")
#: departments whose files may arrive in the other encoding (grid_registry's snapshot is left as stated)
SWITCHING_FEEDS = ("police_population", "police_incidents", "petitions", "grid_events")
REGISTER_OPTIONAL = (
    "性别",
    "民族",
    "出生日期",
    "人口类型",
    "户籍地址",
    "联系电话",
    "所属派出所",
    "登记日期",
    "状态变更日期",
)
EXTRA_COLUMNS = ("数据来源", "更新时间", "备注", "采集人", "核查状态")


def _rate(rng: np.random.Generator, lo: float, hi: float, p_zero: float = 0.2) -> float:
    """0 with probability ``p_zero``, else log-uniform in [lo, hi]."""
    if rng.random() < p_zero:
        return 0.0
    return float(round(lo * (hi / lo) ** rng.random(), 5))


def _mix(
    rng: np.random.Generator, names: tuple[str, ...], main_lo: float, main_hi: float, p_zero: float = 0.25
) -> dict[str, float]:
    """Shares of ``names``: the first (the department's usual form) gets [main_lo, main_hi], the rest
    share the remainder with random weights, some of them zero."""
    main = float(rng.uniform(main_lo, main_hi))
    w = rng.random(len(names) - 1) * (rng.random(len(names) - 1) >= p_zero)
    if w.sum() == 0:
        w[int(rng.integers(0, len(w)))] = 1.0
    rest = (1 - main) * w / w.sum()
    return {n: round(float(v), 5) for n, v in zip(names, [main, *rest])}


@dataclass
class Params:
    seed: int
    county: County
    id_rates: dict[str, dict[str, float]]  # feed -> ID fault kind -> share
    name_rates: dict[str, dict[str, float]]  # feed -> name fault kind -> share
    dot_variant_rate: float  # minority names whose middle dot is typed otherwise
    phone_forms: dict[str, float]
    sex_forms: dict[str, float]
    date_main: dict[str, int]  # feed -> index into DATE_FORMS of its usual text date form
    date_other_rate: float  # text dates in another README form
    date_empty_rate: float
    datetime_forms: dict[str, dict[str, float]]  # CSV feed -> DATETIME_FORMS shares
    petition_zone_rate: float  # djsj with +08:00 (the rest without a zone)
    address: dict[str, float]  # address spelling habits
    coordinates: dict[str, float]  # 110 coordinate faults
    resend_rate: float
    encoding: dict[str, dict]  # feed -> {"mode": none|single|from, "day": k, "bom": bool}
    register: dict  # police_population layouts (see _register_layouts)
    daily_layout: dict[
        str, dict
    ]  # CSV increment feed -> {"order": [...]|None, "extra": (col, day)|None, "header_noise": rate}
    workbook: dict[str, float]  # civil_affairs hand-made habits
    broken_json_rate: float
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1, sort_keys=True)

    def write(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n", encoding="utf-8")


def _encoding(rng: np.random.Generator, days: int) -> dict:
    u = rng.random()
    mode = "none" if u < 0.4 else ("single" if u < 0.8 else "from")
    return {"mode": mode, "day": int(rng.integers(0, max(1, days))), "bom": bool(rng.random() < 0.5)}


def _daily_layout(rng: np.random.Generator, columns: list[str], days: int) -> dict:
    order = None
    if rng.random() < 0.35:
        order = [columns[i] for i in rng.permutation(len(columns))]
    extra = None
    if rng.random() < 0.35:
        extra = [EXTRA_COLUMNS[int(rng.integers(0, len(EXTRA_COLUMNS)))], int(rng.integers(0, max(1, days)))]
    return {"order": order, "extra": extra, "header_noise": _rate(rng, 0.05, 0.5, p_zero=0.5)}


def _register_layouts(rng: np.random.Generator, weeks: int) -> dict:
    """Per weekly snapshot: optional columns absent, an unannounced column, shuffled order, noisy headers,
    and the week the register started exporting 户号/与户主关系 (it added them mid-year)."""
    p_drop = _rate(rng, 0.1, 0.5, p_zero=0.35)
    p_extra = _rate(rng, 0.1, 0.6, p_zero=0.35)
    p_shuffle = _rate(rng, 0.1, 0.6, p_zero=0.35)
    p_noise = _rate(rng, 0.1, 0.6, p_zero=0.35)
    hh_from = int(rng.integers(0, weeks + 2))  # > last week: never in this period
    weeks_out = []
    for _ in range(weeks):
        drop = sorted(c for c in REGISTER_OPTIONAL if rng.random() < 0.25) if rng.random() < p_drop else []
        extra = EXTRA_COLUMNS[int(rng.integers(0, len(EXTRA_COLUMNS)))] if rng.random() < p_extra else None
        shuffle = int(rng.integers(1, 2**31)) if rng.random() < p_shuffle else None
        noise = int(rng.integers(1, 2**31)) if rng.random() < p_noise else None
        weeks_out.append({"drop": drop, "extra": extra, "shuffle_seed": shuffle, "header_noise_seed": noise})
    return {
        "p_drop": p_drop,
        "p_extra": p_extra,
        "p_shuffle": p_shuffle,
        "p_header_noise": p_noise,
        "household_from_week": hh_from,
        "weeks": weeks_out,
    }


INCIDENT_COLUMNS = [
    "警情编号",
    "接警时间",
    "报警方式",
    "报警人",
    "报警人证件号码",
    "报警电话",
    "发生地址",
    "经度",
    "纬度",
    "警情类别",
    "警情细类",
    "简要警情",
    "管辖单位",
    "处警结果",
    "反馈时间",
]
EVENT_COLUMNS = [
    "事件编号",
    "上报时间",
    "上报人",
    "网格编码",
    "事件大类",
    "事件小类",
    "事件描述",
    "发生地址",
    "经度",
    "纬度",
    "涉及人员",
    "处置层级",
    "当前状态",
    "派遣部门",
    "状态时间",
    "办结时间",
    "群众评价",
]


def hotline_params(seed: int) -> dict:
    """hotline_orders' quirk rates for a seed, from its own stream (``Params.extra``): a stream of
    its own, so the feed, added later, moved no earlier feed's draws."""
    rng = np.random.default_rng([seed, 7022])
    return {
        "id_rates": {k: _rate(rng, lo, hi) for k, (lo, hi) in ID_RANGES.items()},
        "name_rates": {k: _rate(rng, lo, hi) for k, (lo, hi) in NAME_RANGES.items()},
        "id_given": float(round(rng.uniform(0.05, 0.3), 3)),
        "anonymous": float(round(rng.uniform(0.03, 0.12), 3)),
        "empty_due": float(round(rng.uniform(0.1, 0.6), 3)),
        "step_late": float(round(rng.uniform(0.01, 0.08), 3)),
        "tie": float(round(rng.uniform(0.05, 0.2), 3)),
        "returned": float(round(rng.uniform(0.04, 0.12), 3)),
        "extension": float(round(rng.uniform(0.03, 0.1), 3)),
        "late_sign": float(round(rng.uniform(0.05, 0.2), 3)),
        "late_close": float(round(rng.uniform(0.05, 0.2), 3)),
        "reopen": float(round(rng.uniform(0.3, 0.8), 3)),  # of follow-ups that found it unsolved
        "badly_kept": float(round(rng.uniform(0.003, 0.02), 4)),
        "cancelled": float(round(rng.uniform(0.003, 0.02), 4)),
        "coordinates": float(round(rng.uniform(0.05, 0.3), 3)),
        "picked_empty": float(round(rng.uniform(0.02, 0.15), 3)),
    }


def draw_params(seed: int, days: int, county: County | None = None) -> Params:
    """The seed's variation; ``county`` given (the CLI's --county-code) overrides the drawn one."""
    rng = np.random.default_rng([seed, 7001])
    drawn = COUNTIES[int(rng.integers(0, len(COUNTIES)))]
    if seed in _PINNED:
        drawn = next(c for c in COUNTIES if c.code == _PINNED[seed])
    id_rates = {}
    for feed in ID_FEEDS:
        r = {k: _rate(rng, lo, hi) for k, (lo, hi) in ID_RANGES.items()}
        if feed == "grid_events":  # people named in a report often have no ID written down
            r["empty"] = _rate(rng, 0.02, 0.15, p_zero=0.0)
        if feed == "civil_affairs":  # Excel damage there comes from numeric sheets, not from text cells
            r["excel_damage"] = 0.0
        id_rates[feed] = r
    name_rates = {feed: {k: _rate(rng, lo, hi) for k, (lo, hi) in NAME_RANGES.items()} for feed in ID_FEEDS}
    weeks = (days + 6) // 7
    return Params(
        seed=seed,
        county=county or drawn,
        id_rates=id_rates,
        name_rates=name_rates,
        dot_variant_rate=float(round(rng.uniform(0.0, 0.9), 3)),
        phone_forms=_mix(rng, PHONE_FORMS, 0.6, 0.92, p_zero=0.2),
        sex_forms=_mix(rng, SEX_FORMS, 0.8, 0.98, p_zero=0.3),
        date_main={
            feed: int(rng.choice(len(DATE_FORMS), p=[0.6, 0.15, 0.1, 0.1, 0.05]))
            for feed in ("police_population", "civil_affairs")
        },
        date_other_rate=_rate(rng, 0.005, 0.15),
        date_empty_rate=_rate(rng, 0.0005, 0.01),
        datetime_forms={
            feed: _mix(rng, DATETIME_FORMS, 0.85, 1.0, p_zero=0.4) for feed in ("police_incidents", "grid_events")
        },
        petition_zone_rate=float(round(rng.uniform(0.6, 1.0), 3)),
        address={
            "province_prefix": float(round(rng.uniform(0.1, 0.9), 3)),
            "city_prefix": float(round(rng.uniform(0.0, 0.3), 3)),
            "county_prefix": float(round(rng.uniform(0.0, 0.3), 3)),
            "fullwidth": _rate(rng, 0.005, 0.08),
            "trailing_space": _rate(rng, 0.001, 0.02),
            "building_zhuang": float(round(rng.uniform(0.02, 0.2), 3)),
            "building_haolou": float(round(rng.uniform(0.02, 0.15), 3)),
            "building_chinese": _rate(rng, 0.01, 0.08),
            "unit_chinese": _rate(rng, 0.02, 0.3),
            "room_shi": float(round(rng.uniform(0.0, 0.5), 3)),
            "room_dash": _rate(rng, 0.02, 0.3),
        },
        coordinates={
            "empty": _rate(rng, 0.005, 0.05),
            "zero": _rate(rng, 0.002, 0.03),
            "swapped": _rate(rng, 0.005, 0.04),
        },
        resend_rate=_rate(rng, 0.002, 0.05),
        encoding={feed: _encoding(rng, days) for feed in SWITCHING_FEEDS},
        register=_register_layouts(rng, weeks),
        daily_layout={
            "police_incidents": _daily_layout(rng, INCIDENT_COLUMNS, days),
            "grid_events": _daily_layout(rng, EVENT_COLUMNS, days),
        },
        workbook={
            "note_row": float(round(rng.uniform(0.0, 1.0), 3)),
            "serial_dates": float(round(rng.uniform(0.0, 1.0), 3)),
            "total_row": float(round(rng.uniform(0.2, 1.0), 3)),
            "empty_row": _rate(rng, 0.001, 0.02),
            "header_noise": _rate(rng, 0.05, 0.5, p_zero=0.4),
        },
        broken_json_rate=_rate(rng, 0.001, 0.01, p_zero=0.1),
        extra={"hotline_orders": hotline_params(seed)},
    )
