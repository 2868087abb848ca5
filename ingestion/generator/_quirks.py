"""How personal fields really look: renderers that turn clean values into feed text."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

_FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
TRADITIONAL = dict(
    zip(
        "陈张刘杨黄赵吴孙马罗郑谢韩冯邓许龙华国伟军丽红兰凤云东刚杰涛兴荣贵运学宝长义",
        "陳張劉楊黃趙吳孫馬羅鄭謝韓馮鄧許龍華國偉軍麗紅蘭鳳雲東剛傑濤興榮貴運學寶長義",
    )
)
HOMOPHONE = dict(
    zip(
        "伟丽静军敏杰勇艳芳娟涛明华磊洋平刚辉玲霞超秀英红兰林建志鹏斌宇浩",
        "玮莉晶君民洁永燕方鹃滔鸣桦垒阳萍钢晖铃侠朝琇瑛虹岚琳健智朋彬雨皓",
    )
)
DOT_VARIANTS = ["\u00b7", "\u2022", "\u30fb", ".", "\uff0e"]
MINORITY_NAMES = [
    "买买提·艾力",
    "阿依古丽·吐尔逊",
    "热依拉·阿不都",
    "古丽娜·买合木提",
    "艾尔肯·吾斯曼",
    "迪丽努尔·阿木提",
    "努尔艾力·司马义",
    "帕提古丽·热合曼",
    "阿卜杜拉·艾海提",
    "伊力亚尔·肉孜",
]
CN_NUM = "零一二三四五六七八九十"
WS = ["\u3000", " ", "\u200b", "\ufeff"]

NAME_FAULT_RATES = {"whitespace": 0.004, "spaces": 0.004, "traditional": 0.004, "homophone": 0.004, "anonymous": 0.0005}


def render_names(
    names: np.ndarray, rng: np.random.Generator, rates: dict[str, float] | None = None, dot_variant_rate: float = 0.6
) -> tuple[np.ndarray, np.ndarray]:
    """Names as typed; ``rates`` per fault kind (the seed's, see params.NAME_RANGES), ``dot_variant_rate`` the
    share of minority names whose middle dot comes out as another character."""
    rates = NAME_FAULT_RATES if rates is None else rates
    n = len(names)
    kinds = ["none", *rates.keys()]
    p = np.array([1.0 - sum(rates.values()), *rates.values()])
    pick = rng.choice(len(kinds), size=n, p=p)
    out = np.array(names, dtype=object)
    faults = np.full(n, "none", dtype=object)
    # minority names: the middle dot comes out of many keyboards differently
    dotted = np.flatnonzero(np.char.find(names.astype(str), "·") >= 0) if n else np.array([], dtype=int)
    for idx in dotted:
        if rng.random() < dot_variant_rate:
            out[idx] = str(out[idx]).replace("·", DOT_VARIANTS[int(rng.integers(1, 5))])
            faults[idx] = "dot_variant"
    for idx in np.flatnonzero(pick):
        name, kind = str(out[idx]), kinds[pick[idx]]
        if kind == "whitespace":
            w = WS[int(rng.integers(0, 4))]
            name = w + name if rng.random() < 0.5 else name + w
        elif kind == "spaces":
            name = name[0] + (" " if rng.random() < 0.7 else "\u3000") + name[1:] if len(name) > 1 else name
        elif kind == "traditional":
            new = "".join(TRADITIONAL.get(c, c) for c in name)
            kind = kind if new != name else "none"
            name = new
        elif kind == "homophone":
            new = name[0] + "".join(HOMOPHONE.get(c, c) for c in name[1:])
            kind = kind if new != name else "none"
            name = new
        elif kind == "anonymous":
            name = "匿名" if rng.random() < 0.5 else "不详"
        out[idx] = name
        if kind != "none":
            faults[idx] = kind
    return out, faults


DEFAULT_PHONE_FORMS = [0.73, 0.02, 0.02, 0.02, 0.03, 0.03, 0.02, 0.02, 0.02, 0.02, 0.02, 0.05]


def render_phones(
    phones: np.ndarray, rng: np.random.Generator, landline_prefix: str = "0856", forms_p: list[float] | None = None
) -> np.ndarray:
    """Phones in the README forms; ``forms_p`` are the shares of params.PHONE_FORMS, in that order."""
    n = len(phones)
    p = np.asarray(DEFAULT_PHONE_FORMS if forms_p is None else forms_p, dtype=float)
    forms = rng.choice(12, size=n, p=p / p.sum())
    out = np.array(phones, dtype=object)
    for idx in np.flatnonzero(forms):
        m, f = str(phones[idx]), forms[idx]
        land = str(5000000 + (int(m[-7:]) % 4999999))
        out[idx] = {
            1: "+86" + m,
            2: "86" + m,
            3: "+86-" + m,
            4: f"{m[:3]} {m[3:7]} {m[7:]}",
            5: f"{m[:3]}-{m[3:7]}-{m[7:]}",
            6: f"{landline_prefix}-{land}",
            7: f"({landline_prefix}){land}",
            8: land,
            9: m + ["/", ";", "，"][int(rng.integers(0, 3))] + f"{landline_prefix}-{land}",
            10: m.translate(_FULLWIDTH_DIGITS),
            11: "",
        }[int(f)]
    return out


def render_sex(male: np.ndarray, rng: np.random.Generator, forms_p: list[float] | None = None) -> np.ndarray:
    p = np.asarray([0.9, 0.05, 0.03, 0.02] if forms_p is None else forms_p, dtype=float)
    form = rng.choice(4, size=len(male), p=p / p.sum())
    table = np.array([["女", "男"], ["2", "1"], ["F", "M"], ["", ""]], dtype=object)
    return table[form, male.astype(int)]


def fmt_date(d: dt.date, form: int) -> str:
    return [
        f"{d:%Y-%m-%d}",
        f"{d.year}/{d.month}/{d.day}",
        f"{d:%Y%m%d}",
        f"{d.year}年{d.month}月{d.day}日",
        f"{d:%Y.%m.%d}",
    ][form]


def render_dates(
    days: np.ndarray, rng: np.random.Generator, main: int = 0, other_rate: float = 0.08, empty_rate: float = 0.005
) -> np.ndarray:
    """days: datetime64[D] array -> strings in the README date forms, mostly ``main``."""
    n = len(days)
    forms = np.where(rng.random(n) < other_rate, rng.integers(0, 5, n), main)
    base = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)
    out = base.copy()
    for idx in np.flatnonzero(forms != 0):
        out[idx] = fmt_date(dt.date.fromisoformat(base[idx]), int(forms[idx]))
    out[rng.random(n) < empty_rate] = ""
    return out


def fmt_datetime(t: dt.datetime, form: int = 0) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}" if form == 0 else f"{t.year}/{t.month}/{t.day} {t:%H:%M}"


def datetime_texts(times: pl.Series, rng: np.random.Generator, forms_p: list[float]) -> pl.Series:
    """Date-times (a Datetime series) as a department's system prints them: ``2024-06-12 14:22:53`` or
    ``2024/6/12 14:22`` in the shares ``forms_p`` (params.DATETIME_FORMS)."""
    p = np.asarray(forms_p, dtype=float)
    iso = times.dt.strftime("%Y-%m-%d %H:%M:%S")
    if len(times) == 0 or p[1] == 0:
        return iso
    slash = pl.select(
        pl.format("{}/{}/{} {}", times.dt.year(), times.dt.month(), times.dt.day(), times.dt.strftime("%H:%M"))
    ).to_series()
    pick = pl.Series(rng.random(len(times)) < p[1] / p.sum())
    return pl.select(pl.when(pick).then(slash).otherwise(iso)).to_series().alias(times.name)


#: address spelling habits (params.Params.address has the seed's)
DEFAULT_ADDRESS = {
    "province_prefix": 0.6,
    "city_prefix": 0.0,
    "county_prefix": 0.0,
    "fullwidth": 0.03,
    "trailing_space": 0.005,
    "building_zhuang": 0.08,
    "building_haolou": 0.07,
    "building_chinese": 0.05,
    "unit_chinese": 0.15,
    "room_shi": 0.35,
    "room_dash": 0.15,
}


def building_text(no: int, u: float, a: dict[str, float] | None = None) -> str:
    a = DEFAULT_ADDRESS if a is None else a
    c1 = a["building_chinese"]
    c2 = c1 + a["building_zhuang"]
    c3 = c2 + a["building_haolou"]
    if u < c1:
        return (CN_NUM[no] if no <= 10 else f"{no}") + "栋"
    if u < c2:
        return f"{no}幢"
    if u < c3:
        return f"{no}号楼"
    return f"{no}栋"


def render_address(
    prefix: str | tuple[str, str, str],
    local: str,
    house: str,
    building: int,
    unit: int,
    room: int,
    u: np.ndarray,
    a: dict[str, float] | None = None,
) -> str:
    """A resident's address as typed: the full province-city-county prefix, part of it (``铜仁市碧江区…``,
    ``碧江区…``) or none; building/unit/room spelled variously (shares in ``a``, see DEFAULT_ADDRESS).

    ``u`` holds 7 uniforms drawn by the caller (vectorised draws, per-row formatting).
    """
    a = DEFAULT_ADDRESS if a is None else a
    province, city, county = (prefix, "", "") if isinstance(prefix, str) else prefix
    p1 = a["province_prefix"]
    p2 = p1 + a["city_prefix"]
    p3 = p2 + a["county_prefix"]
    lead = province + city + county if u[0] < p1 else city + county if u[0] < p2 else county if u[0] < p3 else ""
    text = lead + local + house
    if building:
        text += building_text(building, u[1], a)
    if unit:
        text += f"{CN_NUM[unit]}单元" if u[2] < a["unit_chinese"] else f"{unit}单元"
    if room:
        floor, door = divmod(room, 100)
        text += (
            f"{floor}-{door:02d}"
            if u[3] < a["room_dash"]
            else f"{room}室"
            if u[3] < a["room_dash"] + a["room_shi"]
            else f"{room}"
        )
    if u[4] < a["fullwidth"]:
        text = text.translate(_FULLWIDTH_DIGITS)
    if u[5] < a["trailing_space"]:
        text = text + WS[int(u[6] * 4)]
    return text


def noisy_header(names: list[str], rng: np.random.Generator, rate: float) -> list[str]:
    """Header cells as hand-edited exports print them: stray (full-width, zero-width) spaces around the text,
    full-width parentheses ``（元）``; each cell with probability ``rate``."""
    out = []
    for name in names:
        if rate > 0 and rng.random() < rate:
            k = int(rng.integers(0, 3))
            if k == 0 and "(" in name:
                name = name.replace("(", "（").replace(")", "）")
            elif k == 1:
                name = name + [" ", "\u3000", "  "][int(rng.integers(0, 3))]
            else:
                name = [" ", "\u3000", "\u200b"][int(rng.integers(0, 3))] + name
        out.append(name)
    return out
