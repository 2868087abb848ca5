"""Linkage on small and young districts (issue 19): one review schema whichever path the linkage took, the
shipped priors, the rule for training here, and the record of which model scored the pairs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from ingestion.linkage import REVIEW_SCHEMA, link_persons
from ingestion.linkage.features import VALID_ID_STATUSES
from ingestion.linkage.priors import MODELS, PRIORS_VERSION, PriorsError, load_priors
from ingestion.linkage.probabilistic import _EM_MAX_ITERATIONS, MIN_OPEN_UNITS, enough_to_train

KEY = b"k" * 32
SHIPPED = f"shipped:{PRIORS_VERSION}"


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    """A young district from the generator: 600 residents over 2 days, ingested (no Dagster)."""
    from ingestion.generator import generate
    from ingestion.planner import ingest_landing
    from ingestion.zones import Zones

    base = tmp_path_factory.mktemp("young_district")
    generate(base, residents=600, days=2, seed=5)
    zones = Zones(base / "home")
    ingest_landing(base / "landing", zones, key=KEY)
    records = pl.read_parquet(sorted(zones.person_records().glob("*.parquet")), missing_columns="insert")
    return base, records


# --- one review schema on every path ------------------------------------------------------------------


def _paths(records: pl.DataFrame) -> dict[str, tuple[pl.DataFrame, str]]:
    with_ids = records.filter(pl.col("id_status").is_in(VALID_ID_STATUSES))
    return {
        "auto: too young to train, the shipped priors": (records, "auto"),
        "forced: trained on the district's own records": (records, "trained"),
        "no candidate pairs: every record has a valid ID": (with_ids, "auto"),
    }


@pytest.fixture(scope="module")
def linked(district) -> dict[str, object]:
    _, records = district
    return {label: link_persons(frame, key=KEY, model=model) for label, (frame, model) in _paths(records).items()}


def test_review_has_one_schema_on_the_priors_trained_and_no_pairs_paths(linked):
    schemas = {label: result.review.schema for label, result in linked.items()}
    assert all(schema == pl.Schema(REVIEW_SCHEMA) for schema in schemas.values()), schemas
    sources = [result.stats["model_source"] for result in linked.values()]
    assert sources == [SHIPPED, "trained_here", "none:no_candidate_pairs"]


def test_a_young_district_uses_the_shipped_priors_and_says_why(linked):
    stats = next(iter(linked.values())).stats
    assert stats["model_source"] == SHIPPED
    assert stats["open_units"] < MIN_OPEN_UNITS
    assert f"fewer than {MIN_OPEN_UNITS}" in stats["not_trained_here"] or "EM" in stats["not_trained_here"]
    assert stats["lambda_method"] in ("deterministic_rules", "scaled_prior")
    assert stats["accepted_links"] > 0  # the priors link records without a valid ID, not exact IDs only


def test_splink_training_warnings_do_not_reach_stderr(district, capfd):
    _, records = district
    capfd.readouterr()
    result = link_persons(records, key=KEY, model="trained")
    err = capfd.readouterr().err
    assert "not observed" not in err and "WARNING" not in err, err[-2000:]
    assert result.stats["splink_warnings"] > 0  # Splink did warn (a young district leaves levels unobserved)


# --- the shipped priors -------------------------------------------------------------------------------


def _units(rows: list[dict]) -> pl.DataFrame:
    base = {
        "id_key": None,
        "id_head": None,
        "name": None,
        "name_py": None,
        "birth_date": None,
        "phone": None,
        "phones": None,
        "has_landline": False,
        "has_mobile": True,
        "home_address": None,
        "address_code": None,
        "grid_code": None,
        "community_code": None,
        "sex": None,
    }
    frame = pl.DataFrame([base | {"unique_id": i} | r for i, r in enumerate(rows)], infer_schema_length=None)
    return frame.with_columns(pl.col("birth_date").cast(pl.Date), pl.col("phones").cast(pl.List(pl.String)))


def test_the_shipped_priors_load_in_splink_from_their_file_and_score():
    import datetime as dt

    import duckdb
    from splink import DuckDBAPI, Linker

    person = {
        "name": "张伟",
        "name_py": "zhangwei",
        "birth_date": dt.date(1980, 1, 1),
        "phone": "13800000001",
        "phones": ["13800000001"],
        "grid_code": "G1",
        "community_code": "C1",
        "sex": "男",
    }
    other = {
        "name": "李娜",
        "name_py": "lina",
        "birth_date": dt.date(1991, 5, 2),
        "phone": "13900000002",
        "phones": ["13900000002"],
        "grid_code": "G2",
        "community_code": "C1",
        "sex": "女",
    }
    units = _units(
        [person, person | {"grid_code": None}, other]
        + [
            {
                "name": f"王{chr(0x4E00 + i)}",
                "name_py": f"wang{i}",
                "birth_date": dt.date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                "sex": "男",
            }
            for i in range(40)
        ]
    )
    con = duckdb.connect()
    con.register("u", units.to_arrow())
    con.execute("create table units as select * from u")
    linker = Linker(DuckDBAPI(connection=con).register("units"), str(MODELS / f"{PRIORS_VERSION}.json"), log_level=None)
    scored = pl.from_arrow(con.sql(f"select * from {linker.inference.predict().physical_name}").to_arrow_table())
    prob = {(a, b): p for a, b, p in scored.select("unique_id_l", "unique_id_r", "match_probability").iter_rows()}
    assert prob[(0, 1)] > 0.99
    assert prob.get((0, 2), 0.0) < 0.01


def test_the_priors_say_how_they_were_made():
    import splink

    priors = load_priors()
    prov = priors.provenance
    assert prov["version"] == PRIORS_VERSION and prov["splink_version"] == splink.__version__
    assert len(prov["code_commit"]) == 40 and prov["created_at"]
    sizes = {d["residents"] for d in prov["datasets"]}
    seeds = {d["seed"] for d in prov["datasets"]}
    assert len(sizes) >= 2 and len(seeds) >= 3
    # every m and u is a probability the file states, not a Splink default
    levels = [
        lv for c in priors.settings["comparisons"] for lv in c["comparison_levels"] if not lv.get("is_null_level")
    ]
    assert all(0 < lv["m_probability"] <= 1 and 0 < lv["u_probability"] <= 1 for lv in levels)
    # smoothed: a level no generated match showed is unlikely, not Splink's "impossible" 1e-6
    pairs = sum(d["labelled_pairs"] for d in prov["datasets"])
    assert min(lv["m_probability"] for lv in levels) >= 1 / (pairs + 6)


def test_earlier_priors_stay_beside_the_current_ones():
    # a new estimate is a new version; the old one stays loadable, for the provenance of links scored with it
    old = load_priors("priors-v1")
    assert old.version == "priors-v1" != PRIORS_VERSION
    assert old.provenance["model_sha256"] != load_priors().provenance["model_sha256"]


def test_the_priors_score_with_the_code_s_blocking_rules():
    from ingestion.linkage.probabilistic import BLOCKING_RULES

    priors = load_priors()
    stale = {**priors.settings, "blocking_rules_to_generate_predictions": [{"blocking_rule": "l.sex = r.sex"}]}
    rules = type(priors)(priors.version, stale, priors.provenance).scoring_settings()[
        "blocking_rules_to_generate_predictions"
    ]
    assert [r["blocking_rule"] for r in rules] == list(BLOCKING_RULES.values())


def test_scaled_lambda_keeps_pairs_per_unit():
    priors = load_priors()
    assert priors.scaled_lambda(1001) == pytest.approx(priors.scaled_lambda(101) * 100 / 1000)
    assert 0 < priors.scaled_lambda(2) <= 0.5


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    for suffix in (".json", ".provenance.json"):
        shutil.copy(MODELS / f"{PRIORS_VERSION}{suffix}", tmp_path / f"{PRIORS_VERSION}{suffix}")
    return tmp_path / f"{PRIORS_VERSION}.json", tmp_path / f"{PRIORS_VERSION}.provenance.json"


def test_a_changed_model_file_is_refused(tmp_path):
    model, _ = _copy(tmp_path)
    model.write_text(model.read_text().replace('"m_probability": 0.', '"m_probability": 0.0', 1))
    with pytest.raises(PriorsError, match=rf"{re.escape(PRIORS_VERSION)}\.json: its SHA-256 .* retrain"):
        load_priors(PRIORS_VERSION, tmp_path)


def test_priors_for_other_comparisons_are_refused(tmp_path):
    import hashlib

    model, prov = _copy(tmp_path)
    data = json.loads(model.read_text())
    data["comparisons"][0]["comparison_levels"][1]["sql_condition"] = "1 = 1"
    model.write_text(json.dumps(data))
    p = json.loads(prov.read_text())
    p["model_sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    prov.write_text(json.dumps(p))
    with pytest.raises(PriorsError, match="other comparisons"):
        load_priors(PRIORS_VERSION, tmp_path)


def test_missing_priors_say_how_to_rebuild_them(tmp_path):
    with pytest.raises(
        PriorsError, match=r"missing; reinstall zhili, or rebuild them with `python -m ingestion\.linkage\.priors train"
    ):
        load_priors("priors-v0", tmp_path)


def test_the_model_file_ships_as_package_data():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[4] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["ingestion.linkage"]
    assert any(Path(f"models/{PRIORS_VERSION}.json").match(p) for p in patterns)
    assert any(Path(f"models/{PRIORS_VERSION}.provenance.json").match(p) for p in patterns)


# --- when to train here ---------------------------------------------------------------------------------

CONVERGED = {"birth_date": 6, "phone": 9}


@pytest.mark.parametrize(
    ("open_units", "passes", "why"),
    [
        (MIN_OPEN_UNITS, CONVERGED, None),
        (MIN_OPEN_UNITS * 10, {"birth_date": _EM_MAX_ITERATIONS - 1, "phone": 1}, None),
        (MIN_OPEN_UNITS - 1, CONVERGED, "fewer than"),
        (0, {}, "fewer than"),
        (MIN_OPEN_UNITS, {"birth_date": 6, "phone": None}, "blocked on phone had no record pairs"),
        (MIN_OPEN_UNITS, {"birth_date": _EM_MAX_ITERATIONS, "phone": 9}, "blocked on birth_date did not converge"),
    ],
)
def test_training_here_needs_enough_open_units_and_converged_em(open_units, passes, why):
    got = enough_to_train(open_units, passes)
    assert got is None if why is None else why in got


def test_a_level_em_never_observed_takes_the_priors_m(linked):
    """Forced to train on a young district, EM leaves levels unobserved: they score with the shipped m, not
    Splink's default."""
    result = linked["forced: trained on the district's own records"]
    filled = result.stats["training"]["m_from_priors"]
    assert filled, "a 600-resident district should leave some level unobserved"
    shipped = {
        (c["output_column_name"], lv["label_for_charts"]): lv["m_probability"]
        for c in load_priors().settings["comparisons"]
        for lv in c["comparison_levels"]
        if not lv.get("is_null_level")
    }
    m_u = result.stats["m_u"]
    for level in filled:
        comparison, label = level.split("/", 1)
        got = m_u.filter((pl.col("comparison") == comparison) & (pl.col("level") == label))["m"].item()
        assert got == pytest.approx(shipped[(comparison, label)])


# --- the record of which model was used -------------------------------------------------------------------


def test_the_linkage_log_line_names_the_model():
    from orchestration.defs.warehouse.assets import _linkage_summary

    line = _linkage_summary(SimpleNamespace(stats={"records": 10, "persons": 4, "model_source": SHIPPED}))
    assert f"model_source={SHIPPED}" in line
