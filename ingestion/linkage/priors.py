"""The shipped linkage priors: a Splink model estimated on generated deliveries, for districts too young or
too small to train one (``probabilistic.enough_to_train``).

``models/<version>.json`` is Splink's own model JSON (``linker.misc.save_model_to_json``; load it with
``Linker(table, settings=<path or dict>)``); ``models/<version>.provenance.json`` says how it was made:
generator seeds and sizes, date, code commit, Splink version, and the SHA-256 of the model file.

How it is estimated (``train``), per generated district of several seeds and sizes:

* the district is generated (``ingestion.generator``) and ingested as ``zhili run`` would, and its records
  go through the linkage's own preparation (``core.comparison_units``), so the priors see exactly the
  units Splink compares at run time;
* m, pooled over all districts: the comparison levels of every truly matching pair of units (the
  generator's truth) that the model decides — at least one side without a valid ID — via
  ``estimate_m_from_pairwise_labels``, smoothed add-one so that a level the generator never produces
  (a one-character typo of a name) is unlikely, not impossible. Truth is the better estimator here than
  EM: no blocking column is left out, and no pass lacks pairs;
* u: random sampling in each district, averaged. Only a fallback: at run time u is re-estimated on the
  district's own records, keeping these values for levels its sample never shows;
* λ: the true share of matching pairs in each district; at run time λ is re-estimated by deterministic
  rules, and only when they find nothing is it taken from here, scaled to the district's number of
  units (a person has about as many records in a small district as in a large one, so λ·(units - 1) is
  what carries over).

Reproduce (about 6 minutes from scratch on 2 shared cores: five districts generated and ingested, the 100k one
most of it; 1.5 minutes once they exist under --work; the same districts and code give the same bytes)::

    .venv/bin/python -m ingestion.linkage.priors train --out ingestion/linkage/models/priors-v2.json --work /tmp/priors-work

``priors-v1`` was estimated on the earlier generator (fixed quirk rates, one county); ``priors-v2`` on the one
that draws them per seed (truth/params.json). Scored with benchmarks/bench_linkage.py --model priors on unseen
seeds the two are within a few pairs of each other (F1 without a valid ID, v1 -> v2: 5,000 x 28 seed 7
0.9926 -> 0.9926, seed 11 0.9963 -> 0.9951, 5,000 x 7 seed 3 0.9732 -> 0.9732, 30,000 x 28 seed 7
0.9875 -> 0.9878, 100,000 x 30 seed 7 0.9868 -> 0.9869); v2 is used because it describes the records the
generator now makes. v1 stays beside it: links scored with it name it in their model_source.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

__all__ = ["MODELS", "PRIORS_VERSION", "Priors", "PriorsError", "load_priors", "train"]

log = logging.getLogger(__name__)

#: The priors the linkage uses; a new estimate is a new version beside the old one, never an overwrite.
PRIORS_VERSION = "priors-v2"
MODELS = Path(__file__).resolve().parent / "models"
#: (residents, days, seed) of the generated districts the priors are estimated on. Seeds differ from the
#: benchmarks' (7, 11), so the benchmark scores the priors on districts they have not seen.
DEFAULT_DATASETS = ((5_000, 28, 101), (5_000, 7, 104), (30_000, 28, 102), (30_000, 28, 103), (100_000, 30, 105))


class PriorsError(ValueError):
    """The shipped priors are missing, altered, or were estimated for other comparisons than the code's."""


@dataclass(frozen=True)
class Priors:
    version: str
    settings: dict  # Splink's model JSON, as a dict: Linker(table, settings=priors.settings)
    provenance: dict

    def scoring_settings(self) -> dict:
        """The model to score with: the priors' parameters, the code's blocking rules (which pairs are
        compared is the code's business, and ``score_pairs`` names each pair's rule by its index in them)."""
        return {
            **self.settings,
            "blocking_rules_to_generate_predictions": _code_settings()["blocking_rules_to_generate_predictions"],
        }

    def scaled_lambda(self, units: int) -> float:
        """λ for a district of ``units`` units: the generated districts' λ·(units - 1), averaged, over units - 1."""
        per_unit = [d["lambda"] * (d["splink_units"] - 1) for d in self.provenance["datasets"]]
        return min(0.5, (sum(per_unit) / len(per_unit)) / max(units - 1, 1))


def _structure(model: dict) -> list:
    """What must agree between a model file and the code's comparisons: names and each level's SQL."""
    return [
        (c["output_column_name"], [level.get("sql_condition") for level in c["comparison_levels"]])
        for c in model["comparisons"]
    ]


def _code_settings() -> dict:
    from .probabilistic import settings

    return settings().get_settings("duckdb").as_dict()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=4)
