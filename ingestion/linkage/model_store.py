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
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingestion.zones import Zones, write_atomic

__all__ = ["KeptModel", "ModelStoreError", "current_model", "fits_code", "keep_model", "model_name", "retrained_since"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^model-(\d+)\.json$")


class ModelStoreError(ValueError):
    """A kept model is altered, incomplete, or was made for other comparisons than the code's."""


@dataclass(frozen=True)
class KeptModel:
    name: str  # model-<n>
    settings: dict  # Splink's model JSON, as a dict
    provenance: dict

    @property
    def accept_threshold(self) -> float:
        return float(self.provenance["accept_threshold"])


def model_name(n: int) -> str:
    return f"model-{n}"


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
    return KeptModel(name=name, settings=json.loads(data), provenance=provenance)


def fits_code(model: KeptModel) -> bool:
    """Whether ``model`` was made for the comparisons the code defines (names and each level's SQL)."""
    from .priors import _code_settings, _structure

    return _structure(model.settings) == _structure(_code_settings())


def keep_model(zones: Zones, settings: dict, facts: dict) -> KeptModel:
    """Keep ``settings`` (Splink's model dict) as the home's next model version, with ``facts`` (how it was
    made: source, accept_threshold, files, counts) in its provenance; the model file first, the provenance
    last, so a version whose provenance exists is whole."""
    import splink

    folder = zones.linkage_models
    versions = _versions(folder) if folder.is_dir() else []
    name = model_name((versions[-1] if versions else 0) + 1)
    data = json.dumps(settings, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8")
    provenance = {
        "model": name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "splink_version": splink.__version__,
        **facts,
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
    return KeptModel(name=name, settings=settings, provenance=provenance)


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
