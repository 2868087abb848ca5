"""An incremental build of the warehouse equals a full rebuild on the same landing, delivery day by delivery day.

A generated district is delivered in steps: the days before the grid registry's reorganisation, then the
reorganisation day, then the rest of the period (new register snapshots, late updates to old incidents and
12345 orders, steps a day late) together with a file resent under a new name and a withdrawn 12345 steps
file. After each step the warehouse built incrementally (``dbt run`` on the previous step's warehouse) must
hold, in every mart and intermediate table, exactly the rows a ``--full-refresh`` build on a copy of the
same state folder gives (each table's rows cast to text and sorted, hashed).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dbt_fixtures import run_dbt
from ingestion.planner import ingest_landing
from ingestion.pseudonym import load_or_create_key
from ingestion.zones import Zones

#: columns that name a run or a wall-clock time: they differ between two builds of the same state
VOLATILE = {"processed_at", "seconds", "run_id", "dagster_run_id", "ledger_key"}
#: what one run recomputed, not data: the indicator groups whose day sums changed since the last build (a
#: full build on a fresh copy has no last build to compare with)
RUN_SCOPED = {"intermediate.int_indicator_groups_touched"}
SCHEMAS = ("marts", "intermediate", "restricted", "ops")
#: the models incremental by delivered file or by key whose compiled SQL must read only what is new
#: the models incremental by key: an incremental run recomputes only the keys new or withdrawn files touch
KEYED = ("int_incidents_unioned", "int_hotline_steps_sequenced", "fct_hotline_step")
TRACKERS = ("intermediate.int_hotline_files_built", "intermediate.int_incident_files_built")
#: issue 22: the order replay is incremental by order too (fct_hotline_order stays a table: the as-of and
#: person projection on top of it)
KEYED += ("int_hotline_orders_replayed",)
#: issue 23: the community feeds' visits, needs and points entries in their current versions, incremental by key
#: (the marts on top join linkage, the registers and the as-of date every run), with their own file tracker
KEYED += ("int_visits_delivered", "int_service_needs_delivered", "int_credit_entries_delivered")
TRACKERS += ("intermediate.int_community_files_built",)


def _days(landing: Path) -> list[date]:
    return sorted({date.fromisoformat(p.name) for p in landing.glob("*/*") if p.is_dir()})


def _deliver(landing: Path, into: Path, until: date) -> None:
    """Hard-link the delivery folders of ``landing`` up to ``until`` into ``into`` (the landing a run sees)."""
    for folder in landing.glob("*/*"):
        target = into / folder.relative_to(landing)
        if folder.is_dir() and date.fromisoformat(folder.name) <= until and not target.exists():
            shutil.copytree(folder, target, copy_function=__import__("os").link)


def _digests(home: Path) -> dict[str, tuple[int, str]]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = con.sql(
            "select table_schema, table_name from information_schema.tables "
            f"where table_type = 'BASE TABLE' and table_schema in {SCHEMAS} order by all"
        ).fetchall()
        out = {}
        for schema, name in tables:
            columns = [d[0] for d in con.sql(f"select * from {schema}.{name} limit 0").description]
            kept = ", ".join(f'"{c}"' for c in columns if c not in VOLATILE)
            out[f"{schema}.{name}"] = con.execute(
                f"select count(*), md5(coalesce(string_agg(r, chr(10) order by r), '')) "
                f'from (select cast(row({kept}) as varchar) as r from "{schema}"."{name}")'
            ).fetchall()[0]
    return out


def _build(home: Path, as_of: date, *extra: str) -> None:
    dbt_vars = f"{{as_of_date: '{as_of.isoformat()}'}}"
    # seeds and models (the data tests are other tests' business), in one dbt start
    proc = run_dbt(home, "build", "--resource-type", "seed", "--resource-type", "model", "--vars", dbt_vars, *extra)
    assert proc.returncode == 0, f"dbt build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"


def _rebuilt(home: Path, tmp: Path, as_of: date) -> dict[str, tuple[int, str]]:
    """The digests of a --full-refresh build on a copy of ``home``'s state folder (no warehouse)."""
    copy = tmp / "full"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("warehouse.duckdb*", "dbt_target", "dbt_logs"))
    _build(copy, as_of, "--full-refresh")
    return _digests(copy)


def _differences(incremental: dict, full: dict) -> list[str]:
    names = sorted((set(incremental) | set(full)) - RUN_SCOPED)
    return [
        f"{n}: incremental {incremental.get(n)} != full {full.get(n)}"
        for n in names
        if incremental.get(n) != full.get(n)
    ]


def _compiled(home: Path, model: str) -> str:
    return next((home / "dbt_target" / "compiled").rglob(f"{model}.sql")).read_text()


#: the person tables incremental by record: a run recomputes the records of new person-record files and
#: those whose link changed (link_run, stamped by linkage). Linkage runs before the first and last steps'
#: builds, not the middle one's: that build meets records linkage has not seen (their valid-ID fallback),
#: and the last one the links those records then get, with whatever links of older records moved.
PERSONS = ("int_persons_resolved", "person_source_links")
LINKED_STEPS = (0, 2)