def load_priors(version: str = PRIORS_VERSION, folder: Path = MODELS) -> Priors:
    """The shipped priors ``version``, checked against their provenance and the code's comparisons."""
    model_path, prov_path = folder / f"{version}.json", folder / f"{version}.provenance.json"
    for path in (model_path, prov_path):
        if not path.is_file():
            raise PriorsError(
                f"{path}: the linkage priors {version!r} are missing; reinstall zhili, or rebuild them with "
                f"`python -m ingestion.linkage.priors train --out {model_path}`"
            )
    provenance = json.loads(prov_path.read_text(encoding="utf-8"))
    digest = _sha256(model_path)
    if provenance.get("model_sha256") != digest:
        raise PriorsError(
            f"{model_path}: its SHA-256 {digest[:12]}… is not the {str(provenance.get('model_sha256'))[:12]}… its provenance "
            f"records; the model was changed after it was estimated: retrain it under a new version"
        )
    model = json.loads(model_path.read_text(encoding="utf-8"))
    if _structure(model) != _structure(_code_settings()):
        raise PriorsError(
            f"{model_path}: estimated for other comparisons than ingestion.linkage.probabilistic.settings() defines; "
            f"retrain with `python -m ingestion.linkage.priors train --out {folder}/<new version>.json`"
        )
    return Priors(version=version, settings=model, provenance=provenance)


# --- estimation on generated districts ------------------------------------------------------------------

_JOIN = ["feed", "file", "sheet", "record_no", "member_no"]


def _district(work: Path, residents: int, days: int, seed: int) -> Path:
    """A generated and ingested district under ``work`` (made once, reused)."""
    from ingestion.generator import generate
    from ingestion.planner import ingest_landing
    from ingestion.pseudonym import load_or_create_key
    from ingestion.zones import Zones

    base = work / f"gen-{residents}-{days}-{seed}"
    if not (base / "truth" / "person_records.parquet").is_file():
        log.info("priors: generating %d residents x %d days, seed %d", residents, days, seed)
        generate(base, residents=residents, days=days, seed=seed)
    zones = Zones(base / "home")
    if not (zones.person_records().is_dir() and any(zones.person_records().glob("*.parquet"))):
        ingest_landing(base / "landing", zones, key=load_or_create_key(zones.secret_file))
    return base


