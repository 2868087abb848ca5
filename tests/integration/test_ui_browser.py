"""The Dagster UI in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

`zhili run` prepares a home (one 110-calls flag carries a wrong md5, so that file is rejected);
`dagster dev -m orchestration.definitions` serves it with DAGSTER_HOME=<home>/dagster. The test
looks at the asset graph (every feed group), the GX and dbt checks with their status, the rejected
file's reason in the raw asset's metadata, then launches a materialisation from the UI and waits
for the run to succeed. Screenshots go to docs/img/.

Playwright drives the system Chromium through ``executable_path``: no browser is downloaded.
Skipped, with the reason, when Chromium or the playwright package is missing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ingestion.feeds import FEEDS

ZHILI = Path(sys.executable).with_name("zhili")
DAGSTER = Path(sys.executable).with_name("dagster")
REPO = Path(__file__).resolve().parents[2]
IMG = REPO / "docs" / "img"
REJECTED_FEED = "police_incidents"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the playwright package is not installed (make test-venv installs requirements-test.lock)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _break_a_flag(landing: Path) -> Path:
    """A 110-calls file whose .ok flag names the wrong md5: the landing check rejects it."""
    files = sorted((landing / REJECTED_FEED).rglob("JQ_*.csv"), key=lambda p: (p.stat().st_size, p.name))
    target = files[-1]
    flag = target.with_name(target.name + ".ok")
    rows = next(line for line in flag.read_text().splitlines() if line.startswith("rows="))
    wrong = hashlib.md5(b"not these bytes").hexdigest()
    flag.write_text(f"{rows}\nmd5={wrong}\n")
    return target


@pytest.fixture(scope="module")
def ui(generated_district, tmp_path_factory):
    out = tmp_path_factory.mktemp("ui")
    landing, home = out / "landing", out / "home"
    shutil.copytree(generated_district(1000, 5, 3) / "landing", landing)  # its own copy: a flag gets broken
    rejected = _break_a_flag(landing)
    proc = subprocess.run(
        [str(ZHILI), "run", "--landing", str(landing), "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rejected" in proc.stdout
    port = _free_port()
    env = dict(os.environ, DAGSTER_HOME=str(home / "dagster"), ZHILI_HOME=str(home), ZHILI_LANDING=str(landing))
    log = (out / "dagster_dev.log").open("w")
    server = subprocess.Popen(
        [str(DAGSTER), "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            with urllib.request.urlopen(base + "/server_info", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"dagster dev did not come up: {(out / 'dagster_dev.log').read_text()[-3000:]}")
        time.sleep(2)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        # the first visit shows a "join the community" dialog over the graph; dismiss it once (kept in localStorage)
        page.goto(base + "/asset-groups")
        skip = page.get_by_role("button", name="Skip")
        try:
            skip.wait_for(state="visible", timeout=30_000)
            skip.click()
        except sync_api.TimeoutError:
            pass
        try:
            yield base, page, rejected, home
        finally:
            browser.close()
            os.killpg(server.pid, signal.SIGTERM)  # dagster dev and the daemon/webserver it started
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
            log.close()


def _open(page, url: str, *texts: str, timeout: float = 120) -> str:
    """Go to ``url`` and wait until the page shows every text (the UI keeps polling: no network idle)."""
    page.goto(url)
    page.wait_for_load_state("load")
    skip = page.get_by_role("button", name="Skip")  # the first-visit "join the community" dialog
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        if skip.count() and skip.first.is_visible():
            skip.first.click()
        body = page.inner_text("body")
        if all(t in body for t in texts) and "Loading" not in body[:300]:
            return body
        time.sleep(1)
    missing = [t for t in texts if t not in body]
    raise AssertionError(f"{url} never showed {missing}; it shows: {body[:1500]}")


def _shot(page, name: str) -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    time.sleep(1.5)  # let the graph finish laying out
    page.screenshot(path=str(IMG / name))


def test_asset_graph_shows_every_feed_group(ui):
    base, page, _, _ = ui
    _open(page, base + "/asset-groups", *FEEDS, "warehouse")
    # group boxes in the graph itself, not only the sidebar: fetched statuses replace "(fetching statuses)"
    _open(page, base + "/asset-groups", *FEEDS)
    deadline = time.monotonic() + 60
    while "fetching statuses" in page.inner_text("body") and time.monotonic() < deadline:
        time.sleep(1)
    _shot(page, "dagster_asset_graph.png")


def test_gx_checks_show_their_status(ui):
    base, page, _, _ = ui
    for feed in FEEDS:
        body = _open(page, f"{base}/assets/normalised/{feed}?view=checks", f"gx_{feed}")
        assert re.search(r"\b(Passed|Succeeded|Failed)\b", body), f"gx_{feed}: no status shown"
        if feed == REJECTED_FEED:
            _shot(page, "dagster_gx_check.png")


def test_rejected_file_reason_in_metadata(ui):
    base, page, rejected, _ = ui
    rel = f"{REJECTED_FEED}/{rejected.parent.name}/{rejected.name}"
    # the metadata's JSON value renders after its label: wait for the reason and the file, not the label alone
    body = _open(page, f"{base}/assets/raw/{REJECTED_FEED}", "rejected files", "flag_md5_mismatch", rel)
    assert "flag_md5_mismatch" in body and rel in body, body[:3000]
    page.get_by_text("rejected files").first.scroll_into_view_if_needed()
    _shot(page, "dagster_rejected_file.png")


def test_materialise_from_the_ui(ui):
    base, page, _, home = ui
    snapshot = home / "serving" / "zhili.duckdb"
    before = snapshot.stat().st_ino
    _open(page, f"{base}/assets/serving/zhili", "Latest materialization")
    page.locator("button", has_text=re.compile(r"^Materialize$")).first.click()
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    toast.wait_for(timeout=60_000)
    short = re.search(r"Launched run ([0-9a-f]{8})", toast.inner_text()).group(1)
    # the run's own page: wait for Dagster to report success
    body = _open(page, f"{base}/runs", short)
    href = page.locator(f"a[href*='/runs/{short}']").first.get_attribute("href")
    deadline = time.monotonic() + 600
    status = ""
    while time.monotonic() < deadline:
        page.goto(base + href.split("?")[0])
        page.wait_for_load_state("load")
        time.sleep(3)
        body = page.inner_text("body")
        status = next((s for s in ("Success", "Failure", "Canceled") if re.search(rf"\b{s}\b", body)), "")
        if status:
            break
        time.sleep(5)
    _shot(page, "dagster_run_from_ui.png")
    assert status == "Success", f"the run launched from the UI ended as {status or 'nothing within 10 min'}"
    assert snapshot.stat().st_ino != before, "the UI run did not publish a new serving snapshot"


def test_dbt_checks_show_their_status(ui):
    """dbt tests are asset checks on the marts. The daemon's warehouse sensor may be re-running them
    when the UI comes up ("Running"): wait for a final status."""
    base, page, _, _ = ui
    deadline = time.monotonic() + 600
    while True:
        body = _open(
            page,
            f"{base}/assets/marts/dim_grid?view=checks",
            "unique_dim_grid_grid_code",
            "not_null_dim_grid_grid_code",
        )
        if not re.search(r"\b(Running|In Progress|Queued)\b", body) or time.monotonic() > deadline:
            break
        time.sleep(10)
    _shot(page, "dagster_dbt_checks.png")
    assert re.search(r"\b(Passed|Succeeded)\b", body), body[:2000]