def _link(zones: Zones, key: bytes, day: date) -> None:
    from ingestion.linkage import run_linkage

    run_linkage(zones, key=key, changed_on=day)


def _check_persons(home: Path, step: int, built: set[str]) -> set[str]:
    """After an incremental build: the person tables read no person-record file they had built in, and read
    the links by run number; returns the person-record files now built in."""
    for model in PERSONS:
        sql = _compiled(home, model)
        assert not any(md5 in sql for md5 in built), f"{model}: a person-record file already built in was read again"
        if step > 0 and step in LINKED_STEPS:
            assert "link_run >" in sql, f"{model} did not read only the links that changed"
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        runs = con.sql("select max(link_run), count(*) filter (where link_run is null) from marts.person_source_links")
        last_run, unlinked = runs.fetchall()[0]
        # each linkage run brought new records, so each is the last to change some link
        assert last_run == sum(1 for s in LINKED_STEPS if s <= step)
        # the middle step's new records are not linked yet; linkage sees every record at the last step
        assert (unlinked > 0) == (step == 1)
        return {m for (m,) in con.sql("select distinct file_md5 from intermediate.int_persons_resolved").fetchall()}


@pytest.mark.parametrize("seed", [4, 11])
def test_incremental_build_equals_a_rebuild_day_by_day(generated_district, tmp_path, seed):
    district = generated_district(2000, 21, seed)
    landing, home = tmp_path / "landing", tmp_path / "home"
    zones = Zones(home)
    key = load_or_create_key(zones.secret_file)
    days = _days(district / "landing")
    reorganised = sorted(p.name for p in (district / "landing" / "grid_registry").iterdir())[1]
    reorganisation = date.fromisoformat(reorganised)
    steps = [d for d in days if d < reorganisation][-1], reorganisation, days[-1]

    built: set[str] = set()
    persons_built: set[str] = set()
    for step, day in enumerate(steps):
        _deliver(district / "landing", landing, day)
        if step == 2:
            # the same file again under a new name (a resend), and a 12345 steps file withdrawn from the zone
            resent = next(iter(sorted((landing / "petitions").glob("*/*"))))
            again = landing / "petitions" / day.isoformat() / f"resent_{resent.name}"
            again.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(resent, again)
        ingest_landing(landing, zones, key=key)
        if step == 2:
            withdrawn = sorted(p for p in zones.normalised("hotline_steps").glob("*.parquet") if p.stem != "_empty")[0]
            orders = set(pl.read_parquet(withdrawn)["order_id"].drop_nulls())
            withdrawn.unlink()
        if step in LINKED_STEPS:
            _link(zones, key, day)
        _build(home, day)
        incremental = _digests(home)
        persons_built = _check_persons(home, step, persons_built)
        if step > 0:
            # only the new files were read: a file built in before is named nowhere in the incremental SQL
            for model in KEYED:
                assert "touched_key" in _compiled(home, model), f"{model} was not built incrementally"
            # issue 20: the indicators recompute only the periods whose day sums changed
            assert " as touched" in _compiled(home, "mart_indicators"), "mart_indicators was not built incrementally"
            with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
                touched, groups = con.execute(
                    "select (select count(*) from intermediate.int_indicator_groups_touched), "
                    "(select count(distinct (indicator_code, level, unit_code, period_grain, period_start_date)) "
                    "from marts.mart_indicators)"
                ).fetchall()[0]
            assert 0 < touched < groups, (touched, groups)
            for tracker in TRACKERS:
                sql = _compiled(home, tracker.split(".")[1])
                assert not any(md5 in sql for md5 in built), f"{tracker}: a file already built in was read again"
            # (the first step's build is itself a full one: nothing to compare)
            differences = _differences(incremental, _rebuilt(home, tmp_path, day))
            assert not differences, f"step {step} ({day}):\n" + "\n".join(differences)
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
            if step > 0:
                # the step exercised late updates: incidents that an earlier step's files brought and its new
                # files carry again (a new status, a step a day late)
                late = con.execute(
                    "select count(distinct touched_key) from intermediate.int_incident_files_built "
                    "where list_contains($1, file_md5) and touched_key in ("
                    "select touched_key from intermediate.int_incident_files_built "
                    "where not list_contains($1, file_md5))",
                    [sorted(built)],
                ).fetchall()[0][0]
                assert late > 0
            built = {m for t in TRACKERS for (m,) in con.sql(f"select distinct file_md5 from {t}").fetchall()}
            if step == 2:
                assert withdrawn.stem not in built
                # the withdrawn file's orders were recomputed: no step is still attributed to it
                assert orders
                left = con.execute("select count(*) from marts.fct_hotline_step where file_md5 = ?", [withdrawn.stem])
                assert left.fetchall() == [(0,)]
    assert len(incremental) > 20
