"""The linkage model a home keeps: ``<home>/state/linkage/model-<n>.json`` and its provenance.

Every run links with the current (highest-numbered) model as it is — m, u, λ and the accept threshold
do not move from one day to the next, so neither do the links they decide. A model is made only when the
home has none yet (trained here when the records are enough, else the shipped priors with u and λ estimated
once on the district's records) or when a data officer retrains deliberately (``zhili linkage train``).
A new model is a new version beside the old ones, never an overwrite.

``model-<n>.json`` is Splink's own model JSON (``linker.misc.save_model_to_json``; Splink loads it with
``Linker(table, settings=<dict>)``). ``model-<n>.provenance.json`` says when and how it was made, from
which person-record files (md5s) and how many records, profiles and units, which Splink version, the
threshold links are accepted at, and the model file's SHA-256, checked on every load. It holds counts and
file digests only, nothing personal.

The name comparison's exact level is adjusted by the name's term frequency (a common name is weaker evidence).
Splink computes that table from whatever records it scores, so the same pair would weigh differently once
later records made its name commoner (a day scored incrementally against a full relink). The table is kept
with the model instead: ``<home>/restricted/linkage_models/model-<n>.tf_name.parquet`` (``name``,
``tf_name``), in the restricted zone because it lists names, its SHA-256 in the provenance (``tf_name_sha256``)
and checked on load. Every run scoring with the model uses that table (``probabilistic.score_pairs``). A model
kept before tables were kept has none: it scores as it did, with the table recomputed from each run's records,
and ``KeptModel.tf_name`` is None (its provenance has no ``tf_name_sha256``; ``tf_note`` says so).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ingestion.zones import Zones, write_atomic, write_parquet_atomic

__all__ = [
    "KeptModel",
    "ModelStoreError",
    "current_model",
    "fits_code",
    "keep_model",
    "model_name",
    "retrained_since",
    "tf_path",
]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^model-(\d+)\.json$")


class ModelStoreError(ValueError):
    """A kept model is altered, incomplete, or was made for other comparisons than the code's."""


@dataclass(frozen=True)
class KeptModel:
    name: str  # model-<n>
    settings: dict  # Splink's model JSON, as a dict
    provenance: dict
    tf_name: pl.DataFrame | None = None  # the name term frequencies it scores with; None: recomputed each run

    @property
    def accept_threshold(self) -> float:
        return float(self.provenance["accept_threshold"])


def model_name(n: int) -> str:
    return f"model-{n}"


def tf_path(zones: Zones, name: str) -> Path:
    """Where model ``name``'s name term-frequency table is kept: restricted, as it lists names."""
    return zones.home / "restricted" / "linkage_models" / f"{name}.tf_name.parquet"


def _versions(folder: Path) -> list[int]:
    # a version is whole once its provenance, written last, exists: a run killed in between left none
    return sorted(
        int(m.group(1))
        for p in folder.glob("model-*.json")
        if (m := _NAME.match(p.name)) and (folder / f"model-{m.group(1)}.provenance.json").exists()
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def current_model(zones: Zones) -> KeptModel | None:
    """The home's current model (highest version), checked against its provenance; None when it has none."""
    folder = zones.linkage_models
    versions = _versions(folder) if folder.is_dir() else []
    if not versions:
        return None
    name = model_name(versions[-1])
    path, prov_path = folder / f"{name}.json", folder / f"{name}.provenance.json"
    data = path.read_bytes()
    provenance = json.loads(prov_path.read_text(encoding="utf-8"))
    if provenance.get("model_sha256") != _sha256(data):
        raise ModelStoreError(
            f"{path}: its SHA-256 {_sha256(data)[:12]}… is not the {str(provenance.get('model_sha256'))[:12]}… its provenance "
            f"records; the model was changed after it was kept; retrain with `zhili linkage train --home {zones.home}`"
        )
    tf_name = None
    if "tf_name_sha256" in provenance:
        tf_file = tf_path(zones, name)
        if not tf_file.exists():
            raise ModelStoreError(
                f"{tf_file}: the name term-frequency table of {name} is missing; "
                f"retrain with `zhili linkage train --home {zones.home}`"
            )
        tf_data = tf_file.read_bytes()
        if provenance["tf_name_sha256"] != _sha256(tf_data):
            raise ModelStoreError(
                f"{tf_file}: its SHA-256 {_sha256(tf_data)[:12]}… is not the {provenance['tf_name_sha256'][:12]}… "
                f"the provenance of {name} records; the table was changed after it was kept; "
                f"retrain with `zhili linkage train --home {zones.home}`"
            )
        tf_name = pl.read_parquet(tf_file)
    else:
        provenance = {
            **provenance,
            "tf_note": "kept without a term-frequency table: recomputed from each run's records",
        }
    return KeptModel(name=name, settings=json.loads(data), provenance=provenance, tf_name=tf_name)


def fits_code(model: KeptModel) -> bool:
    """Whether ``model`` was made for the comparisons the code defines (names and each level's SQL)."""
    from .priors import _code_settings, _structure

    return _structure(model.settings) == _structure(_code_settings())


def keep_model(zones: Zones, settings: dict, facts: dict, tf_name: pl.DataFrame | None = None) -> KeptModel:
    """Keep ``settings`` (Splink's model dict) as the home's next model version, with ``facts`` (how it was
    made: source, accept_threshold, files, counts) in its provenance, and ``tf_name`` (``name``, ``tf_name``:
    the name term frequencies it scored with) beside it in the restricted zone; the model file and the table
    first, the provenance last, so a version whose provenance exists is whole."""
    import splink

    folder = zones.linkage_models
    versions = _versions(folder) if folder.is_dir() else []
    name = model_name((versions[-1] if versions else 0) + 1)
    data = json.dumps(settings, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8")
    tf_facts: dict = {}
    if tf_name is not None:
        tf_name = tf_name.select(pl.col("name").cast(pl.String), pl.col("tf_name").cast(pl.Float64)).sort("name")
        tf_file = tf_path(zones, name)
        tf_file.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(tf_name, tf_file)
        # counts and a digest only: the names themselves stay in the restricted zone
        tf_facts = {"tf_name_names": tf_name.height, "tf_name_sha256": _sha256(tf_file.read_bytes())}
    provenance = {
        "model": name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "splink_version": splink.__version__,
        **facts,
        **tf_facts,
        "model_sha256": _sha256(data),
    }
    write_atomic(folder / f"{name}.json", data)
    write_atomic(folder / f"{name}.provenance.json", json.dumps(provenance, indent=2, ensure_ascii=False))
    log.info(
        "linkage: kept %s (%s, accept threshold %.4f)",
        name,
        facts.get("source"),
        facts.get("accept_threshold", float("nan")),
    )
    return KeptModel(name=name, settings=settings, provenance=provenance, tf_name=tf_name)


def retrained_since(zones: Zones, built_with: str | None) -> str | None:
    """Why a warehouse built with the kept model ``built_with`` (``warehouse_build.json``'s
    ``linkage_model_version``) is out of date for linkage: a newer model kept since (``zhili linkage train``),
    whose links only a new build publishes; None when the build used the current model."""
    try:
        kept = current_model(zones)
    except ModelStoreError:
        return None  # the linkage step itself says what is wrong with it
    if kept is None or kept.name == built_with:
        return None
    return f"linkage model {kept.name} kept after the warehouse was built with {built_with or 'none'}"
