"""Stable person keys: which ``person_key`` each of today's clusters carries, and the aliases a change leaves.

Linkage names a cluster by its *natural key*: the keyed hash of its valid ID, else of its smallest record
locator. Left at that, a person's key would move whenever a record with a smaller locator joined them, and
vanish when two persons merged. ``assign_keys`` is the pure rule that keeps a published key where it is,
from what the previous run published (which key each record had) and today's clusters:

* a cluster with a valid ID keeps its ID's key: every feed's valid-ID record resolves to it on its own, so it
  is the one key that can survive any merge;
* any other cluster keeps the key most of its previously published records had, when it holds most of that
  key's records; of several such keys (two persons merged) the oldest issued survives (then the smallest);
* the other keys it absorbed leave an alias row ``old -> new`` (change ``merged``); records of a key that
  now sit in another cluster leave a row ``old -> that cluster's key`` (change ``split``);
* a cluster no published key survives into gets its natural key, or a key derived from it when that one
  was ever issued before (a key is never issued twice).

The registry (every key ever issued, with its date) and the alias history are kept in the restricted zone
(``restricted/person_links/keys.parquet``, ``aliases.parquet``); they hold keys, dates and counts only.
"""

from __future__ import annotations

import base64
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import polars as pl

__all__ = ["ALIAS_SCHEMA", "REGISTRY_SCHEMA", "KeyAssignment", "assign_keys"]

#: Every person key ever issued: when, and whether a valid ID or a cluster of records without one named it.
REGISTRY_SCHEMA: dict[str, pl.DataType] = {"person_key": pl.String, "issued_on": pl.Date, "origin": pl.String}
#: One row per key change: ``old_person_key`` -> ``new_person_key`` on ``changed_on``; ``current_person_key``
#: is where the old key's records are now (following later merges too); ``records``: how many records moved.
ALIAS_SCHEMA: dict[str, pl.DataType] = {
    "old_person_key": pl.String,
    "new_person_key": pl.String,
    "current_person_key": pl.String,
    "changed_on": pl.Date,
    "change": pl.String,
    "records": pl.Int64,
    "linkage_model": pl.String,
}


@dataclass
class KeyAssignment:
    keys: pl.DataFrame  # natural_key -> person_key, one row per cluster today
    registry: pl.DataFrame  # REGISTRY_SCHEMA, every key ever issued
    aliases: pl.DataFrame  # ALIAS_SCHEMA, the whole history with today's rows
    counts: dict = field(default_factory=dict)  # persons unchanged, merged, split, new; alias rows today


def _derived(natural: str, n: int) -> str:
    # the natural key is already keyed by the secret: a plain hash of it is as unguessable, and deterministic
    return base64.b32encode(hashlib.sha256(f"{natural}~{n}".encode()).digest()[:16]).decode().rstrip("=").lower()


