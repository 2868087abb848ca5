"""The CJK font the charts are drawn in, found by file path (no font-cache guessing)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FontMissing", "cjk_font_path", "APT_PACKAGE", "CANDIDATES"]

APT_PACKAGE = "fonts-noto-cjk"
#: where Debian's fonts-noto-cjk (and a few other distributions) put Noto Sans CJK
CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)


class FontMissing(RuntimeError):
    """No CJK font: Chinese labels would be drawn as empty boxes."""


def cjk_font_path() -> Path:
    """``$ZHILI_CJK_FONT`` if set, else the first Noto CJK file that exists."""
    override = os.environ.get("ZHILI_CJK_FONT")
    if override:
        path = Path(override)
        if not path.is_file():
            raise FontMissing(
                f"ZHILI_CJK_FONT={override} is not a font file; unset it to use the Debian package {APT_PACKAGE} "
                f"(apt-get install {APT_PACKAGE})"
            )
        return path
    for candidate in CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing(
        f"no CJK font found (looked for {CANDIDATES[0]}); install the Debian package {APT_PACKAGE} "
        f"(apt-get install {APT_PACKAGE}) or set ZHILI_CJK_FONT to a .ttc/.otf file with Chinese glyphs"
    )
