"""Apache Superset itself on the serving snapshot, in a real browser, while `zhili run` publishes.

What `make superset` does, on a small home: Superset from its own venv (``.venv-superset``, built
from superset/requirements.lock by `make superset-venv`, which `make test` runs) is set up by
superset/zhili_superset.py (metadata DB, admin, the dashboard bundle in superset/dashboard/ with the
serving snapshot registered read-only) and served by gunicorn on 127.0.0.1. Headless Chromium (Debian's,
driven by Playwright: nothing is downloaded) logs in and opens the governance dashboard; the checks
read the /api/v1/chart/data answers the page itself asks for, and the rendered chart containers.

The home starts without its last delivery; then that delivery lands and a `zhili run` publishes a
new snapshot in the background while the dashboard is reloaded again and again. No chart may fail
during the swap, and afterwards every chart shows the new snapshot's data. The example queries in
docs/ run through Superset's SQL Lab API. The last dashboard is saved to docs/img/superset_dashboard.png.

If Superset's venv, Chromium or Playwright is missing, or Superset does not start, the test FAILS
and says what to install: it is never skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from ingestion.generator import generate
from tests.runs import ROOT, kill_group, scale, split_last_delivery, zhili_run, zhili_start

SUPERSET_PYTHON = Path(os.environ.get("ZHILI_SUPERSET_PYTHON", ROOT / ".venv-superset" / "bin" / "python"))
SETUP = ROOT / "superset" / "zhili_superset.py"
BUNDLE = ROOT / "superset" / "dashboard"
DOCS = ROOT / "docs"
SHOT = DOCS / "img" / "superset_dashboard.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# no network from the browser either: no QUIC probe, no component or sync traffic
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DASHBOARD = "zhili-governance"
#: 1,500 residents x 5 days, seed 7: small, and its last day raises open alerts, so 今日预警 has rows
RESIDENTS, DAYS = scale("SUPERSET", 1500, 5)
SEED = 7
CORE_MARTS = {
    "dim_grid",
    "dim_resident",
    "fct_incident",
    "fct_petition",
    "mart_key_population",
    "mart_grid_daily",
    "mart_indicators",
    "mart_alerts",
}
_SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)


def _require_tools():
    """Superset's venv, Chromium and Playwright: what `make test` installs. Missing is a failure."""
    if not SUPERSET_PYTHON.exists():
        pytest.fail(f"Superset's venv is missing ({SUPERSET_PYTHON}): run `make superset-venv` (make test does)")
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed: `apt-get install chromium` (make test does)")
    try:
        from playwright import sync_api
    except ImportError as err:
        pytest.fail(
            f"the playwright package is missing from Zhili's venv (requirements-test.lock; make test-venv installs it): {err}"
        )
    return sync_api


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else f"({path} was not written)"


def _wait_healthy(base: str, server: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"Superset (gunicorn) did not come up on {base}: {_tail(log)}")
        time.sleep(1)


def _snapshot_counts(serving: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(serving), read_only=True) as con:
        counts = {
            t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in ("fct_incident", "dim_resident")
        }
        counts["open_alerts"] = con.execute("select count(*) from marts.mart_alerts where is_open").fetchone()[0]
        return counts


