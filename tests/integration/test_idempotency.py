"""Idempotency: the same landing run twice, and the same bytes re-delivered under new names and dates,
give marts with identical hashes (every mart table, rows sorted).

Small scale (CI): 1,000 residents over 5 days; ``ZHILI_IDEMPOTENCY_RESIDENTS`` / ``_DAYS`` for the full-scale
run (README).
"""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from ingestion.generator import generate
from ingestion.ledger import read_ledger
from ingestion.zones import Zones
from tests.runs import mart_hashes, scale, zhili_run


def _redeliver_renamed(landing: Path) -> list[tuple[Path, Path]]:
    """One file of every feed copied byte for byte (flag too) into a later folder under a new date in its name."""
    folders = sorted({d.name for d in landing.glob("*/*") if d.is_dir() and re.fullmatch(r"\d{4}-\d{2}-\d{2}", d.name)})
    later = date.fromisoformat(folders[-1]) + timedelta(days=3)
    copies = []
    for feed in sorted(p for p in landing.iterdir() if p.is_dir()):
        flags = sorted(feed.rglob("*.ok"), key=lambda p: p.stat().st_size)
        data = [
            f.with_suffix("") for f in flags if f.with_suffix("").exists() and f.with_suffix("").stat().st_size > 200
        ]
        if not data:
            continue
        src = data[len(data) // 2]
        name = re.sub(r"20\d{6}", (later - timedelta(days=1)).strftime("%Y%m%d"), src.name)
        name = re.sub(r"(?<!\d)20\d{4}(?!\d)", later.strftime("%Y%m"), name) if name == src.name else name
        dst = feed / later.isoformat() / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        shutil.copy2(src.with_name(src.name + ".ok"), dst.with_name(dst.name + ".ok"))
        copies.append((src, dst))
    return copies


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import os

    out = tmp_path_factory.mktemp("idem")
    residents, days = scale("IDEMPOTENCY")
    generate(out, residents=residents, days=days, seed=17)
    landing, home = out / "landing", out / "home"
    env = dict(os.environ, ZHILI_SECRET_FILE=str(out / "secret.key"))
    first = zhili_run(landing, home, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    h1 = mart_hashes(home / "serving" / "zhili.duckdb")
    ledger1 = read_ledger(Zones(home))
    second = zhili_run(landing, home, env)
    h2 = mart_hashes(home / "serving" / "zhili.duckdb")
    copies = _redeliver_renamed(landing)
    third = zhili_run(landing, home, env)
    h3 = mart_hashes(home / "serving" / "zhili.duckdb")
    return dict(home=home, first=first, second=second, third=third, h1=h1, h2=h2, h3=h3, copies=copies, ledger1=ledger1)


def test_same_landing_twice_changes_nothing(runs):
    assert runs["second"].returncode == 0, runs["second"].stdout[-3000:]
    assert runs["h1"], "no marts published"
    assert runs["h2"] == runs["h1"]
    assert "Traceback" not in runs["second"].stderr


def test_byte_identical_redelivery_under_new_names_gives_identical_marts(runs):
    third = runs["third"]
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert len(runs["copies"]) >= 5
    assert runs["h3"] == runs["h1"], {
        t: (runs["h1"].get(t), h) for t, h in runs["h3"].items() if runs["h1"].get(t) != h
    }


def test_redeliveries_are_recorded_as_duplicates_not_loads(runs):
    ledger = read_ledger(Zones(runs["home"]))
    for src, dst in runs["copies"]:
        rows = ledger.filter((pl.col("folder") == dst.parent.name) & (pl.col("file") == dst.name))
        assert rows.height == 1, (dst, rows)
        row = rows.row(0, named=True)
        assert row["status"] in ("duplicate", "empty"), row
        if row["status"] == "duplicate":
            assert src.name in row["duplicate_of"] and dst.name in row["message"]
    loaded = ledger.filter(pl.col("status").is_in(["loaded", "held"]))
    assert loaded["file_md5"].n_unique() == loaded.height  # one loaded row per distinct bytes
    before = runs["ledger1"].filter(pl.col("status").is_in(["loaded", "held"]))
    assert sorted(loaded["file_md5"]) == sorted(before["file_md5"])
