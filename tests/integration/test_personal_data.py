"""Personal data stays where it belongs, checked against the generator's truth.

* A run's stdout/stderr, ``<home>/logs/*``, the Dagster instance in ``<home>/dagster`` (event log
  storage, compute logs) and the GX reports contain none of the true ID numbers and phones
  (plain substring search over the bytes).
* The serving snapshot's raw bytes and the Parquet exports contain none of them either, and no
  text column of the snapshot holds a valid citizen ID or a mobile number.
* Person keys change when the secret changes (``ZHILI_SECRET_FILE``) and equal no unkeyed hash of
  the ID (md5/sha1/sha256, hex or base32).
Small scale (CI): 1,000 residents over 5 days; ``ZHILI_PERSONAL_DATA_RESIDENTS`` / ``_DAYS`` for the
full-scale run (README).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import polars as pl
import pytest

from ingestion.generator import generate
from tests.pii import citizen_ids, mobiles
from tests.runs import scale, zhili_run


def _values(truth: Path) -> set[str]:
    persons = pl.read_parquet(truth / "persons.parquet")
    ids = {v for v in persons["id_number"].drop_nulls() if len(v) >= 15}
    phones = {v for v in persons["phone"].drop_nulls() if len(v) >= 11}
    return ids | phones


def _hits(path: Path, values: set[str]) -> list[str]:
    data = path.read_bytes()
    text = data.decode("utf-8", errors="ignore") + "\n" + data.decode("utf-16-le", errors="ignore")
    return sorted(v for v in values if v in text)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    out = tmp_path_factory.mktemp("pii")
    residents, days = scale("PERSONAL_DATA")
    generate(out, residents=residents, days=days, seed=41)
    home = out / "home"
    env = dict(os.environ, ZHILI_SECRET_FILE=str(out / "secret-a.key"))
    proc = zhili_run(out / "landing", home, env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(out=out, home=home, proc=proc, values=_values(out / "truth"), env=env)


def test_run_output_has_no_true_ids_or_phones(ran):
    text = ran["proc"].stdout + ran["proc"].stderr
    assert not [v for v in ran["values"] if v in text]


@pytest.mark.parametrize("where", ["logs", "dagster", "docs", "gates"])
def test_logs_and_dagster_event_log_have_no_true_ids_or_phones(ran, where):
    folder = ran["home"] / where
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    if where in ("logs", "dagster"):
        assert files, f"nothing under {folder}"
    leaks = {str(p.relative_to(ran["home"])): h[:3] for p in files if (h := _hits(p, ran["values"]))}
    assert not leaks, leaks


def test_serving_file_and_parquet_exports_have_no_true_ids_or_phones(ran):
    serving = ran["home"] / "serving"
    files = [serving / "zhili.duckdb", *sorted((serving / "parquet").glob("*.parquet"))]
    files += sorted((serving / "tables").rglob("*.parquet"))  # the table versions the catalogue's views read
    assert files[0].exists() and len(files) > 1
    leaks = {p.name: h[:3] for p in files if (h := _hits(p, ran["values"]))}
    assert not leaks, leaks


def test_no_text_column_of_the_snapshot_holds_an_id_or_mobile(ran):
    import duckdb

    found = {}
    with duckdb.connect(str(ran["home"] / "serving" / "zhili.duckdb"), read_only=True) as con:
        cols = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where data_type = 'VARCHAR' and schema_name in ('marts', 'ops')"
        ).fetchall()
        for schema, table, column in cols:
            values = [
                v
                for (v,) in con.execute(
                    f'select distinct "{column}" from {schema}."{table}" where "{column}" is not null'
                ).fetchall()
            ]
            bad = [v for v in values if citizen_ids(v) or mobiles(v)]
            if bad:
                found[f"{schema}.{table}.{column}"] = len(bad)
    assert not found, found


def _person_keys(home: Path) -> set[str]:
    files = sorted((home / "normalised" / "residents").glob("*.parquet")) or sorted(
        (home / "normalised").rglob("*.parquet")
    )
    keys = set()
    for f in files:
        frame = pl.read_parquet(f)
        if "person_key" in frame.columns:
            keys |= set(frame["person_key"].drop_nulls())
    return keys


def _unkeyed(ids: set[str]) -> set[str]:
    out = set()
    for v in ids:
        for raw in (v, v.upper(), v.lower()):
            for algo in ("md5", "sha1", "sha256"):
                d = hashlib.new(algo, raw.encode()).digest()
                out |= {d.hex(), d.hex().upper()}
                for digest in (d, d[:16]):
                    b = base64.b32encode(digest).decode()
                    out |= {b, b.rstrip("="), b.lower(), b.rstrip("=").lower()}
    return out


def test_person_keys_change_with_the_secret_and_are_no_plain_hash(ran):
    from ingestion.planner import ingest_landing
    from ingestion.zones import Zones
    from orchestration.settings import Settings

    keys_a = _person_keys(ran["home"])
    assert len(keys_a) > 100
    home_b = ran["out"] / "home-b"
    settings = Settings.resolve(
        landing=ran["out"] / "landing", home=home_b, env={"ZHILI_SECRET_FILE": str(ran["out"] / "secret-b.key")}
    )
    assert settings.secret_file == ran["out"] / "secret-b.key"
    ingest_landing(settings.landing, Zones(home_b), key=settings.key(), feeds=["grid_registry", "police_population"])
    keys_b = _person_keys(home_b)
    assert len(keys_b) > 100
    assert not keys_a & keys_b, "the same person keys under another secret"
    ids = set(pl.read_parquet(ran["out"] / "truth" / "persons.parquet")["id_number"].drop_nulls())
    assert not (keys_a | keys_b) & _unkeyed(ids)
    with __import__("duckdb").connect(str(ran["home"] / "serving" / "zhili.duckdb"), read_only=True) as con:
        cols = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where column_name like '%person_key%' and schema_name = 'marts'"
        ).fetchall()
        mart_keys = set()
        for s, t, c in cols:
            mart_keys |= {
                v for (v,) in con.execute(f'select distinct "{c}" from {s}."{t}" where "{c}" is not null').fetchall()
            }
    assert cols and mart_keys
    assert not mart_keys & _unkeyed(ids)