class Superset:
    """A logged-in browser page on a running Superset, and what the dashboard asked it for."""

    def __init__(self, base: str, page, outside: list):
        self.base, self.page, self.outside = base, page, outside

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """Superset's REST API with the browser's session (and its CSRF token for writes)."""
        headers = {"Referer": self.base + "/"}
        if method != "GET":
            token = self.page.request.get(self.base + "/api/v1/security/csrf_token/").json()["result"]
            headers |= {"X-CSRFToken": token, "Content-Type": "application/json"}
        r = self.page.request.fetch(
            self.base + path, method=method, headers=headers, data=json.dumps(body) if body is not None else None
        )
        assert r.ok, f"{method} {path}: HTTP {r.status}: {r.text()[:1500]}"
        return r.json()

    def charts(self) -> dict[int, str]:
        return {c["id"]: c["slice_name"] for c in self.api("GET", f"/api/v1/dashboard/{DASHBOARD}/charts")["result"]}

    def open_dashboard(self, charts: dict[int, str], timeout: float = 180) -> dict[int, dict]:
        """Load the dashboard; wait for the data answer of every chart and for every chart to render.

        Returns {chart id: {"status", "rowcount", "error", "data"}} from the page's own
        /api/v1/chart/data responses (one per chart)."""
        answers: dict[int, dict] = {}

        def on_response(response):
            if "/api/v1/chart/data" not in response.url or response.request.method != "POST":
                return
            form = (response.request.post_data_json or {}).get("form_data") or {}
            try:
                body = response.json()
            except Exception as err:  # a non-JSON answer is itself the failure we report
                body = {"result": [{"error": f"not JSON: {err}"}]}
            result = (body.get("result") or [{}])[0]
            answers[int(form.get("slice_id", -1))] = {
                "status": response.status,
                "rowcount": result.get("rowcount"),
                "error": result.get("error") or body.get("message") or body.get("errors"),
                "data": result.get("data"),
            }

        self.page.on("response", on_response)
        try:
            self.page.goto(f"{self.base}/superset/dashboard/{DASHBOARD}/")
            deadline = time.monotonic() + timeout
            while set(charts) - set(answers) or not self._rendered(len(charts)):
                if time.monotonic() > deadline:
                    missing = {charts[c] for c in set(charts) - set(answers)}
                    raise AssertionError(
                        f"the dashboard did not finish within {timeout} s: no data answer for "
                        f"{sorted(missing)}; rendered: {self._containers()}"
                    )
                self.page.wait_for_timeout(500)
        finally:
            self.page.remove_listener("response", on_response)
        return answers

    def _containers(self) -> list[dict]:
        return self.page.evaluate("""() => Array.from(document.querySelectorAll('[data-test-chart-id]')).map(e => ({
            id: e.getAttribute('data-test-chart-id'), viz: e.getAttribute('data-test-viz-type'),
            canvas: e.querySelectorAll('canvas').length, rows: e.querySelectorAll('tbody tr').length,
            text: e.innerText.slice(0, 200), loading: !!e.querySelector('.loading, [aria-label="Loading"]')}))""")

    def _rendered(self, n: int) -> bool:
        boxes = self._containers()
        return len(boxes) == n and not any(b["loading"] for b in boxes)

    def drawn(self) -> dict[str, bool]:
        """{chart title: whether its container shows data} for every chart on the page."""
        return {b["text"].split("\n", 1)[0]: _drawn(b) for b in self._containers()}


def _drawn(box: dict) -> bool:
    """A chart container that shows its data: an ECharts canvas, table rows, or a big number."""
    if box["viz"] == "table":
        return box["rows"] > 0
    if box["viz"] == "big_number_total":
        return bool(re.search(r"\d", box["text"].split("\n", 1)[-1]))
    return box["canvas"] > 0


def _check_every_chart(answers: dict[int, dict], charts: dict[int, str], when: str) -> None:
    failed = {charts[c]: a for c, a in answers.items() if c in charts and (a["status"] != 200 or a["error"])}
    assert not failed, f"{when}: charts failed: {failed}"
    empty = [charts[c] for c, a in answers.items() if c in charts and not a["rowcount"]]
    assert not empty, f"{when}: charts without data: {empty}"