def assign_keys(
    clusters: pl.DataFrame,
    overlap: pl.DataFrame,
    registry: pl.DataFrame | None = None,
    aliases: pl.DataFrame | None = None,
    *,
    changed_on: date,
    model: str | None = None,
) -> KeyAssignment:
    """Today's key for every cluster, and the alias rows the change leaves (module docstring).

    ``clusters``: ``natural_key`` (unique) and ``is_anchored`` (the cluster holds a valid ID), one row per
    cluster today. ``overlap``: ``natural_key``, ``old_key``, ``records``: how many of today's records in that
    cluster carried that key when last published (records new today are in no row). ``registry``,
    ``aliases``: what earlier runs kept (None or empty the first time; a published key missing from the
    registry counts as older than any it holds). ``model``: the linkage model, named in today's alias rows.
    """
    registry = pl.DataFrame(schema=REGISTRY_SCHEMA) if registry is None else registry
    aliases = pl.DataFrame(schema=ALIAS_SCHEMA) if aliases is None else aliases
    naturals = clusters["natural_key"].to_list()
    anchored = set(clusters.filter(pl.col("is_anchored"))["natural_key"].to_list())
    issued = dict(zip(registry["person_key"].to_list(), registry["issued_on"].to_list(), strict=True))

    holders: dict[str, list[tuple[str, int]]] = defaultdict(list)
    old_of: dict[str, list[str]] = defaultdict(list)
    for natural, old, records in overlap.select("natural_key", "old_key", "records").iter_rows():
        holders[old].append((natural, records))
        old_of[natural].append(old)
    # the cluster a published key belongs with: the one holding most of its records (ties: the cluster the key
    # names anyway, then the smallest natural key)
    home = {old: min(hs, key=lambda h, old=old: (-h[1], h[0] != old, h[0]))[0] for old, hs in holders.items()}

    assigned = {natural: natural for natural in anchored}
    for natural in sorted(set(naturals) - anchored):
        claims = [old for old in old_of.get(natural, ()) if home[old] == natural and old not in anchored]
        if claims:
            assigned[natural] = min(claims, key=lambda k: (issued.get(k) or date.min, k))
    used = set(assigned.values()) | set(issued) | set(holders)
    for natural in sorted(set(naturals) - set(assigned)):
        key, n = natural, 1
        while key in used:
            n += 1
            key = _derived(natural, n)
        assigned[natural] = key
        used.add(key)

    surviving = set(assigned.values())
    rows = []
    for old in sorted(holders):
        for natural, records in sorted(holders[old]):
            new = assigned[natural]
            if new == old:
                continue
            change = "merged" if natural == home[old] and old not in surviving else "split"
            rows.append((old, new, None, changed_on, change, int(records), model))
    today = pl.DataFrame(rows, schema=ALIAS_SCHEMA, orient="row")
    history = pl.concat([aliases.select(list(ALIAS_SCHEMA)).cast(ALIAS_SCHEMA), today])
    history = history.with_columns(current_person_key=_resolve(history, surviving))

    fresh = [k for k in dict.fromkeys(assigned[n] for n in naturals) if k not in issued and k not in holders]
    registry = pl.concat(
        [
            registry.select(list(REGISTRY_SCHEMA)).cast(REGISTRY_SCHEMA),
            # published before a registry was kept: their issue date is unknown
            pl.DataFrame(
                [(k, None, "published") for k in sorted(holders) if k not in issued],
                schema=REGISTRY_SCHEMA,
                orient="row",
            ),
            pl.DataFrame(
                [(k, changed_on, "id" if k in anchored else "cluster") for k in fresh],
                schema=REGISTRY_SCHEMA,
                orient="row",
            ),
        ]
    )
    unchanged = sum(
        1 for old, hs in holders.items() if len(hs) == 1 and assigned[hs[0][0]] == old and old_of[hs[0][0]] == [old]
    )
    counts = {
        "persons_unchanged": unchanged,
        "persons_merged": today.filter(pl.col("change") == "merged").height,
        "persons_split": today.filter(pl.col("change") == "split")["old_person_key"].n_unique(),
        "persons_new": sum(1 for n in naturals if n not in old_of),
        "alias_rows": today.height,
    }
    keys = pl.DataFrame(
        {"natural_key": naturals, "person_key": [assigned[n] for n in naturals]},
        schema={"natural_key": pl.String, "person_key": pl.String},
    )
    return KeyAssignment(keys=keys, registry=registry, aliases=history, counts=counts)


def _resolve(history: pl.DataFrame, surviving: set[str]) -> pl.Series:
    """Where each alias row's old key's records are now: its new key, followed through later merges."""
    forward: dict[str, str] = {}
    for old, new, change in history.select("old_person_key", "new_person_key", "change").iter_rows():
        if change == "merged":
            forward[old] = new  # history is in date order: a later merge of the same key wins

    def current(key: str) -> str | None:
        seen = set()
        while key not in surviving and key in forward and key not in seen:
            seen.add(key)
            key = forward[key]
        return key if key in surviving else None

    return pl.Series([current(k) for k in history["new_person_key"].to_list()], dtype=pl.String)
