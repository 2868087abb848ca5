"""Publishing only what changed, through ``zhili run``: a rebuild of an unchanged warehouse writes no table, a new
delivery day writes exactly the tables whose content changed, and every served table equals the warehouse's."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.runs import split_last_delivery, zhili_run


def _hashes(db: Path) -> dict[str, str]:
    """Row count and md5 of the sorted rows of every marts and ops table (views in a catalogue, tables in the
    warehouse): a fingerprint independent of the publish's own digest."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('marts', 'ops') order by all"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(
                "select count(*) || ':' || coalesce(md5(string_agg(r, chr(10) order by r)), '') "
                f'from (select cast(t as varchar) as r from "{s}"."{t}" as t)'
            ).fetchone()[0]
            for s, t in names
        }


def _published(stdout: str) -> tuple[list[str], int]:
    """The tables the run's publish wrote, and how many it reused, from its summary line."""
    found = re.search(
        r"^publish +(\d+) table\(s\) written(?:: ([^;(]*?))?(?: \((\d+) part\(s\) of the tables published in "
        r"parts\))?; (\d+) reused unchanged$",
        stdout,
        re.M,
    )
    assert found, stdout[-3000:]
    written = [t for t in (found.group(2) or "").split(", ") if t]
    assert len(written) == int(found.group(1))
    # mart_indicators is published in parts: it is written exactly when some of its parts are
    assert ("marts.mart_indicators" in written) == (found.group(3) is not None), found.group(0)
    return written, int(found.group(4))


@pytest.fixture(scope="module")
def runs(generated_district, tmp_path_factory):
    full = generated_district(800, 6, 31) / "landing"
    out = tmp_path_factory.mktemp("serving-versions")
    _, held_back = split_last_delivery(full)
    landing, home = out / "landing", out / "home"
    shutil.copytree(
        full, landing, ignore=lambda d, names: [n for n in names if n in held_back and Path(d).parent == full]
    )
    env = dict(os.environ, ZHILI_SECRET_FILE=str(out / "secret.key"))
    first = zhili_run(landing, home, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    before = _hashes(home / "warehouse.duckdb")
    versions = sorted(p.name for p in (home / "serving" / "tables").rglob("*.parquet"))
    # the same landing, rebuilt: without its record the snapshot is not known current, so linkage, dbt and
    # the publish run again over the same data
    (home / "serving" / "snapshot.json").unlink()
    again = zhili_run(landing, home, env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    served_again = _hashes(home / "serving" / "zhili.duckdb")
    as_of_again = _as_of(home)
    versions_again = sorted(p.name for p in (home / "serving" / "tables").rglob("*.parquet"))
    for feed in full.iterdir():  # the held-back delivery day arrives
        for day in held_back:
            if (feed / day).is_dir():
                shutil.copytree(feed / day, landing / feed.name / day)
    later = zhili_run(landing, home, env)
    assert later.returncode == 0, later.stdout[-3000:] + later.stderr[-3000:]
    later_dbt_log = (home / "logs" / "dbt_last_run.log").read_text()
    return {
        "home": home,
        "first": first,
        "before": before,
        "versions": versions,
        "again": again,
        "served_again": served_again,
        "versions_again": versions_again,
        "later": later,
        "as_of_again": as_of_again,
        "later_dbt_log": later_dbt_log,
    }


def _as_of(home: Path) -> tuple[str, set]:
    """The as-of date the snapshot records, and the dates the served mart_indicators rows carry."""
    recorded = json.loads((home / "serving" / "snapshot.json").read_text())["as_of_date"]
    with duckdb.connect(str(home / "serving" / "zhili.duckdb"), read_only=True) as con:
        carried = {str(d) for (d,) in con.execute("select distinct as_of_date from marts.mart_indicators").fetchall()}
    return recorded, carried


def test_the_first_run_writes_every_table(runs):
    written, reused = _published(runs["first"].stdout)
    assert reused == 0 and sorted(written) == sorted(runs["before"])


def test_a_rebuild_of_the_same_landing_writes_no_table_and_serves_the_same_content(runs):
    assert "warehouse: rebuilding: no serving snapshot recorded" in runs["again"].stdout, runs["again"].stdout[-3000:]
    written, reused = _published(runs["again"].stdout)
    assert written == [] and reused == len(runs["before"])
    assert runs["served_again"] == runs["before"]
    assert runs["versions_again"] == runs["versions"]  # not one new Parquet version


def test_a_new_day_writes_exactly_the_tables_whose_content_changed(runs):
    home = runs["home"]
    after = _hashes(home / "warehouse.duckdb")
    changed = sorted(t for t in after if runs["before"].get(t) != after[t])
    written, reused = _published(runs["later"].stdout)
    assert changed, "the held-back day should change some table"
    assert sorted(written) == changed
    assert reused == len(after) - len(changed)
    # every served table equals the warehouse's, and so do the BI tools' Parquet copies of the marts
    assert _hashes(home / "serving" / "zhili.duckdb") == after
    with duckdb.connect() as con:
        for table, fingerprint in after.items():
            schema, name = table.split(".")
            if table == "marts.mart_indicators":  # published in parts: no one file holds it
                assert not (home / "serving" / "parquet" / f"{name}.parquet").exists()
            elif schema == "marts":
                path = home / "serving" / "parquet" / f"{name}.parquet"
                count = con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]
                assert f"{count}:" == fingerprint[: len(str(count)) + 1], table


def test_a_new_day_is_built_as_of_its_own_date_from_a_partial_parse(runs):
    """The as-of date moves with the delivery and reaches every model, and dbt parses only what changed: the
    build passes the date through the environment (a new --vars each day would make dbt parse the whole
    project again) and keeps its parse for the next build on this home."""
    recorded_before, carried_before = runs["as_of_again"]
    recorded, carried = _as_of(runs["home"])
    assert recorded_before and recorded and recorded > recorded_before
    assert carried_before == {recorded_before} and carried == {recorded}
    assert "Unable to do partial parsing" not in runs["later_dbt_log"], runs["later_dbt_log"][:2000]
    assert "Found " in runs["later_dbt_log"]  # the log is dbt's own output of that build
