"""dim_household and bridge_household_member against the generator's truth, after one real `zhili run`.

The seed is one whose register starts exporting 户号/与户主关系 in its second weekly snapshot, so the run
also reads a snapshot without them (schema history, which must not be reported as drift).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion.generator import generate
from ingestion.generator.truth import household_members, household_members_against
from ingestion.pseudonym import load_or_create_key

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    generate(out, residents=3000, days=21, seed=4)
    params = json.loads((out / "truth" / "params.json").read_text())
    assert params["register"]["household_from_week"] == 1, "the seed no longer exports households from week 2"
    home = out / "home"
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--landing", str(out / "landing"), "--home", str(home)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    con = duckdb.connect(str(home / "serving" / "zhili.duckdb"), read_only=True)
    yield out / "truth", home, con, proc.stdout
    con.close()


def test_household_columns_are_contract_columns_not_drift(built):
    _, home, _, stdout = built
    assert "户号" not in stdout and "与户主关系" not in stdout
    ledger = pl.concat([pl.read_parquet(p) for p in (home / "ledger").glob("*.parquet")], how="diagonal_relaxed")
    register = ledger.filter((pl.col("feed") == "police_population") & (pl.col("status") == "loaded"))
    assert register.height >= 3
    for row in register.iter_rows(named=True):
        assert "户号" not in (row["unknown_columns"] or "") and "户号" not in (row["missing_optional"] or ""), row


def test_household_members_equal_the_truth(built):
    truth, home, con, _ = built
    key = load_or_create_key(home / "state" / "secret.key")
    want, got = household_members_against(truth, con, key)
    assert want.height > 1000
    missing = want.join(got, on=["household_key", "member_id"], how="anti")
    extra = got.join(want, on=["household_key", "member_id"], how="anti")
    # the target is 0.5 %; a 户号 the register typed one digit short is another household to us
    assert missing.height + extra.height <= 0.005 * want.height, (missing.height, extra.height, want.height)


def test_household_sizes_and_heads_equal_the_truth(built):
    truth, home, con, _ = built
    key = load_or_create_key(home / "state" / "secret.key")
    want, _ = household_members_against(truth, con, key)
    sizes = want.group_by("household_key").agg(pl.len().alias("truth"))
    mart = con.sql(
        "select household_key, member_count as mart, has_one_head from marts.dim_household where is_current"
    ).pl()
    both = sizes.join(mart, on="household_key", how="full", coalesce=True).fill_null(0)
    wrong = both.filter(pl.col("truth") != pl.col("mart"))
    assert wrong.height <= 0.005 * sizes.height, wrong
    hh = pl.read_parquet(truth / "households.parquet")
    heads = household_members(truth).join(hh.select("person_id", "relation_to_head"), on="person_id")
    with_head = heads.filter(pl.col("relation_to_head") == "户主")["household_no"].n_unique()
    assert abs(int(mart["has_one_head"].sum()) - with_head) <= max(2, 0.005 * with_head)


def test_a_member_who_left_has_a_closed_spell(built):
    _, _, con, _ = built
    closed = con.execute(
        "select count(*) from marts.bridge_household_member where not is_current "
        "and (valid_to is null or valid_to < valid_from)"
    ).fetchall()[0][0]
    assert closed == 0
    open_ = con.execute(
        "select count(*) from marts.bridge_household_member where is_current and valid_to is not null"
    ).fetchall()[0][0]
    assert open_ == 0
