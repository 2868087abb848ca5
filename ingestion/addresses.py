"""Address canonicalisation, as vectorised Polars expressions.

Departments write the same building many ways (see the 地址 row of
``/work/shared/feeds/README.md``): with or without the province/city/district
prefix, full- or half-width digits, ``3栋``/``3幢``/``3号楼``/``三栋``,
``二单元``, ``501``/``501室``/``5-01``. :func:`canonical_address` folds those
forms into one string, so that two spellings of one place compare equal.

Road names are kept as written: ``滨江路`` and ``滨江大道`` are different roads,
so nothing here shortens or merges a road by prefix.

Address points are building level (``滨江路88号3栋``), so matching uses
:func:`building_key` (canonical address cut after the building, or after the
house number when there is no building) on the local tail from the road name
onwards (:func:`strip_to_local`), which makes ``环北街道锦江社区滨江路88号3栋``
and ``滨江路88号3栋`` meet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

__all__ = [
    "building_key",
    "canonical_address",
    "chinese_numeral",
    "house_key",
    "local_key",
    "strip_to_local",
]

# --- width folding -----------------------------------------------------------

# Full-width ASCII block U+FF01..U+FF5E maps to U+0021..U+007E.
_FULLWIDTH = {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}
# Dash look-alikes seen in room numbers (5—01, 5－01 is covered above).
_DASHES = {"—": "-", "–": "-", "‐": "-", "‑": "-", "−": "-", "─": "-"}
_WIDTH_MAP = {**_FULLWIDTH, **_DASHES}

# Whitespace (Unicode \s covers U+3000 and NBSP) and zero-width characters.
_SPACE_RE = r"[\s\u200b\u200c\u200d\u2060\ufeff]+"

# --- Chinese numerals --------------------------------------------------------

_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
# Positions where a Chinese numeral is a building, unit or floor number.
_NUMERAL_MARKERS = ("栋", "幢", "号楼", "座", "单元", "层", "楼")


def chinese_numeral(text: str) -> int | None:
    """Value of a Chinese numeral from 1 to 99 (``十二`` → 12), else ``None``."""
    if not text:
        return None
    if len(text) == 1:
        if text == "十":
            return 10
        return _DIGITS.get(text)
    if "十" not in text:
        return None
    tens, _, ones = text.partition("十")
    if ones and ones not in _DIGITS:
        return None
    if tens and (tens not in _DIGITS or tens == "两"):
        return None
    value = (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[ones] if ones else 0)
    return value if value < 100 else None


def _numeral_spellings() -> dict[str, int]:
    out: dict[str, int] = {}
    for word in ("十", *_DIGITS):
        out[word] = chinese_numeral(word)  # type: ignore[assignment]
    for tens in ("", *[d for d in _DIGITS if d != "两"]):
        for ones in ("", *[d for d in _DIGITS if d != "两"]):
            word = f"{tens}十{ones}"
            value = chinese_numeral(word)
            if value is not None:
                out[word] = value
    return out


# "三栋" -> "3栋", "十二单元" -> "12单元". A literal table applied with
# leftmost-longest Aho-Corasick, so "十二栋" wins over its suffix "二栋" and a
# numeral is only rewritten when a building/unit/floor marker follows it
# (三江路 stays 三江路).
_NUMERAL_MAP = {
    f"{word}{marker}": f"{value}{marker}" for word, value in _numeral_spellings().items() for marker in _NUMERAL_MARKERS
}

# --- expressions -------------------------------------------------------------


def _clean(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.replace_many(_WIDTH_MAP).str.replace_all(_SPACE_RE, "").str.to_uppercase()


def canonical_address(expr: pl.Expr | str, *, prefixes: Iterable[str] = ()) -> pl.Expr:
    """Canonical form of a free-text address, for exact matching.

    ``prefixes`` is the district's own administrative prefix in order, e.g.
    ``["贵州省", "铜仁市", "碧江区"]``; each is removed when it leads the string
    (each optional, so ``铜仁市碧江区…`` and ``碧江区…`` lose theirs too).

    >>> df = pl.DataFrame({"a": ["贵州省铜仁市碧江区滨江路８８号三幢二单元5-01"]})
    >>> df.select(canonical_address("a", prefixes=["贵州省", "铜仁市", "碧江区"]))["a"][0]
    '滨江路88号3栋2单元501室'

    Empty or blank input gives null.
    """
    if isinstance(expr, str):
        expr = pl.col(expr)
    out = _clean(expr)
    for prefix in prefixes:
        folded = re.sub(r"\s+", "", prefix.translate(str.maketrans(_WIDTH_MAP))).upper()
        if folded:
            out = out.str.strip_prefix(folded)
    out = (
        out.str.replace_many(_NUMERAL_MAP, leftmost=True)
        # 第3栋 -> 3栋
        .str.replace_all(r"第(\d+)(栋|幢|号楼|座|单元|层)", "${1}${2}")
        # building variants: 3幢 / 3号楼 / 3#楼 / 3# / 3座 / 3栋 -> 3栋
        .str.replace_all(r"([0-9A-Z]+)(?:号楼|#楼|#|幢|座|栋)", "${1}栋")
        # room after a building or unit: 5-01 / 5-1 -> 501室, 501 / 501号 -> 501室
        .str.replace_all(r"(栋|单元)(\d{1,2})-(\d{2})(?:室|号)?", "${1}${2}${3}室")
        .str.replace_all(r"(栋|单元)(\d{1,2})-(\d)(?:室|号)?", "${1}${2}0${3}室")
        .str.replace_all(r"(栋|单元)(\d{3,4})(?:室|号)?", "${1}${2}室")
    )
    return pl.when(out.str.len_chars() > 0).then(out).otherwise(None)


# A house number: 88号, 88-2号, 88号附1, optionally followed by a building.
_HOUSE = r"\d+(?:-\d+)?号(?:附\d+)?"
_BUILDING_KEY_RE = rf"^(.*?{_HOUSE}(?:[0-9A-Z]+栋)?)"
_HOUSE_KEY_RE = rf"^(.*?{_HOUSE})"


def building_key(expr: pl.Expr | str) -> pl.Expr:
    """Canonical address cut after the building (unit, room, anything else dropped).

    Input must already be canonical (:func:`canonical_address`). Without a
    building the key ends at the house number (``88号``, ``88-2号``,
    ``88号附1``); without a house number it is null (nothing to match on).
    """
    if isinstance(expr, str):
        expr = pl.col(expr)
    return expr.str.extract(_BUILDING_KEY_RE, 1)


def house_key(expr: pl.Expr | str) -> pl.Expr:
    """Canonical address cut after the house number (building dropped)."""
    if isinstance(expr, str):
        expr = pl.col(expr)
    return expr.str.extract(_HOUSE_KEY_RE, 1)


def strip_to_local(expr: pl.Expr | str, *, roads: Iterable[str]) -> pl.Expr:
    """The tail of a canonical address from a known road name onwards.

    ``roads`` are the district's road names (the 街路巷 column of the address
    points). A road counts only where a house number follows it, so a
    community called ``滨江社区`` is not mistaken for ``滨江路``; longer names
    are tried first, and names are matched whole (``滨江路`` never matches
    inside ``滨江大道``). Null when no known road is found.
    """
    if isinstance(expr, str):
        expr = pl.col(expr)
    names = sorted({r for r in roads if r}, key=lambda r: (-len(r), r))
    if not names:
        return pl.lit(None, dtype=pl.String)
    alternation = "|".join(re.escape(n) for n in names)
    return expr.str.extract(rf"((?:{alternation})\d.*)$", 1)


def local_key(road: pl.Expr | str, house_number: pl.Expr | str, building: pl.Expr | str) -> pl.Expr:
    """Building key of an address point from its 街路巷/门牌号/楼栋 columns."""
    parts = []
    for part in (road, house_number, building):
        col = pl.col(part) if isinstance(part, str) else part
        parts.append(col.cast(pl.String).fill_null(""))
    return building_key(canonical_address(pl.concat_str(parts)))
