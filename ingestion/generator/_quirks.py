"""How personal fields really look: renderers that turn clean values into feed text."""

from __future__ import annotations

import datetime as dt

import numpy as np

_FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
TRADITIONAL = dict(zip("陈张刘杨黄赵吴孙马罗郑谢韩冯邓许龙华国伟军丽红兰凤云东刚杰涛兴荣贵运学宝长义",
                       "陳張劉楊黃趙吳孫馬羅鄭謝韓馮鄧許龍華國偉軍麗紅蘭鳳雲東剛傑濤興榮貴運學寶長義"))
HOMOPHONE = dict(zip("伟丽静军敏杰勇艳芳娟涛明华磊洋平刚辉玲霞超秀英红兰林建志鹏斌宇浩",
                     "玮莉晶君民洁永燕方鹃滔鸣桦垒阳萍钢晖铃侠朝琇瑛虹岚琳健智朋彬雨皓"))
DOT_VARIANTS = ["\u00b7", "\u2022", "\u30fb", ".", "\uff0e"]
MINORITY_NAMES = ["买买提·艾力", "阿依古丽·吐尔逊", "热依拉·阿不都", "古丽娜·买合木提", "艾尔肯·吾斯曼",
                  "迪丽努尔·阿木提", "努尔艾力·司马义", "帕提古丽·热合曼", "阿卜杜拉·艾海提", "伊力亚尔·肉孜"]
CN_NUM = "零一二三四五六七八九十"
WS = ["\u3000", " ", "\u200b", "\ufeff"]

NAME_FAULT_RATES = {"whitespace": 0.004, "spaces": 0.004, "traditional": 0.004, "homophone": 0.004,
                    "anonymous": 0.0005}


def render_names(names: np.ndarray, rng: np.random.Generator, rates: dict[str, float] | None = None,
                 ) -> tuple[np.ndarray, np.ndarray]:
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
        if rng.random() < 0.6:
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


def render_phones(phones: np.ndarray, rng: np.random.Generator, landline_prefix: str = "0856",
                  empty_rate: float = 0.05) -> np.ndarray:
    n = len(phones)
    forms = rng.choice(12, size=n, p=[.78 - empty_rate, .02, .02, .02, .03, .03, .02, .02, .02, .02, .02, empty_rate])
    out = np.array(phones, dtype=object)
    for idx in np.flatnonzero(forms):
        m, f = str(phones[idx]), forms[idx]
        land = str(5000000 + (int(m[-7:]) % 4999999))
        out[idx] = {
            1: "+86" + m, 2: "86" + m, 3: "+86-" + m, 4: f"{m[:3]} {m[3:7]} {m[7:]}", 5: f"{m[:3]}-{m[3:7]}-{m[7:]}",
            6: f"{landline_prefix}-{land}", 7: f"({landline_prefix}){land}", 8: land,
            9: m + ["/", ";", "，"][int(rng.integers(0, 3))] + f"{landline_prefix}-{land}", 10: m.translate(_FULLWIDTH_DIGITS),
            11: "",
        }[int(f)]
    return out


def render_sex(male: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    form = rng.choice(4, size=len(male), p=[0.9, 0.05, 0.03, 0.02])
    table = np.array([["女", "男"], ["2", "1"], ["F", "M"], ["", ""]], dtype=object)
    return table[form, male.astype(int)]


def fmt_date(d: dt.date, form: int) -> str:
    return [f"{d:%Y-%m-%d}", f"{d.year}/{d.month}/{d.day}", f"{d:%Y%m%d}", f"{d.year}年{d.month}月{d.day}日",
            f"{d:%Y.%m.%d}"][form]


def render_dates(days: np.ndarray, rng: np.random.Generator, main: int = 0, other_rate: float = 0.08,
                 empty_rate: float = 0.005) -> np.ndarray:
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


def building_text(no: int, u: float) -> str:
    if u < 0.8:
        return f"{no}栋"
    if u < 0.88:
        return f"{no}幢"
    if u < 0.95:
        return f"{no}号楼"
    return (CN_NUM[no] if no <= 10 else f"{no}") + "栋"


def render_address(prefix: str, local: str, house: str, building: int, unit: int, room: int,
                   u: np.ndarray) -> str:
    """A resident's address as typed: optional province prefix, building/unit/room spelled variously.

    ``u`` holds 7 uniforms drawn by the caller (vectorised draws, per-row formatting).
    """
    text = (prefix if u[0] < 0.6 else "") + local + house
    if building:
        text += building_text(building, u[1])
    if unit:
        text += (f"{unit}单元" if u[2] < 0.85 else f"{CN_NUM[unit]}单元")
    if room:
        floor, door = divmod(room, 100)
        text += f"{room}" if u[3] < 0.5 else (f"{room}室" if u[3] < 0.85 else f"{floor}-{door:02d}")
    if u[4] < 0.03:
        text = text.translate(_FULLWIDTH_DIGITS)
    if u[5] < 0.005:
        text = text + WS[int(u[6] * 4)]
    return text
