"""Persons and households: a population pyramid, real GB 11643 IDs, benefits, moves and deaths."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from faker.providers.person.zh_CN import Provider as _NameProvider

from ._ids import MIGRANT_REGIONS, make_foreign_ids, make_ids
from ._quirks import MINORITY_NAMES
from .district import District

RARE_SURNAMES = ["𠇔", "䶮"]
ETHNIC = ["汉族", "土家族", "苗族", "侗族", "回族", "仡佬族", "布依族", "彝族"]
ETHNIC_CODE = {
    "汉族": "01",
    "苗族": "06",
    "彝族": "07",
    "布依族": "09",
    "侗族": "12",
    "土家族": "15",
    "回族": "03",
    "仡佬族": "37",
    "维吾尔族": "05",
}
MOBILE_PREFIX = np.array(
    [
        "130",
        "131",
        "132",
        "133",
        "135",
        "136",
        "137",
        "138",
        "139",
        "150",
        "151",
        "152",
        "155",
        "157",
        "158",
        "159",
        "166",
        "173",
        "177",
        "180",
        "181",
        "182",
        "183",
        "185",
        "186",
        "187",
        "188",
        "189",
        "191",
        "199",
    ]
)


@dataclass
class People:
    persons: pl.DataFrame  # truth + clean fields, one row per person (residents first, then outsiders)
    n_residents: int  # rows [0, n_residents) are register persons

    def residents(self) -> pl.DataFrame:
        return self.persons.head(self.n_residents)


def _age_weights() -> np.ndarray:
    age = np.arange(0, 101)
    w = np.where(age < 15, 1.05, np.where(age < 60, 1.35, np.where(age < 70, 1.25, np.where(age < 80, 0.75, 0.0))))
    w = w.astype(float)
    w[80:] = 0.42 * np.exp(-(age[80:] - 80) / 5.5)
    return w / w.sum()


def _names(rng: np.random.Generator, male: np.ndarray, hh_first: np.ndarray, pos: np.ndarray) -> np.ndarray:
    last = list(_NameProvider.last_names.keys())
    lw = np.array(list(_NameProvider.last_names.values()), dtype=float)
    n = len(male)
    surname = np.array(last, dtype=object)[rng.choice(len(last), n, p=lw / lw.sum())]
    rare = rng.random(n) < 0.0008
    surname[rare] = np.array(RARE_SURNAMES, dtype=object)[rng.integers(0, 2, rare.sum())]
    # members other than the spouse carry the head's surname
    surname = np.where(pos == 1, surname, surname[hh_first])
    fm = np.array(_NameProvider.first_names_male, dtype=object)
    ff = np.array(_NameProvider.first_names_female, dtype=object)
    given = np.where(male, fm[rng.integers(0, len(fm), n)], ff[rng.integers(0, len(ff), n)])
    two = rng.random(n) < 0.35  # many given names are two characters
    given2 = np.where(male, fm[rng.integers(0, len(fm), n)], ff[rng.integers(0, len(ff), n)])
    given = np.where(
        two & (np.char.str_len(given.astype(str)) == 1), given + np.array([g[0] for g in given2], dtype=object), given
    )
    names = surname + given
    minority = rng.random(n) < 0.002
    names[minority] = np.array(MINORITY_NAMES, dtype=object)[rng.integers(0, len(MINORITY_NAMES), minority.sum())]
    return names


def _digits8(values: np.ndarray) -> np.ndarray:
    """Zero-padded 8-digit strings; unlike np.char.zfill, fine on an empty array (a district without foreigners)."""
    return np.array([f"{int(v):08d}" for v in values], dtype="<U8")


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.char.add(
        MOBILE_PREFIX[rng.integers(0, len(MOBILE_PREFIX), n)], np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8)
    )


def build_people(district: District, *, residents: int, days: int, start: dt.date, seed: int) -> People:
    rng = np.random.default_rng([seed, 2])
    start64 = np.datetime64(start)
    weeks = max(1, days / 7)
    n_arrive = int(round(residents * 0.001 * weeks))
    n_res = residents + n_arrive
    # households
    sizes = rng.choice(np.arange(1, 7), size=n_res, p=[0.2, 0.3, 0.25, 0.15, 0.07, 0.03])
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n_res) + 1]
    sizes[-1] -= sizes.sum() - n_res
    hh = np.repeat(np.arange(len(sizes)), sizes)
    hh_start = np.r_[0, np.cumsum(sizes)[:-1]]
    pos = np.arange(n_res) - hh_start[hh]
    hh_first = hh_start[hh]
    pts = district.points
    hh_point = rng.integers(0, pts.height, len(sizes))
    bno = pts["building_no"].to_numpy()[hh_point]
    hh_unit = np.where(bno > 0, rng.integers(1, 5, len(sizes)), 0)
    hh_room = np.where(bno > 0, rng.integers(1, 19, len(sizes)) * 100 + rng.integers(1, 5, len(sizes)), 0)
    # ages: household heads are adults; the pyramid gives a plausible 80+ share
    age = rng.choice(101, size=n_res, p=_age_weights())
    head_young = (pos == 0) & (age < 20)
    age[head_young] = rng.integers(22, 75, head_young.sum())
    birth = start64 - (age * 365.25 + rng.integers(1, 365, n_res)).astype("timedelta64[D]")
    male = rng.random(n_res) < 0.505
    # population type and documents
    ptype = rng.choice(3, size=n_res, p=[0.8, 0.193, 0.007])
    region = np.full(n_res, district.county_code, dtype="<U6")
    mig = ptype == 1
    mreg = rng.integers(0, len(MIGRANT_REGIONS), mig.sum())
    region[mig] = np.array([r[0] for r in MIGRANT_REGIONS])[mreg]
    ids = make_ids(region, birth, male, rng).astype(object)
    doc = np.full(n_res, "居民身份证", dtype=object)
    foreign = np.flatnonzero(ptype == 2)
    fkind = rng.choice(4, size=len(foreign), p=[0.4, 0.3, 0.15, 0.15])
    doc[foreign] = np.array(
        ["护照", "外国人永久居留身份证", "港澳居民来往内地通行证", "台湾居民来往大陆通行证"], dtype=object
    )[fkind]
    f_ids = make_foreign_ids(district.county_code[:2], birth[foreign], rng)
    letters = np.array(list("EGPKS"))
    passport = np.char.add(letters[rng.integers(0, 5, len(foreign))], _digits8(rng.integers(0, 10**8, len(foreign))))
    hkm = np.char.add(
        np.array(["H", "M"])[rng.integers(0, 2, len(foreign))], _digits8(rng.integers(0, 10**8, len(foreign)))
    )
    tw = _digits8(rng.integers(0, 10**8, len(foreign)))
    ids[foreign] = np.select([fkind == 0, fkind == 1, fkind == 2], [passport, f_ids, hkm], tw)
    names = _names(rng, male, hh_first, pos)
    ethnic = np.array(ETHNIC, dtype=object)[
        rng.choice(len(ETHNIC), n_res, p=[0.6, 0.2, 0.1, 0.06, 0.01, 0.01, 0.01, 0.01])
    ]
    ethnic[np.char.find(names.astype(str), "·") >= 0] = "维吾尔族"
    # arrivals during the period, moves out and deaths
    reg_on = start64 - rng.integers(30, 6000, n_res).astype("timedelta64[D]")
    reg_on = np.maximum(reg_on, birth + np.timedelta64(1, "D"))
    arrivals = rng.choice(n_res, n_arrive, replace=False)
    reg_on[arrivals] = start64 + rng.integers(1, max(2, days), n_arrive).astype("timedelta64[D]")
    left_on = np.full(n_res, np.datetime64("NaT"), dtype="datetime64[D]")
    left_reason = np.full(n_res, "", dtype=object)
    p_move = 0.0008 * weeks
    p_die = np.where(age >= 80, 0.0012, np.where(age >= 60, 0.0003, 0.00003)) * weeks
    u = rng.random(n_res)
    moved = u < p_move
    died = (~moved) & (u < p_move + p_die)
    for mask, reason in ((moved, "迁出"), (died, "死亡")):
        left_on[mask] = start64 + rng.integers(1, max(2, days), mask.sum()).astype("timedelta64[D]")
        left_reason[mask] = reason
    bad = left_on <= reg_on
    left_on[bad], left_reason[bad] = np.datetime64("NaT"), ""
    # benefits
    n_hh = len(sizes)
    low_hh = rng.random(n_hh) < 0.03
    low_income = low_hh[hh]
    poverty = (age >= 50) & (rng.random(n_res) < 0.003 / 0.42) & ~low_income
    disabled = rng.random(n_res) < 0.02
    dis_cat = np.where(disabled, rng.choice(np.arange(1, 8), n_res, p=[0.12, 0.2, 0.03, 0.35, 0.1, 0.1, 0.1]), 0)
    dis_grade = np.where(disabled, rng.integers(1, 5, n_res), 0)
    aged80 = age >= 80
    lives_alone = (age >= 60) & (rng.random(n_res) < 0.03)
    # outsiders: callers, petitioners and people in events who are not in the register
    n_out = max(200, residents // 10)
    o_age = rng.integers(18, 80, n_out)
    o_birth = start64 - (o_age * 365.25 + rng.integers(1, 365, n_out)).astype("timedelta64[D]")
    o_male = rng.random(n_out) < 0.5
    o_region = np.array([r[0] for r in MIGRANT_REGIONS] + [district.county_code] * 3)[
        rng.integers(0, len(MIGRANT_REGIONS) + 3, n_out)
    ]
    o_ids = make_ids(o_region.astype("<U6"), o_birth, o_male, rng).astype(object)
    o_names = _names(rng, o_male, np.arange(n_out), np.zeros(n_out, dtype=int))
    g_at_start = pts["grid_before"].to_numpy()[hh_point][hh]
    g_after = pts["grid_after"].to_numpy()[hh_point][hh]
    home_grid = np.where(reg_on > start64, g_after if district.reorg_date else g_at_start, g_at_start)
    if district.reorg_date is not None:
        home_grid = np.where(reg_on >= np.datetime64(district.reorg_date), g_after, g_at_start)
    ptype_name = np.array(["户籍人口", "流动人口", "境外人员"], dtype=object)[ptype]
    res = pl.DataFrame(
        {
            "person_id": np.arange(1, n_res + 1, dtype=np.int64),
            "id_number": ids.astype(str),
            "doc_type": doc.astype(str),
            "name": names.astype(str),
            "birth_date": birth,
            "sex": np.where(male, "男", "女"),
            "household_id": hh.astype(np.int64) + 1,
            "household_pos": pos.astype(np.int32),
            "household_size": sizes[hh].astype(np.int32),
            "address_code": pts["address_code"].to_numpy()[hh_point][hh],
            "point_idx": hh_point[hh].astype(np.int64),
            "unit": hh_unit[hh].astype(np.int32),
            "room": hh_room[hh].astype(np.int32),
            "grid_code": home_grid,
            "community_code": pts["community_code"].to_numpy()[hh_point][hh],
            "street_code": pts["street_code"].to_numpy()[hh_point][hh],
            "is_resident": np.ones(n_res, dtype=bool),
            "population_type": ptype_name.astype(str),
            "hukou_region": region,
            "ethnic": ethnic.astype(str),
            "phone": _phones(rng, n_res),
            "registered_on": reg_on,
            "left_on": left_on,
            "left_reason": left_reason.astype(str),
            "lives_alone": lives_alone,
            "low_income": low_income,
            "extreme_poverty": poverty,
            "disabled": disabled,
            "disability_category": dis_cat.astype(np.int32),
            "disability_grade": dis_grade.astype(np.int32),
            "aged_80_plus": aged80,
        }
    )
    out = pl.DataFrame(
        {
            "person_id": np.arange(n_res + 1, n_res + n_out + 1, dtype=np.int64),
            "id_number": o_ids.astype(str),
            "doc_type": "居民身份证",
            "name": o_names.astype(str),
            "birth_date": o_birth,
            "sex": np.where(o_male, "男", "女"),
            "is_resident": np.zeros(n_out, dtype=bool),
            "population_type": "非本区人员",
            "hukou_region": o_region.astype(str),
            "phone": _phones(rng, n_out),
        }
    )
    persons = pl.concat([res, out], how="diagonal_relaxed")
    return People(persons=persons, n_residents=n_res)
