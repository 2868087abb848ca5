"""int_household_memberships_spanned, built from the register's versions, against the spells read off its
weekly rows.

The model reads a membership run from the versions (a version is listed, unchanged, in every snapshot from
its valid_from to its valid_to) instead of from every week's rows. Here random register histories are
written through the real versions store (ingestion.versions, snapshots delivered out of order), and the
model's spells must equal the ones this file computes week by week, the way the model's docs define them:
people who move, leave (迁出 with a date, listed a few weeks as departed), vanish for a week and come
back, change relation, lose and regain a relation; a person entered twice (two 人员编号, one person key);
a first snapshot without household columns.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta

import duckdb
import polars as pl
import pytest

from tests.integration.dbt_fixtures import StateWriter, run_dbt

RELATIONS = ["户主", "配偶", "子", "女", "父亲", "母亲", None]


def _histories(seed: int, people: int, weeks: int) -> list[list[dict]]:
    """Each week's register rows: a random life per person, with the quirks the model must read through."""
    rng = random.Random(seed)
    start = date(2025, 1, 6)
    snapshots: list[list[dict]] = [[] for _ in range(weeks)]
    households = [f"hh{n:03d}" for n in range(people // 3 + 2)]
    for n in range(people):
        key = f"pk{n:04d}"
        # one person in eight is entered twice: a second 人员编号 with the same person key, in the same
        # household (the register later 注销s the duplicate)
        ids = [f"R{n:05d}"] + ([f"D{n:05d}"] if rng.random() < 1 / 8 else [])
        first_household = rng.choice(households)
        for spid in ids:
            household = first_household
            relation = rng.choice(RELATIONS)
            listed = rng.random() < 0.85
            departed_on = None
            for week in range(weeks):
                day = start + timedelta(days=7 * week)
                if departed_on is None:
                    if rng.random() < 0.1:
                        listed = not listed  # gone for a while, or back
                    if rng.random() < 0.08:
                        household = rng.choice(households)  # a move or a split
                    if rng.random() < 0.08:
                        relation = rng.choice(RELATIONS)
                    if listed and rng.random() < 0.04:
                        departed_on = day - timedelta(days=rng.randint(0, 6))
                        departed_weeks = rng.randint(0, 3)
                elif departed_weeks > 0:
                    departed_weeks -= 1
                else:
                    listed = False
                if not listed:
                    continue
                snapshots[week].append(
                    {
                        "source_person_id": spid,
                        "person_key": key,
                        "household_key": household if week > 0 else None,
                        "household_no_masked": household.upper() if week > 0 else None,
                        "relation_to_head": relation if week > 0 else None,
                        "is_relation_known": (relation is not None) if week > 0 else None,
                        "person_status": "迁出" if departed_on is not None else "在册",
                        "status_changed_date": departed_on,
                    }
                )
    return snapshots


def _expected(snapshots: list[list[dict]], start: date) -> pl.DataFrame:
    """The spells, week by week (the model's definition before it read versions)."""
    rows = [
        {**row, "snapshot_date": start + timedelta(days=7 * week)}
        for week, listing in enumerate(snapshots)
        for row in listing
        if row["household_key"] is not None
    ]
    dates = sorted({r["snapshot_date"] for r in rows})
    number = {d: i for i, d in enumerate(dates)}
    latest: dict[str, dict] = {}
    for r in sorted(rows, key=lambda r: r["snapshot_date"]):
        latest[r["source_person_id"]] = r
    member = {spid: r["person_key"] or f"register:{spid}" for spid, r in latest.items()}

    weekly: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        weekly[(r["household_key"], member[r["source_person_id"]], number[r["snapshot_date"]])].append(r)

    def week_of(group: list[dict]) -> dict:
        registered = [r for r in group if r["person_status"] == "在册"]
        ranked = [r for r in group if r["relation_to_head"] is not None]
        ranked.sort(key=lambda r: (r["person_status"] == "在册", r["relation_to_head"]))
        lefts = [r["status_changed_date"] for r in group if r["person_status"] != "在册" and r["status_changed_date"]]
        return {
            "person_key": max(r["person_key"] for r in group),
            "source_person_id": min(r["source_person_id"] for r in group),
            "relation_to_head": ranked[-1]["relation_to_head"] if ranked else None,
            "is_relation_known": any(bool(r["is_relation_known"]) for r in group),
            "household_no_masked": max(r["household_no_masked"] for r in group),
            "is_registered": bool(registered),
            "left_date": min(lefts) if lefts else None,
        }

    weeks = {k: week_of(v) for k, v in weekly.items()}
    spells = []
    by_member: dict[tuple, list[int]] = defaultdict(list)
    for (household, who, no), week in weeks.items():
        if week["is_registered"]:
            by_member[(household, who)].append(no)
    for (household, who), numbers in by_member.items():
        numbers.sort()
        runs: list[list[int]] = []
        for no in numbers:
            if runs and runs[-1][-1] == no - 1:
                runs[-1].append(no)
            else:
                runs.append([no])
        for run in runs:
            listed = [weeks[(household, who, no)] for no in run]
            last = run[-1]
            relation = next((w["relation_to_head"] for w in reversed(listed) if w["relation_to_head"]), None)
            departed = weeks.get((household, who, last + 1))
            valid_to = None
            if last + 1 < len(dates):
                valid_to = (departed or {}).get("left_date") or dates[last + 1]
            spells.append(
                {
                    "household_key": household,
                    "member_id": who,
                    "person_key": max(w["person_key"] for w in listed),
                    "source_person_id": min(w["source_person_id"] for w in listed),
                    "relation_to_head": relation,
                    "is_relation_known": listed[-1]["is_relation_known"],
                    "household_no_masked": listed[-1]["household_no_masked"],
                    "valid_from": dates[run[0]],
                    "valid_to": valid_to,
                    "last_listed_date": dates[last],
                    "is_current": last + 1 == len(dates),
                }
            )
    return pl.DataFrame(spells).sort(["household_key", "member_id", "valid_from"])


@pytest.mark.parametrize("seed", [3, 17])
def test_spells_from_versions_equal_the_weekly_reading(seed, tmp_path):
    people, weeks, start = 150, 12, date(2025, 1, 6)
    snapshots = _histories(seed, people, weeks)
    writer = StateWriter(tmp_path)
    order = list(range(weeks))
    random.Random(seed).shuffle(order)  # late snapshots: the versions do not depend on arrival order
    for week in order:
        day = start + timedelta(days=7 * week)
        writer.file(
            "police_population", f"population_{day:%Y%m%d}.csv", data_date=day, delivered=day, rows=snapshots[week]
        )
    writer.finish()
    proc = run_dbt(tmp_path, "run", "--select", "+int_household_memberships_spanned")
    assert proc.returncode == 0, proc.stdout[-4000:]

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        got = con.sql(
            "select household_key, member_id, person_key, source_person_id, relation_to_head, is_relation_known, "
            "household_no_masked, valid_from, valid_to, last_listed_date, is_current, membership_key "
            "from intermediate.int_household_memberships_spanned"
        ).pl()
    want = _expected(snapshots, start)
    assert want.height > 150, "the histories hold too few spells to say anything"
    assert got.select(pl.col("membership_key").n_unique()).item() == got.height
    got = got.drop("membership_key").sort(["household_key", "member_id", "valid_from"])
    assert got.columns == want.columns
    assert got.cast(want.schema).equals(want), (
        got.join(want, on=got.columns, how="anti").head(5),
        want.join(got, on=want.columns, how="anti").head(5),
    )
