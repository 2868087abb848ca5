"""Finders for personal values in text, used by the tests that prove none leak."""

from __future__ import annotations

import re

from stdnum.cn import ric

# a token on its own: not part of a longer code such as an event id or an md5
_ID18 = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def citizen_ids(text: str) -> list[str]:
    """18-character citizen IDs in ``text`` whose check character and date are valid."""
    return [m for m in _ID18.findall(text or "") if ric.is_valid(m.upper())]


def mobiles(text: str) -> list[str]:
    return _MOBILE.findall(text or "")
