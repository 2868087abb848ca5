"""GB 11643 identity numbers: check characters, construction and realistic damage."""

from __future__ import annotations

import numpy as np

_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHECK = np.array(list("10X98765432"))
_FULLWIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")

# Other provinces' county codes for migrants' IDs and hukou addresses (GB/T 2260).
MIGRANT_REGIONS: list[tuple[str, str]] = [
    ("500101", "重庆市万州区"),
    ("500233", "重庆市忠县"),
    ("430102", "湖南省长沙市芙蓉区"),
    ("431202", "湖南省怀化市鹤城区"),
    ("433101", "湖南省湘西土家族苗族自治州吉首市"),
    ("510104", "四川省成都市锦江区"),
    ("511302", "四川省南充市顺庆区"),
    ("440106", "广东省广州市天河区"),
    ("330106", "浙江省杭州市西湖区"),
    ("420106", "湖北省武汉市武昌区"),
    ("452702", "广西壮族自治区河池市金城江区"),
    ("530102", "云南省昆明市五华区"),
    ("422801", "湖北省恩施土家族苗族自治州恩施市"),
    ("360102", "江西省南昌市东湖区"),
    ("650102", "新疆维吾尔自治区乌鲁木齐市天山区"),
]
# ISO 3166 numeric codes used in the foreign permanent residence card.
FOREIGN_COUNTRIES = ["840", "410", "392", "704", "104", "418", "276", "250", "826", "036"]


def check_chars(first17: np.ndarray) -> np.ndarray:
    """Mod 11-2 check characters for an array of 17-digit strings."""
    if len(first17) == 0:
        return np.array([], dtype="<U1")
    digits = np.frombuffer("".join(first17).encode("ascii"), dtype=np.uint8).reshape(-1, 17) - 48
    return _CHECK[(digits.astype(np.int64) @ _WEIGHTS) % 11]


def check_char(first17: str) -> str:
    return "10X98765432"[sum(int(c) * int(w) for c, w in zip(first17, _WEIGHTS)) % 11]


def is_valid_id(value: str) -> bool:
    """True when ``value`` is an 18-char GB 11643 ID with a real date and right check char."""
    import datetime as _dt

    if len(value) != 18 or not value[:17].isdigit() or not value[:17].isascii():
        return False
    if value[17] != check_char(value[:17]):
        return False
    if value[0] == "9":  # foreign permanent residence card: 9 + 2 province + 3 country + date
        y, m, d = value[6:10], value[10:12], value[12:14]
    else:
        y, m, d = value[6:10], value[10:12], value[12:14]
    try:
        _dt.date(int(y), int(m), int(d))
    except ValueError:
        return False
    return True


def make_ids(regions: np.ndarray, birth: np.ndarray, male: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unique 18-char IDs from region codes, birth dates (datetime64[D]) and sex."""
    n = len(regions)
    ymd = np.datetime_as_string(birth, unit="D")
    ymd = np.char.replace(ymd, "-", "")
    seq = rng.integers(0, 500, n) * 2 + np.where(male, 1, 0)
    seq = np.where(seq == 0, 2, seq)  # 000 is not issued
    for _ in range(20):
        first17 = np.char.add(np.char.add(regions.astype("<U6"), ymd), np.char.zfill(seq.astype("<U3"), 3))
        _, first_idx, counts = np.unique(first17, return_index=True, return_counts=True)
        dup = np.ones(n, dtype=bool)
        dup[first_idx] = False
        if not dup.any():
            break
        seq[dup] = rng.integers(1, 500, dup.sum()) * 2 + np.where(male[dup], 1, 0)
    return np.char.add(first17, check_chars(first17))


def make_foreign_ids(province2: str, birth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(birth)
    if n == 0:  # a small district may have no foreign resident
        return np.array([], dtype="<U18")
    ymd = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "")
    country = np.array(FOREIGN_COUNTRIES)[rng.integers(0, len(FOREIGN_COUNTRIES), n)]
    seq = np.char.zfill(rng.integers(1, 1000, n).astype("<U3"), 3)
    first17 = np.char.add(np.char.add(np.char.add("9" + province2, country), ymd), seq)
    return np.char.add(first17, check_chars(first17))


ID_FAULTS = (
    "none",
    "lower_x",
    "fullwidth",
    "spaces",
    "old_15",
    "empty",
    "placeholder",
    "bad_check",
    "bad_date",
    "excel_damage",
)
DEFAULT_ID_RATES = {
    "lower_x": 0.004,
    "fullwidth": 0.004,
    "spaces": 0.004,
    "old_15": 0.006,
    "empty": 0.01,
    "placeholder": 0.003,
    "bad_check": 0.004,
    "bad_date": 0.001,
    "excel_damage": 0.002,
}


def _damage(i: str, kind: str, rng: np.random.Generator) -> tuple[str, str]:
    if kind == "lower_x":
        return (i[:17] + "x", kind) if i.endswith("X") else (i, "none")
    if kind == "fullwidth":
        return i.translate(_FULLWIDTH), kind
    if kind == "spaces":
        r = rng.integers(0, 3)
        if r == 0:
            return f"{i[:6]} {i[6:14]} {i[14:]}", kind
        if r == 1:
            return f"{i[:6]} {i[6:]}", kind
        return f"{i[:10]}  {i[10:]}", kind
    if kind == "old_15":
        return (i[:6] + i[8:17], kind) if i[6:8] == "19" else (i, "none")
    if kind == "empty":
        return "", kind
    if kind == "placeholder":
        return "无", kind
    if kind == "bad_check":
        pos = int(rng.integers(14, 17))
        d = (int(i[pos]) + int(rng.integers(1, 10))) % 10
        return i[:pos] + str(d) + i[pos + 1 :], kind
    if kind == "bad_date":
        bad = ["0230", "1301", "0431", "0000", "1232"][int(rng.integers(0, 5))]
        f17 = i[:10] + bad + i[14:17]
        return f17 + check_char(f17), kind
    if kind == "excel_damage":
        if not i[:18].isdigit():
            return i, "none"
        if rng.random() < 0.5:
            return f"{float(i):.5E}".replace("E+", "E+"), kind
        return i[:15] + "000", kind
    return i, "none"


def render_ids(
    ids: np.ndarray, rng: np.random.Generator, rates: dict[str, float] | None = None, eligible: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Render clean IDs as they appear in a feed; returns (values, fault labels)."""
    rates = DEFAULT_ID_RATES if rates is None else rates
    n = len(ids)
    kinds = ["none", *rates.keys()]
    p = np.array([1.0 - sum(rates.values()), *rates.values()])
    pick = rng.choice(len(kinds), size=n, p=p)
    if eligible is not None:
        pick = np.where(eligible, pick, 0)
    out = np.array(ids, dtype=object)
    faults = np.full(n, "none", dtype=object)
    for idx in np.flatnonzero(pick):
        out[idx], faults[idx] = _damage(str(ids[idx]), kinds[pick[idx]], rng)
    return out, faults