@pytest.fixture(scope="module")
def superset(tmp_path_factory):
    sync_api = _require_tools()
    out = tmp_path_factory.mktemp("superset")
    generate(out, residents=RESIDENTS, days=DAYS, seed=SEED)
    full = out / "landing"
    _, held_back = split_last_delivery(full)
    landing, home = out / "delivered", out / "home"
    shutil.copytree(
        full, landing, ignore=lambda d, names: [n for n in names if n in held_back and Path(d).parent == full]
    )
    env = dict(os.environ, ZHILI_SECRET_FILE=str(out / "secret.key"))
    # Superset's setup does not read the snapshot: it runs beside the first zhili run
    setup_log = out / "superset_setup.log"
    with open(setup_log, "w") as log:
        setup = subprocess.Popen(
            [str(SUPERSET_PYTHON), str(SETUP), "setup", "--home", str(home)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=out,
        )
    t0 = time.monotonic()
    first = zhili_run(landing, home, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    timings = {"first zhili run": time.monotonic() - t0}
    if setup.wait(timeout=900) != 0:
        pytest.fail(f"superset/zhili_superset.py setup failed (exit {setup.returncode}): {_tail(setup_log)}")
    timings["superset setup (beside it)"] = time.monotonic() - t0
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    serve_log = out / "superset_serve.log"
    with open(serve_log, "w") as log:
        server = subprocess.Popen(
            [str(SUPERSET_PYTHON), str(SETUP), "serve", "--home", str(home), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=out,
            start_new_session=True,
        )
    try:
        t0 = time.monotonic()
        _wait_healthy(base, server, serve_log)
        timings["gunicorn up"] = time.monotonic() - t0
        print("\n" + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1150}, locale="zh-CN")
            page.set_default_timeout(60_000)
            outside: list[tuple[str, str]] = []  # (url, how it ended) of every request off 127.0.0.1:port
            page.on(
                "requestfinished", lambda r: outside.append((r.url, "finished")) if not r.url.startswith(base) else None
            )
            page.on(
                "requestfailed",
                lambda r: outside.append((r.url, r.failure or "")) if not r.url.startswith(base) else None,
            )
            page.goto(base + "/login/")
            page.fill("#username", "admin")
            page.fill("#password", (home / "superset" / "admin_password").read_text().strip())
            page.keyboard.press("Enter")
            page.wait_for_url(lambda url: "/login" not in url, timeout=120_000)
            try:
                yield Superset(base, page, outside), full, landing, home, held_back, env, out
            finally:
                browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # gunicorn's arbiter and its worker
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


def test_superset_reads_with_zhilis_duckdb():
    """Superset's lock pins the DuckDB of Zhili's lock: the snapshot's storage format must be one it reads."""

    def pinned(lock: Path, package: str) -> str:
        found = re.search(rf"^{re.escape(package)}==(\S+)", lock.read_text(), re.M)
        assert found, f"{lock} does not pin {package}"
        return found.group(1)

    superset_lock, zhili_lock = ROOT / "superset" / "requirements.lock", ROOT / "requirements.lock"
    assert pinned(superset_lock, "duckdb") == pinned(zhili_lock, "duckdb"), (
        f"{superset_lock} pins duckdb {pinned(superset_lock, 'duckdb')}, {zhili_lock} {pinned(zhili_lock, 'duckdb')}: "
        "pin the same in superset/requirements.in and re-lock (docs/superset.md)"
    )
    assert pinned(superset_lock, "apache-superset") and pinned(superset_lock, "duckdb-engine")


def test_dashboard_is_the_bundle_on_the_read_only_snapshot(superset):
    s, _, _, home, _, _, _ = superset
    charts = s.charts()
    in_repo = {(BUNDLE / "charts" / f).read_text(encoding="utf-8") for f in os.listdir(BUNDLE / "charts")}
    assert len(charts) == len(in_repo) == 6, charts
    for name in charts.values():
        assert re.search(r"[\u4e00-\u9fff]", name), f"chart title {name!r} is not Chinese"
    databases = s.api("GET", "/api/v1/database/")["result"]
    assert len(databases) == 1, databases
    db = s.api("GET", f"/api/v1/database/{databases[0]['id']}/connection")["result"]
    serving = (home / "serving" / "zhili.duckdb").resolve()
    assert db["sqlalchemy_uri"] == f"duckdb:///{serving}?access_mode=read_only"
    assert json.loads(db["extra"])["engine_params"]["connect_args"] == {"read_only": True}
    assert not db["allow_dml"]
    tables = {t["value"] for t in s.api("GET", f"/api/v1/database/{db['id']}/tables/?q=(schema_name:marts)")["result"]}
    assert CORE_MARTS <= tables, f"Superset does not list {CORE_MARTS - tables} in schema marts"


def test_every_chart_renders_while_a_run_publishes(superset):
    s, full, landing, home, held_back, env, out = superset
    serving = home / "serving" / "zhili.duckdb"
    charts = s.charts()
    by_name = {name: cid for cid, name in charts.items()}
    before = s.open_dashboard(charts)
    assert not [c for c, a in before.items() if a["status"] != 200 or a["error"]], before
    counts_before = _snapshot_counts(serving)
    assert before[by_name["事件总数"]]["data"] == [{"incidents": counts_before["fct_incident"]}]

    for folder in sorted(d for d in full.glob("*/*") if d.is_dir() and d.name in held_back):
        shutil.copytree(folder, landing / folder.relative_to(full))
    inode = serving.stat().st_ino
    run = zhili_start(landing, home, env, out / "second_run.log")
    loads, t0 = 0, time.monotonic()
    try:
        while run.poll() is None:
            answers = s.open_dashboard(charts)
            failed = {charts[c]: a for c, a in answers.items() if c in charts and (a["status"] != 200 or a["error"])}
            assert not failed, f"during the run (load {loads + 1}): {failed}"
            loads += 1
            s.page.wait_for_timeout(2000)  # an analyst's pace, not a load test: leave the run its CPU
    except BaseException:
        kill_group(run)
        raise
    assert run.wait() == 0, _tail(out / "second_run.log")
    seconds = time.monotonic() - t0
    assert serving.stat().st_ino != inode, "the second run did not publish a new snapshot"
    assert loads >= 1, "the run ended before the dashboard could load once during it"

    counts = _snapshot_counts(serving)
    assert counts["open_alerts"], (
        f"the generated district ({RESIDENTS} residents x {DAYS} days, seed {SEED}) has no "
        "open alert after its last delivery, so 今日预警 cannot show rows: change SEED"
    )
    after = s.open_dashboard(charts)
    _check_every_chart(after, charts, "after the run")
    deadline = time.monotonic() + 30  # the answers are in; ECharts draws on the next frames
    while not all((drawn := s.drawn()).values()) and time.monotonic() < deadline:
        s.page.wait_for_timeout(500)
    assert sorted(drawn) == sorted(charts.values()) and all(drawn.values()), f"charts not drawn: {drawn}"
    assert after[by_name["事件总数"]]["data"] == [{"incidents": counts["fct_incident"]}], "not the new snapshot"
    assert after[by_name["一人一档居民数"]]["data"] == [{"residents": counts["dim_resident"]}]
    assert after[by_name["今日预警"]]["rowcount"] == counts["open_alerts"]
    print(
        f"\nSuperset dashboard: {loads} loads during a {seconds:.0f} s run; incidents {counts_before['fct_incident']} -> "
        f"{counts['fct_incident']}, residents {counts_before['dim_resident']} -> {counts['dim_resident']}, "
        f"open alerts {counts_before['open_alerts']} -> {counts['open_alerts']}"
    )
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    s.page.wait_for_timeout(1500)  # ECharts animates its first draw
    s.page.screenshot(path=str(SHOT), full_page=True)


def test_doc_queries_run_in_sql_lab(superset):
    """Every ```sql block of docs/ that names only marts tables runs through Superset's SQL Lab."""
    s = superset[0]
    db_id = s.api("GET", "/api/v1/database/")["result"][0]["id"]
    tables = {t["value"] for t in s.api("GET", f"/api/v1/database/{db_id}/tables/?q=(schema_name:marts)")["result"]}
    ran = 0
    for page in sorted(DOCS.rglob("*.md")):
        for i, sql in enumerate(_SQL_BLOCK.findall(page.read_text(encoding="utf-8")), 1):
            named = set(re.findall(r"\bmarts\.(\w+)", sql))
            other = re.search(r"\b(?:from|join)\s+(?!marts\.)\w+\.\w+|<[a-z_]+>|\bduckdb_\w+\(", sql, re.I)
            if not named or not named <= tables or other:
                continue
            answer = s.api(
                "POST",
                "/api/v1/sqllab/execute/",
                {
                    "database_id": db_id,
                    "schema": "marts",
                    "sql": sql.strip().rstrip(";"),
                    "runAsync": False,
                    "queryLimit": 1000,
                    "client_id": f"q{ran:09d}"[:10],
                },
            )
            assert answer.get("status") == "success", f"{page.relative_to(DOCS)}#{i}: {answer}"
            ran += 1
    assert ran >= 5, f"only {ran} doc queries ran in SQL Lab"
    print(f"\n{ran} example queries of docs/ ran in SQL Lab")


def test_nothing_left_localhost(superset):
    """The browser asked nothing of any other host, or was stopped by the content security policy
    (Superset 6.1's navbar still embeds its telemetry pixel; superset_config.py's policy blocks it)."""
    outside = superset[0].outside
    assert not [u for u, how in outside if how != "csp"], outside