def labelled_units(base: Path) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Splink's input units of a generated district with each unit's true person, the truly matching pairs
    the model decides (at least one side without a valid ID), and the number of all truly matching pairs."""
    from ingestion.zones import Zones

    from .core import collapse, comparison_units
    from .features import record_locator

    files = sorted(Zones(base / "home").person_records().glob("*.parquet"))
    records = pl.scan_parquet(files, missing_columns="insert", schema=None)
    truth = pl.read_parquet(base / "truth" / "person_records.parquet", columns=[*_JOIN, "person_id"])
    located = (
        records.select(*_JOIN, record_locator().alias("record_locator")).collect().join(truth, on=_JOIN, how="inner")
    )
    # a profile's truth is its (smallest) record's; a unit holds one or more profiles and takes the person
    # most of them are (a unit mixes people only where IDs collide)
    prepared, units, rid_unit, splink_in, _ = comparison_units(collapse(records))
    person = (
        prepared.select("rid", "record_locator")
        .join(located.select("record_locator", "person_id"), on="record_locator", how="inner")
        .join(rid_unit.select("rid", pl.col("unique_id").cast(pl.Int64)), on="rid")
        .group_by("unique_id")
        .agg(pl.col("person_id").drop_nulls().mode().sort().first())
    )
    scored = splink_in.join(person, on="unique_id", how="left")
    known = scored.filter(pl.col("person_id").is_not_null()).select(
        "unique_id", "person_id", pl.col("id_key").is_null().alias("open")
    )
    pairs = known.join(known, on="person_id", suffix="_r").filter(pl.col("unique_id") < pl.col("unique_id_r"))
    decided = pairs.filter(pl.col("open") | pl.col("open_r")).select(
        pl.col("unique_id").alias("unique_id_l"), pl.col("unique_id_r")
    )
    return scored, decided, pairs.height


def train(out: Path, work: Path, datasets=DEFAULT_DATASETS, *, seed: int = 42) -> dict:
    """Estimate the priors on generated districts and write ``out`` and its provenance beside it."""
    import duckdb
    import splink
    from splink import DuckDBAPI, Linker

    from .probabilistic import settings, splink_quiet

    tables, labels, described, u_values = [], [], [], []
    offset = 0
    for residents, days, dseed in datasets:
        base = _district(work, residents, days, dseed)
        units, decided, true_pairs = labelled_units(base)
        n = units.height
        described.append(
            {
                "residents": residents,
                "days": days,
                "seed": dseed,
                "splink_units": n,
                "open_units": units.filter(pl.col("id_key").is_null()).height,
                "labelled_pairs": decided.height,
                "lambda": true_pairs / (n * (n - 1) / 2) if n > 1 else 0.0,
            }
        )
        # u of this district alone: random pairs of two districts would be two populations
        con = duckdb.connect()
        con.register("units_arrow", units.drop("person_id").to_arrow())
        con.execute("create table units as select * from units_arrow")
        with splink_quiet():
            linker = Linker(DuckDBAPI(connection=con).register("units"), settings(), log_level=None)
            linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=seed)
        u_values.append(
            {
                (c.output_column_name, level.label_for_charts): level.u_probability
                for c in linker._settings_obj.comparisons
                for level in c.comparison_levels
                if not level.is_null_level
            }
        )
        con.close()
        tables.append(units.drop("person_id").with_columns(pl.col("unique_id") + offset))
        labels.append(decided.with_columns(pl.col("unique_id_l") + offset, pl.col("unique_id_r") + offset))
        offset += int(units["unique_id"].max()) + 1
        log.info("priors: %s", described[-1])

    # m, pooled over every district's labelled pairs (disjoint unique_id ranges; labels never cross districts)
    con = duckdb.connect()
    con.execute("set threads to 2")
    con.register("units_arrow", pl.concat(tables, how="vertical_relaxed").to_arrow())
    con.execute("create table units as select * from units_arrow")
    con.register("labels_arrow", pl.concat(labels).to_arrow())
    con.execute("create table labels as select * from labels_arrow")
    with splink_quiet():
        linker = Linker(DuckDBAPI(connection=con).register("units"), settings(), log_level=None)
        linker.training.estimate_m_from_pairwise_labels("labels")
    # add-one smoothing over the labelled pairs: a level the generated deliveries never show (a one-character
    # typo of a name, say) is unlikely in a match, not impossible, as it would be at Splink's m of 1e-6
    n = sum(d["labelled_pairs"] for d in described)
    unseen = []
    for c in linker._settings_obj.comparisons:
        levels = [level for level in c.comparison_levels if not level.is_null_level]
        for level in levels:
            key = (c.output_column_name, level.label_for_charts)
            seen = level.m_probability if level._m_is_trained else 0.0
            if not level._m_is_trained:
                unseen.append("/".join(key))
            level.m_probability = (seen * n + 1) / (n + len(levels))
            us = [u[key] for u in u_values if isinstance(u.get(key), float)]
            level.u_probability = sum(us) / len(us) if us else 1e-6
    lambdas = [d["lambda"] for d in described]
    linker._settings_obj._probability_two_random_records_match = sum(lambdas) / len(lambdas)
    model = linker.misc.save_model_to_json()
    con.close()
    # Splink names each linker's cached tables by a random uid: left out, so that the same districts and code
    # give the same bytes (the SHA-256 in the provenance), and each load gets a uid of its own
    model.pop("linker_uid", None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(model, indent=4) + "\n", encoding="utf-8")

    repo = Path(__file__).resolve().parents[2]
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    # uncommitted changes to the code that prepares or compares the units (not the model files just written)
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--", "ingestion", ":!ingestion/linkage/models"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    provenance = {
        "version": out.stem,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code_commit": commit or None,
        "code_dirty": bool(dirty),
        "splink_version": splink.__version__,
        "command": "python -m ingestion.linkage.priors train " + " ".join(sys.argv[2:])
        if sys.argv[1:2] == ["train"]
        else None,
        "method": {
            "m": "estimate_m_from_pairwise_labels, pooled: every truly matching pair of units with at least one side without a valid ID",
            "u": "estimate_u_using_random_sampling per district (max_pairs 5e6), mean; re-estimated at run time",
            "lambda": "true matching pairs / all pairs of units per district, mean; re-estimated at run time (deterministic rules), "
            "else scaled: mean(lambda * (units - 1)) / (units_here - 1)",
            "m_smoothing": "add-one over the labelled pairs: (m * pairs + 1) / (pairs + levels of the comparison)",
            "m_unseen_levels": unseen,
        },
        "datasets": described,
        "model_sha256": _sha256(out),
    }
    out.with_name(f"{out.stem}.provenance.json").write_text(
        json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return provenance


def _dataset(text: str) -> tuple[int, int, int]:
    try:
        size, seed = text.split(":")
        residents, days = size.split("x")
        return int(residents), int(days), int(seed)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"--dataset={text!r} should be RESIDENTSxDAYS:SEED, e.g. 30000x28:102"
        ) from err


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ingestion.linkage.priors", description="The shipped linkage priors.")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="estimate the priors on generated districts against their truth")
    t.add_argument("--out", type=Path, required=True, help=f"the model file to write, e.g. {MODELS}/priors-v3.json")
    t.add_argument("--work", type=Path, required=True, help="where the generated districts are made (and reused)")
    t.add_argument(
        "--dataset",
        type=_dataset,
        action="append",
        help="RESIDENTSxDAYS:SEED, repeatable (default: "
        + ", ".join(f"{r}x{d}:{s}" for r, d, s in DEFAULT_DATASETS)
        + ")",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    provenance = train(args.out, args.work, tuple(args.dataset or DEFAULT_DATASETS))
    print(json.dumps({k: provenance[k] for k in ("version", "datasets", "model_sha256")}, indent=1))


if __name__ == "__main__":
    main()
