"""``zhili briefing``: the 日排查日研判 morning briefing as one self-contained HTML page.

It reads only the serving snapshot and uses no Dagster, so it is a package of its own beside
``orchestration/``, whose CLI calls :func:`write_briefing`.

* :mod:`.data` reads the serving snapshot (read-only) into plain numbers;
  marts another part of the warehouse may not have built yet (``mart_alerts``,
  ``mart_care_visits``) leave their section out with a note instead of failing.
* :mod:`.charts` draws them with matplotlib in a CJK font found by file path
  (Debian ``fonts-noto-cjk``); a missing font is an error that names the package.
* :mod:`.render` writes the page: charts as base64 PNG, tables, masked names only.
"""

from __future__ import annotations

from briefing.data import Briefing, BriefingError, load_briefing
from briefing.fonts import FontMissing, cjk_font_path
from briefing.render import render_html, write_briefing

__all__ = [
    "Briefing",
    "BriefingError",
    "FontMissing",
    "cjk_font_path",
    "load_briefing",
    "render_html",
    "write_briefing",
]
