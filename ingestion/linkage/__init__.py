"""一人一档: link every feed's personal records of the same person.

Three passes over ``restricted/person_records``:

1. deterministic (``deterministic``): valid normalised IDs (15-digit upgraded,
   rescued from 残疾证号 in normalisation), one-edit repair of IDs that fail
   their check character, identical foreign document numbers;
2. probabilistic (``probabilistic``): a Splink 5 Fellegi–Sunter model on
   DuckDB over Chinese-aware features (normalised name characters, pinyin,
   birth date incl. the date inside a damaged ID, phone, address/grid), its
   m/u/λ estimated on the records themselves when they are enough, else the
   priors shipped in ``models/`` (``priors``) with u and λ estimated here;
3. clustering (``cluster``): accepted links only, merged strongest first,
   refusing a merge that would join two different valid IDs or two different
   known birth dates.

``link_persons`` is the pure function; ``run_linkage`` reads and writes the
zones. A home keeps its Splink model (``model_store``: ``state/linkage/model-<n>.json``,
made once, retrained only by ``retrain`` / ``zhili linkage train``) and its
person keys (``keys``: a published ``person_key`` stays with its person; merges
and splits leave alias rows).
"""

from .core import ACCEPT_PROBABILITY, REVIEW_PROBABILITY, REVIEW_SCHEMA, LinkResult, link_persons, retrain, run_linkage
from .deterministic import repair_candidates
from .features import name_pinyin

__all__ = [
    "ACCEPT_PROBABILITY",
    "REVIEW_PROBABILITY",
    "REVIEW_SCHEMA",
    "LinkResult",
    "link_persons",
    "name_pinyin",
    "repair_candidates",
    "retrain",
    "run_linkage",
]
