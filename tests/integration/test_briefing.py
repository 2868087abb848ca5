"""`zhili briefing`: the 日排查日研判 page rendered for generated data, its numbers checked against the marts.

One `zhili run` on 2,000 residents over 14 days, then `zhili briefing` as a subprocess. The figures
on the page (``data-k`` attributes and tables) are recomputed here with SQL on the serving snapshot,
partly through the warehouse's own flags (``is_overdue`` on the as-of day). The charts must be drawn
in a CJK font; a picture of the page goes to docs/img/briefing.png.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import polars as pl
import pytest

from briefing.data import CARE_TIER_NAMES
from orchestration.settings import Settings
from tests.pii import citizen_ids, mobiles

ZHILI = Path(sys.executable).with_name("zhili")
REPO = Path(__file__).resolve().parents[2]
IMG = REPO / "docs" / "img"


class _Page(HTMLParser):
    """data-k figures, tables by data-table (rows of cell text), visible text, image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self.images: list[str] = []
        self.resources: list[str] = []
        self._key = None
        self._table = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-k" in a:
            self._key = a["data-k"]
            self.figures[self._key] = ""
        if tag == "table":
            self._table = a.get("data-table")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag in ("script", "link", "iframe") or (tag != "img" and a.get("src")):
            self.resources.append(tag)

    def handle_endtag(self, tag):
        if tag in ("b", "span"):
            self._key = None
        if tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._key:
            self.figures[self._key] += data.strip()
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _num(text: str) -> float | None:
    return None if text in ("—", "") else float(text)


