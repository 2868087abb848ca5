"""Charts for the briefing: matplotlib (Agg), Chinese labels in the font :func:`cjk_font_path` finds."""

from __future__ import annotations

import io
from pathlib import Path

from briefing.data import BriefingError
from briefing.fonts import FontMissing, cjk_font_path

__all__ = ["Charts", "FontMissing"]

_SEVERITY_COLOURS = {"open_red": "#d62728", "open_orange": "#ff7f0e", "open_yellow": "#e6c229"}


class Charts:
    """Draws PNG bytes; remembers which font file every chart used (``font_files``)."""

    def __init__(self, font_path: Path | None = None) -> None:
        try:
            import matplotlib
        except ImportError:
            raise BriefingError(
                "matplotlib is not installed in this environment; install the locked tree "
                "(make venv) or pip install matplotlib==3.11.2"
            ) from None

        matplotlib.use("Agg", force=True)
        from matplotlib import font_manager

        self.font_path = Path(font_path) if font_path else cjk_font_path()
        font_manager.fontManager.addfont(str(self.font_path))
        self.font = font_manager.FontProperties(fname=str(self.font_path))
        self.family = self.font.get_name()
        self.font_files: set[str] = set()

    def _figure(self, width: float, height: float):
        import matplotlib.pyplot as plt

        with plt.rc_context({"font.family": [self.family], "axes.unicode_minus": False}):
            fig, ax = plt.subplots(figsize=(width, height), dpi=110)
        return fig, ax

    def _png(self, fig) -> bytes:
        import matplotlib.pyplot as plt
        from matplotlib.text import Text

        for text in fig.findobj(Text):
            if text.get_text():
                text.set_fontproperties(self.font)
                self.font_files.add(str(self.font_path))
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return buf.getvalue()

    def alerts_by_street(self, rows: list[dict]) -> bytes | None:
        if not rows:
            return None
        fig, ax = self._figure(7, 0.45 * len(rows) + 1.4)
        names = [r["street_name"] for r in rows][::-1]
        left = [0] * len(rows)
        for key, label in (("open_red", "红色"), ("open_orange", "橙色"), ("open_yellow", "黄色")):
            values = [r[key] for r in rows][::-1]
            ax.barh(names, values, left=left, color=_SEVERITY_COLOURS[key], label=f"未处置·{label}")
            left = [a + b for a, b in zip(left, values)]
        ax.scatter([r["new_alerts"] for r in rows][::-1], names, marker="D", color="black", zorder=3, label="当日新增")
        ax.set_title("各街道预警：未处置（按等级）与当日新增")
        ax.set_xlabel("预警条数")
        ax.legend(loc="lower right", fontsize=8)
        return self._png(fig)

    def cases_by_street(self, rows: list[dict]) -> bytes | None:
        if not rows:
            return None
        fig, ax = self._figure(7, 0.45 * len(rows) + 1.4)
        names = [r["street_name"] for r in rows][::-1]
        overdue = [r["overdue"] for r in rows][::-1]
        soon = [r["due_soon"] for r in rows][::-1]
        ax.barh(names, overdue, color="#d62728", label="已超期未结")
        ax.barh(names, soon, left=overdue, color="#ffbb78", label="即将超期（5日内）")
        ax.set_title("各街道超期与即将超期案件")
        ax.set_xlabel("件数")
        ax.legend(loc="lower right", fontsize=8)
        return self._png(fig)

    def categories(self, rows: list[dict], history_days: int) -> bytes | None:
        rows = [r for r in rows if r["today"] or (r["usual"] or 0) >= 0.5][:12]
        if not rows:
            return None
        fig, ax = self._figure(7, 0.42 * len(rows) + 1.4)
        names = [r["category"] for r in rows][::-1]
        colours = ["#d62728" if r["is_high"] else "#1f77b4" for r in rows][::-1]
        ax.barh(names, [r["today"] for r in rows][::-1], color=colours, label="当日")
        ax.scatter(
            [r["usual"] or 0 for r in rows][::-1],
            names,
            marker="|",
            s=300,
            color="black",
            zorder=3,
            label=f"常态（前{history_days}日日均）",
        )
        ax.set_title("当日各类事件与常态水平对比（红色为明显偏高）")
        ax.set_xlabel("件数")
        ax.legend(loc="lower right", fontsize=8)
        return self._png(fig)

    def satisfaction(self, rows: list[dict], feed_names: dict[str, str]) -> bytes | None:
        rows = [r for r in rows if r["rated"]]
        if not rows:
            return None
        fig, ax = self._figure(7, 0.5 * len(rows) + 1.4)
        names = [feed_names.get(r["source_feed"], r["source_feed"]) for r in rows]
        left = [0.0] * len(rows)
        for key, label, colour in (
            ("satisfied", "满意", "#2ca02c"),
            ("mostly", "基本满意", "#98df8a"),
            ("unsatisfied", "不满意", "#d62728"),
        ):
            values = [100 * r[key] / r["rated"] for r in rows]
            ax.barh(names, values, left=left, color=colour, label=label)
            left = [a + b for a, b in zip(left, values)]
        ax.set_xlim(0, 100)
        ax.set_title("近期办结案件群众评价构成（%）")
        ax.legend(loc="lower right", fontsize=8, ncols=3)
        return self._png(fig)