@pytest.fixture(scope="module")
def demo(generated_district, tmp_path_factory):
    out = generated_district(2000, 14, 11)
    home = tmp_path_factory.mktemp("briefing") / "home"
    proc = subprocess.run(
        [str(ZHILI), "run", "--landing", str(out / "landing"), "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    snapshot = home / "serving" / "zhili.duckdb"
    con = duckdb.connect(str(snapshot), read_only=True)
    # the day the warehouse judged is_overdue / is_closed on: the briefing for it must agree with those flags
    day = Settings.resolve(home=home, landing=out / "landing").as_of_date()
    yield out, home, snapshot, con, day
    con.close()


def _briefing(home: Path, day: date, out: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ZHILI), "briefing", "--date", day.isoformat(), "--home", str(home), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture(scope="module")
def page(demo):
    out, home, snapshot, con, day = demo
    html_path = home.parent / "briefing.html"
    proc = _briefing(home, day, html_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "written to" in proc.stdout
    html = html_path.read_text(encoding="utf-8")
    return html_path, html, _parse(html)


def _tables(con) -> set[str]:
    return {
        r[0]
        for r in con.execute("select table_name from information_schema.tables where table_schema='marts'").fetchall()
    }


def test_page_is_self_contained_with_charts(page):
    _, html, p = page
    assert not p.resources, f"the page loads outside resources: {p.resources}"
    assert "http://" not in html and "https://" not in html
    assert len(p.images) >= 3 and all(src.startswith("data:image/png;base64,") for src in p.images)
    for heading in ("超期与即将超期案件", "各类事件与常态水平", "重点人群覆盖", "群众满意度"):
        assert heading in html


def test_overdue_and_due_soon_match_the_warehouse_flags(demo, page):
    _, _, _, con, day = demo
    _, _, p = page
    end = f"timestamptz '{day + timedelta(days=1)} 00:00:00+08'"
    soon = f"timestamptz '{day + timedelta(days=6)} 00:00:00+08'"
    due_soon = con.execute(
        f"select count(*) from marts.fct_incident where not is_closed and due_at >= {end} and due_at < {soon}"
    ).fetchone()[0]
    # the warehouse judged is_overdue on this very day (its as-of date)
    overdue = con.execute("select count(*) from marts.fct_incident where is_overdue and not is_closed").fetchone()[0]
    assert int(p.figures["cases_overdue"]) == overdue
    assert int(p.figures["cases_due_soon"]) == due_soon
    by_street = p.tables["cases_by_street"]
    assert sum(int(r[1]) for r in by_street) == overdue
    assert overdue > 0, "the demo data should have overdue cases to show"


def test_categories_against_their_usual_level(demo, page):
    _, _, _, con, day = demo
    _, _, p = page
    first = con.execute("select min(received_date) from marts.fct_incident").fetchone()[0]
    start = max(first, day - timedelta(days=28))
    days = (day - start).days
    expected = {
        cat: (today, round(trailing / days, 1))
        for cat, today, trailing in con.execute(
            """
            select coalesce(taxonomy_name_zh, '未分类'), sum(case when received_date = ? then 1 else 0 end),
                   sum(case when received_date < ? then 1 else 0 end)
            from marts.fct_incident where received_date between ? and ? group by 1""",
            [day, day, start, day],
        ).fetchall()
    }
    shown = {r[0]: (int(r[1]), _num(r[2])) for r in p.tables["categories"]}
    assert shown == {k: (int(v[0]), v[1]) for k, v in expected.items()}
    assert int(p.figures["incidents_today"]) == sum(v[0] for v in expected.values())
    assert sum(v[1] for v in expected.values()) > 0, "no usual level to compare with"


def test_key_population_and_satisfaction(demo, page):
    _, _, _, con, day = demo
    _, _, p = page
    total = con.execute("select sum(resident_count) from marts.mart_key_population").fetchone()[0]
    assert int(p.figures["key_population"]) == total
    per_tag = dict(
        con.execute("select tag_name_zh, sum(resident_count) from marts.mart_key_population group by 1").fetchall()
    )
    assert {r[0]: int(r[1]) for r in p.tables["key_population"]} == per_tag
    lo = f"timestamptz '{day - timedelta(days=27)} 00:00:00+08'"
    hi = f"timestamptz '{day + timedelta(days=1)} 00:00:00+08'"
    good, rated = con.execute(f"""select count(*) filter (where satisfaction in ('满意','基本满意')), count(*)
        from marts.fct_incident where status = 'closed' and satisfaction is not null and closed_at >= {lo} and closed_at < {hi}""").fetchone()
    assert rated > 0
    assert float(p.figures["satisfaction_rate"]) == round(100 * good / rated, 1)


def test_alerts_section_when_the_mart_exists(demo, page):
    _, _, _, con, day = demo
    _, html, p = page
    if "mart_alerts" not in _tables(con):
        assert "mart_alerts" in html and "alerts_open" not in p.figures  # the note, not a failure
        pytest.skip("marts.mart_alerts not in this snapshot: the page says so instead")
    end = f"timestamptz '{day + timedelta(days=1)} 00:00:00+08'"
    start = f"timestamptz '{day} 00:00:00+08'"
    new, open_ = con.execute(f"""select count(*) filter (where raised_at >= {start} and raised_at < {end}),
                                        count(*) filter (where is_open and raised_at < {end}) from marts.mart_alerts""").fetchone()
    assert int(p.figures["alerts_new"]) == new
    assert int(p.figures["alerts_open"]) == open_
    assert sum(int(r[2]) for r in p.tables["alerts_by_street"]) == open_


def test_street_filter(demo, tmp_path):
    _, home, _, con, day = demo
    code, name = con.execute("""select street_code, any_value(street_name) from marts.dim_grid
                                where street_code is not null group by 1 order by 1 limit 1""").fetchone()
    proc = _briefing(home, day, tmp_path / "street.html", "--street", name)
    assert proc.returncode == 0, proc.stderr
    p = _parse((tmp_path / "street.html").read_text(encoding="utf-8"))
    today = con.execute(
        "select count(*) from marts.fct_incident where received_date = ? and street_code = ?", [day, code]
    ).fetchone()[0]
    assert int(p.figures["incidents_today"]) == today
    assert all(r[0] == name for r in p.tables["cases_by_street"])
    assert name in "".join(p.text)


def test_only_masked_personal_data(demo, page):
    out, home, _, _, _ = demo
    _, html, p = page
    text = "".join(p.text)
    assert not citizen_ids(text) and not mobiles(text)
    names = pl.read_parquet(home / "restricted" / "person_records" / "*.parquet")["name"].drop_nulls().unique()
    leaked = [n for n in names if len(n) >= 3 and n in text]
    assert not leaked, f"unmasked names on the page: {leaked[:5]}"
    for row in p.tables.get("alert_list", []):
        person = row[4]
        assert not person or "*" in person, f"person shown unmasked: {person}"


def test_errors_are_one_sentence(demo, tmp_path):
    _, home, _, _, day = demo
    cases = [
        (["--street", "不存在街道"], "no street named"),
        (["--date", "1999-01-01"], "outside the data"),
    ]
    for extra, words in cases:
        args = [
            str(ZHILI),
            "briefing",
            "--date",
            day.isoformat(),
            "--home",
            str(home),
            "--out",
            str(tmp_path / "x.html"),
        ]
        if extra[0] == "--date":
            args[3] = extra[1]
        else:
            args += extra
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = subprocess.run(
        [str(ZHILI), "briefing", "--date", day.isoformat(), "--home", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "zhili run" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_font_names_the_debian_package(demo, tmp_path):
    import os

    _, home, _, _, day = demo
    env = dict(os.environ, ZHILI_CJK_FONT=str(tmp_path / "no-such-font.ttc"))
    proc = _briefing(home, day, tmp_path / "x.html", env=env)
    assert proc.returncode == 2 and "fonts-noto-cjk" in proc.stderr and "Traceback" not in proc.stderr


def test_degrades_without_the_newer_marts(demo, tmp_path):
    _, home, snapshot, con, day = demo
    copy = tmp_path / "home" / "serving" / "zhili.duckdb"
    copy.parent.mkdir(parents=True)
    shutil.copy(snapshot, copy)
    with duckdb.connect(str(copy)) as w:
        # the snapshot serves views over Parquet versions; drop each as what it is
        kinds = w.execute(
            "select table_name, table_type from information_schema.tables where table_schema = 'marts' "
            "and table_name in ('mart_alerts', 'mart_care_visits')"
        ).fetchall()
        for table, kind in kinds:
            w.execute(f"drop {'view' if kind == 'VIEW' else 'table'} marts.{table} cascade")
    proc = _briefing(copy.parents[1], day, tmp_path / "old.html")
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "old.html").read_text(encoding="utf-8")
    assert "mart_alerts" in html and "一、预警" not in html
    assert int(_parse(html).figures["key_population"]) > 0


def test_charts_use_a_cjk_font(demo):
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    from briefing import load_briefing
    from briefing.charts import Charts
    from briefing.render import render_html

    _, _, snapshot, _, day = demo
    charts = Charts()
    assert "CJK" in charts.family, charts.family
    found = font_manager.findfont(font_manager.FontProperties(family=charts.family), fallback_to_default=False)
    assert Path(found).resolve() == charts.font_path.resolve()
    font = FT2Font(str(charts.font_path))
    for ch in "日排查研判各类事件与常态水平满意度超期街道":
        assert font.get_char_index(ord(ch)) != 0, f"{charts.font_path} has no glyph for {ch}"
    _, pngs = render_html(load_briefing(snapshot, day), charts)
    assert pngs and charts.font_files == {str(charts.font_path)}
    IMG.mkdir(parents=True, exist_ok=True)
    (IMG / "briefing_chart_categories.png").write_bytes(pngs["categories"])


def test_picture_of_the_page(page, tmp_path):
    """A screenshot through headless Chromium when installed, else the category chart."""
    html_path, _, _ = page
    IMG.mkdir(parents=True, exist_ok=True)
    target = IMG / "briefing.png"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        from briefing import load_briefing  # noqa: F401  (the chart PNG stands in)

        shutil.copy(IMG / "briefing_chart_categories.png", target) if (
            IMG / "briefing_chart_categories.png"
        ).exists() else None
        pytest.skip("chromium is not installed (apt-get install chromium): saved the chart PNG instead")
    shot = tmp_path / "briefing.png"
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1100,2400",
            f"--screenshot={shot}",
            html_path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    shutil.copy(shot, target)


def test_as_of_is_part_of_the_snapshot(demo, tmp_path):
    """`zhili run --as-of D` with nothing new rebuilds for D (it said "current" and kept the old date)."""
    out, home, _, _, day = demo
    copy = tmp_path / "home"
    shutil.copytree(home, copy)  # with the files' times: the snapshot's record still describes the copy
    later = day + timedelta(days=1)
    proc = subprocess.run(
        [str(ZHILI), "run", "--landing", str(out / "landing"), "--home", str(copy), "--as-of", later.isoformat()],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"warehouse: rebuilding: the snapshot is as of {day}, this run as of {later}" in proc.stdout, proc.stdout
    assert f"serving snapshot: {copy / 'serving' / 'zhili.duckdb'} (as of {later})" in proc.stdout
    status = subprocess.run([str(ZHILI), "status", "--home", str(copy)], capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and f"as of {later}" in status.stdout, status.stdout + status.stderr
    with duckdb.connect(str(copy / "serving" / "zhili.duckdb"), read_only=True) as con:
        assert con.execute("select distinct as_of_date from marts.mart_indicators").fetchall() == [(later,)]
    proc = _briefing(copy, later, tmp_path / "later.html")
    assert proc.returncode == 0, proc.stderr


def test_categories_and_care_tiers_are_words(demo, page):
    """The Chinese tables showed dispute, help_request, high_risk, key, other."""
    _, _, p = page
    code = re.compile(r"^[a-z][a-z_]*$")
    tiers = [row[0] for row in p.tables.get("care_visits", [])]
    categories = [row[3] for row in p.tables.get("alert_list", [])]
    assert tiers, "the demo district has residents in care tiers"
    assert set(tiers) <= set(CARE_TIER_NAMES.values())
    assert not [c for c in categories if code.match(c)], categories


def test_hotline_section_equals_the_marts(demo, page):
    """接诉即办: on the as-of date the same-day list is exactly the hotline_overdue / hotline_due_soon alerts (by
    the unit holding each order), the 三率 are mart_indicators' month values, the channel mix adds up to the
    month's hotline_orders_received and its 邻里牵手 share is hotline_group_share."""
    _, _, _, con, day = demo
    _, html, p = page
    assert "接诉即办" in html
    by_rule = dict(
        con.execute(
            "select rule, count(*) from marts.mart_alerts where rule in ('hotline_overdue', 'hotline_due_soon') group by 1"
        ).fetchall()
    )
    assert int(p.figures["hotline_overdue"]) == by_rule.get("hotline_overdue", 0)
    assert int(p.figures["hotline_due_soon"]) == by_rule.get("hotline_due_soon", 0)
    assert by_rule.get("hotline_overdue", 0) > 0, "the demo data should have overdue 12345 orders to show"
    per_unit = {
        unit: (overdue, due_soon)
        for unit, overdue, due_soon in con.execute(
            """select coalesce(o.last_unit, '未派单'), count(*) filter (where a.rule = 'hotline_overdue'),
                      count(*) filter (where a.rule = 'hotline_due_soon')
               from marts.mart_alerts a join marts.fct_hotline_order o on a.evidence_keys = o.incident_key
               where a.rule in ('hotline_overdue', 'hotline_due_soon') group by 1"""
        ).fetchall()
    }
    assert {r[0]: (int(r[1]), int(r[2])) for r in p.tables["hotline_by_unit"]} == per_unit

    month = day.replace(day=1)
    last = (month - timedelta(days=1)).replace(day=1)
    values = {
        (code, start): value
        for code, start, value in con.execute(
            """select indicator_code, period_start_date, value from marts.mart_indicators
               where level = 'county' and period_grain = 'month' and source = 'hotline_orders' and category = 'all'"""
        ).fetchall()
    }
    shown = {r[0]: (_num(r[1]), _num(r[2])) for r in p.tables["hotline_rates"]}
    names = {
        "响应率": "hotline_response_rate",
        "解决率": "hotline_resolution_rate",
        "满意率": "hotline_satisfaction_rate",
    }
    assert set(shown) == set(names)
    for name, code in names.items():
        want = tuple(
            None if values.get((code, m)) is None else round(100 * values[(code, m)], 1) for m in (month, last)
        )
        assert shown[name] == want, name
    assert shown["响应率"][0] is not None

    received = values[("hotline_orders_received", month)]
    channels = p.tables["hotline_channels"]
    assert sum(int(r[1]) for r in channels) == int(p.figures["hotline_orders_month"]) == received
    assert float(p.figures["hotline_group_share"]) == round(100 * values[("hotline_group_share", month)], 1)
    group = sum(int(r[1]) for r in channels if r[3] == "是")
    assert round(100 * group / received, 1) == float(p.figures["hotline_group_share"])


def test_community_section_equals_the_marts(demo, page):
    """社区工作 (issue 23): on the as-of date the figures are the open service_need_unaccepted and visit_overdue
    alerts, the community x category rows of mart_service_supply_gap with demand and no active resource, and the
    month's redemptions in fct_credit_redemption; the street table adds up to them, the tier table splits the
    overdue visits by care tier; nothing names a person."""
    _, _, _, con, day = demo
    _, html, p = page
    assert "社区工作" in html

    # raised by the end of D (China time)
    raised = "(raised_at at time zone 'Asia/Shanghai')::date <= ?::date"

    def one(sql: str, params: list | None = None) -> int:
        return int(con.execute(sql, params or []).fetchall()[0][0] or 0)

    want = {
        "community_needs_unaccepted": one(
            "select count(*) from marts.mart_alerts where rule = 'service_need_unaccepted' and is_open and " + raised,
            [day],
        ),
        "community_supply_gaps": one(
            "select count(*) from marts.mart_service_supply_gap where has_demand_without_supply"
        ),
        "community_redemptions": one(
            "select count(*) from marts.fct_credit_redemption where redeemed_date between ? and ?",
            [day.replace(day=1), day],
        ),
        "community_points_redeemed": one(
            "select sum(points_used) from marts.fct_credit_redemption where redeemed_date between ? and ?",
            [day.replace(day=1), day],
        ),
        "community_visits_overdue": one(
            "select count(*) from marts.mart_alerts where rule = 'visit_overdue' and is_open and " + raised, [day]
        ),
    }
    got = {k: int(p.figures[k]) for k in want}
    assert got == want
    assert want["community_visits_overdue"] > 0 and want["community_supply_gaps"] + want["community_redemptions"] > 0, (
        want
    )
    streets = p.tables["community_by_street"]
    for i, k in enumerate(
        [
            "community_needs_unaccepted",
            "community_supply_gaps",
            "community_redemptions",
            "community_points_redeemed",
            "community_visits_overdue",
        ],
        start=1,
    ):
        assert sum(int(r[i]) for r in streets) == want[k], k
    tiers = dict(
        con.execute(
            "select category, count(*) from marts.mart_alerts where rule = 'visit_overdue' and is_open and "
            + raised
            + " group by 1",
            [day],
        ).fetchall()
    )
    shown = {r[0]: int(r[1]) for r in p.tables["visits_overdue_by_tier"]}
    assert shown == {CARE_TIER_NAMES[t]: n for t, n in tiers.items()}
    text = "".join(p.text)
    names = con.sql("select name_masked from marts.dim_resident where name_masked is not null limit 200").pl()
    section = text[text.index("社区工作") :]
    assert not any(n in section for n in names["name_masked"] if len(n) >= 2 and "*" in n)
