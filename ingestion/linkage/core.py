"""``link_persons`` (pure) and ``run_linkage`` (zones in, ``restricted/person_links`` out)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ingestion import fields as fr
from ingestion.pseudonym import person_key
from ingestion.zones import Zones

from .cluster import Clusters
from .deterministic import repair_ids
from .features import LOCATOR, prepare

__all__ = ["ACCEPT_PROBABILITY", "REVIEW_PROBABILITY", "LinkResult", "link_persons", "links_folder", "run_linkage"]

log = logging.getLogger(__name__)

#: A Splink link is accepted (match weight >= ~6.6) at or above this posterior probability.
ACCEPT_PROBABILITY = 0.99
#: Links in [REVIEW_PROBABILITY, ACCEPT_PROBABILITY) go to the review queue, never silently in or out.
REVIEW_PROBABILITY = 0.5

# gamma_name levels (probabilistic.settings): 4 identical, 3 same pinyin, 2 one character differs, 1 surname, 0 else
_NAME_AGREES = 2
# Which source's word counts most for the golden record: the police register is ID-checked.
_TRUST = {"police_population": 0, "civil_affairs": 1, "petitions": 2, "grid_events": 3, "police_incidents": 4}
_FEATURES = ["id_key", "id_head", "name_n", "name_py", "birth", "phone_n", "address_code", "grid_code", "community_code", "sex"]
_GOLDEN_ATTRS = ["name", "sex", "birth_date", "phone", "address_canonical", "address_code", "grid_code", "community_code", "street_code"]


@dataclass
class LinkResult:
    links: pl.DataFrame  # one row per personal record
    review: pl.DataFrame  # one row per uncertain or guard-refused pair, masked
    golden: pl.DataFrame  # one row per person, each attribute with its source record
    stats: dict = field(default_factory=dict)


def _node_keys(p: pl.DataFrame) -> pl.DataFrame:
    doc = pl.when((pl.col("id_status") == "foreign_doc") & pl.col("id_clean").is_not_null()).then(
        pl.concat_str(pl.lit("doc:"), pl.col("doc_type").fill_null(""), pl.lit(":"), pl.col("id_clean"))
    )
    reg = pl.when((pl.col("feed") == "police_population") & pl.col("source_key").is_not_null()).then(
        pl.lit("reg:") + pl.col("source_key")
    )
    return p.with_columns(doc_node=doc, reg_node=reg).with_columns(
        node=pl.coalesce(pl.lit("id:") + pl.col("id_key"), pl.col("doc_node"), pl.col("reg_node"), pl.lit("rec:") + pl.col("rid").cast(pl.String))
    )


def _units(p: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Distinct (node, features): what Splink compares. Returns (units, rid → unit_id)."""
    units = (
        p.group_by(["node", *_FEATURES])
        .agg(pl.col("rid").min().alias("first_rid"), pl.col("rid"))
        .sort("first_rid")
        .with_row_index("unique_id")
    )
    rid_unit = units.select("unique_id", "rid").explode("rid")
    return units.drop("rid"), rid_unit


def _splink_input(units: pl.DataFrame) -> pl.DataFrame:
    frame = units.select(
        pl.col("unique_id").cast(pl.Int64),
        "id_key",
        "id_head",
        pl.col("name_n").alias("name"),
        "name_py",
        pl.col("birth").alias("birth_date"),
        pl.col("phone_n").alias("phone"),
        "address_code",
        "grid_code",
        "community_code",
        "sex",
    )
    open_ = frame.filter(pl.col("id_key").is_null())
    # anchored units matter only where they share a blocking value with a unit that has no valid ID
    keep = pl.col("id_key").is_null()
    for cols in (["birth_date"], ["id_head"], ["phone"], ["name_py", "community_code"]):
        values = open_.select(cols).drop_nulls().unique()
        keep = keep | pl.struct(cols).is_in(values.select(pl.struct(cols)).to_series().implode())
    return frame.filter(keep)


def link_persons(records: pl.DataFrame, *, key: bytes) -> LinkResult:
    """Link personal records (``ingestion.schemas.PERSON_RECORDS``) into people.

    Returns per-record links (person_key, link_method, match_probability,
    match_weight, rule), the review queue and the golden records. Deterministic
    for the same records and key.
    """
    from .probabilistic import score_pairs

    t0 = time.perf_counter()
    stats: dict = {"records": records.height, "accept_probability": ACCEPT_PROBABILITY, "review_probability": REVIEW_PROBABILITY}
    p = prepare(records)
    repaired = repair_ids(p)
    stats["ids_repaired"] = repaired.height
    p = (
        p.join(repaired.select("rid", pl.col("id_key").alias("_fixed")), on="rid", how="left")
        .with_columns(
            is_repaired=pl.col("_fixed").is_not_null(),
            id_key=pl.coalesce("id_key", "_fixed"),
            # the ID is now the authority for birth date and sex, as for any valid ID
            birth=pl.when(pl.col("_fixed").is_not_null()).then(pl.col("_fixed").str.slice(6, 8).str.to_date("%Y%m%d", strict=False)).otherwise("birth"),
        )
        .drop("_fixed")
    )
    p = _node_keys(p)
    units, rid_unit = _units(p)
    splink_in = _splink_input(units)
    stats["units"] = units.height
    stats["splink_units"] = splink_in.height
    t1 = time.perf_counter()
    if splink_in.filter(pl.col("id_key").is_null()).height >= 2:
        run = score_pairs(splink_in, min_probability=REVIEW_PROBABILITY)
        pairs = run.pairs
        stats["lambda"] = run.probability_two_random_records_match
        stats["m_u"] = run.m_u
    else:
        pairs = pl.DataFrame(schema={"unique_id_l": pl.Int64, "unique_id_r": pl.Int64, "match_weight": pl.Float64, "match_probability": pl.Float64, "rule": pl.String})
    stats["splink_seconds"] = time.perf_counter() - t1
    stats["scored_pairs"] = pairs.height

    node_of = dict(zip(units["unique_id"].cast(pl.Int64).to_list(), units["node"].to_list()))
    clusters = Clusters()
    node_info = (
        p.group_by("node")
        .agg(pl.col("id_key").drop_nulls().first(), pl.col("birth").drop_nulls().first())
        .sort("node")
    )
    for node, id_key, birth in node_info.iter_rows():
        clusters.add(node, id_key=id_key, birth=birth)
    # deterministic edges: a register entry (人员编号) and a foreign document number name one person
    det = p.filter(pl.col("reg_node").is_not_null() & (pl.col("reg_node") != pl.col("node"))).select("node", pl.col("reg_node").alias("other"))
    det = pl.concat([det, p.filter(pl.col("doc_node").is_not_null() & (pl.col("doc_node") != pl.col("node"))).select("node", pl.col("doc_node").alias("other"))])
    for node in det["other"].unique().to_list():
        clusters.add(node)
    det_refused = clusters.merge_all(det.unique().sort("node", "other").iter_rows())

    # A link is accepted only above the threshold *and* when the names agree (identical, same pinyin or one
    # character apart): birth date and the head of an ID are correlated evidence and must not outvote a different name.
    name_agrees = pl.col("gamma_name") >= _NAME_AGREES if "gamma_name" in pairs.columns else pl.lit(True)
    accepted = pairs.filter((pl.col("match_probability") >= ACCEPT_PROBABILITY) & name_agrees).sort(
        ["match_probability", "unique_id_l", "unique_id_r"], descending=[True, False, False]
    )
    refused = []
    applied = []
    for uid_l, uid_r, prob in accepted.select("unique_id_l", "unique_id_r", "match_probability").iter_rows():
        reason = clusters.union(node_of[uid_l], node_of[uid_r])
        if reason is None:
            applied.append((uid_l, uid_r))
        else:
            refused.append((uid_l, uid_r, reason))
    stats["accepted_links"] = len(applied)
    stats["guard_refused"] = len(refused) + len(det_refused)

    # clusters → person keys: a valid ID keeps its own HMAC; others are named by their smallest locator
    nodes = node_info["node"].to_list()
    roots = pl.DataFrame({"node": nodes, "root": [str(clusters.find(n)) for n in nodes], "root_id": [clusters.ids[clusters.find(n)] for n in nodes]})
    p = p.join(roots, on="node", how="left")
    p = p.with_columns(
        _anchor=pl.coalesce(pl.col("root_id"), pl.lit("cluster:") + pl.col("record_locator").min().over("root"))
    ).with_columns(person_key=person_key(pl.col("_anchor"), key))

    # per record: the strongest applied link touching its unit
    if applied:
        app = pl.DataFrame(applied, schema={"unique_id_l": pl.Int64, "unique_id_r": pl.Int64}, orient="row").join(
            pairs.select("unique_id_l", "unique_id_r", "match_probability", "match_weight", "rule"), on=["unique_id_l", "unique_id_r"]
        )
        ends = pl.concat([app.rename({"unique_id_l": "u"}).drop("unique_id_r"), app.rename({"unique_id_r": "u"}).drop("unique_id_l")])
        best = ends.sort(["match_probability", "u"], descending=[True, False]).group_by("u", maintain_order=True).first()
    else:
        best = pl.DataFrame(schema={"u": pl.Int64, "match_probability": pl.Float64, "match_weight": pl.Float64, "rule": pl.String})
    p = p.join(rid_unit.select(pl.col("rid"), pl.col("unique_id").cast(pl.Int64).alias("u")), on="rid", how="left").join(best, on="u", how="left")
    cluster_size = pl.len().over("root")
    method = (
        pl.when(pl.col("id_status").is_in(["valid", "upgraded_15", "foreign_valid", "rescued_cert"]))
        .then(pl.lit("id_number"))
        .when(pl.col("is_repaired"))
        .then(pl.lit("id_repaired"))
        .when(pl.col("match_probability").is_not_null())
        .then(pl.lit("probabilistic"))
        .when(pl.col("node").str.starts_with("doc:") & (pl.len().over("node") > 1))
        .then(pl.lit("doc_number"))
        .when(pl.col("reg_node").is_not_null() & (cluster_size > 1))
        .then(pl.lit("register_entry"))
        .otherwise(pl.lit("singleton"))
    )
    rule = (
        pl.when(method == "id_number").then(pl.lit("valid_id:") + pl.col("id_status"))
        .when(method == "id_repaired").then(pl.lit("check_char_repair:one_edit_one_candidate"))
        .when(method == "probabilistic").then(pl.lit("splink:") + pl.col("rule"))
        .when(method == "doc_number").then(pl.lit("same_foreign_doc_number"))
        .when(method == "register_entry").then(pl.lit("same_register_entry"))
        .otherwise(pl.lit("no_link"))
    )
    links = p.select(
        *LOCATOR,
        "record_locator",
        "person_key",
        method.alias("link_method"),
        pl.col("match_probability"),
        pl.col("match_weight"),
        rule.alias("rule"),
        cluster_size.cast(pl.Int64).alias("cluster_records"),
    ).sort("record_locator")

    review = _review(p, units, pairs, refused, det_refused)
    golden = _golden(p)
    stats["persons"] = golden.height
    stats["review_pairs"] = review.height
    stats["seconds"] = time.perf_counter() - t0
    log.info(
        "linkage: %d records, %d persons, %d repaired IDs, %d accepted links, %d in review, %d refused by the guard, %.1fs",
        stats["records"], stats["persons"], stats["ids_repaired"], stats["accepted_links"], stats["review_pairs"], stats["guard_refused"], stats["seconds"],
    )
    return LinkResult(links=links, review=review, golden=golden, stats=stats)


def _review(p: pl.DataFrame, units: pl.DataFrame, pairs: pl.DataFrame, refused: list, det_refused: list) -> pl.DataFrame:
    side = (
        p.sort("rid")
        .group_by("u", maintain_order=True)
        .first()
        .select(
            "u",
            "record_locator",
            "person_key",
            "feed",
            "id_status",
            fr.mask_id(pl.coalesce("id_key", "id_clean")).alias("id_masked"),
            fr.mask_name(pl.col("name_n")).alias("name_masked"),
            pl.col("name_py"),
            fr.mask_phone(pl.col("phone_n")).alias("phone_masked"),
            pl.col("birth").alias("birth_date"),
            "sex",
            "grid_code",
            "community_code",
        )
    )
    name_agrees = pl.col("gamma_name") >= _NAME_AGREES if "gamma_name" in pairs.columns else pl.lit(True)
    band = pairs.filter((pl.col("match_probability") < ACCEPT_PROBABILITY) | ~name_agrees).with_columns(reason=pl.lit("uncertain_band"))
    if refused:
        ref = pl.DataFrame(refused, schema={"unique_id_l": pl.Int64, "unique_id_r": pl.Int64, "reason": pl.String}, orient="row")
        band = pl.concat([band, pairs.join(ref, on=["unique_id_l", "unique_id_r"])], how="diagonal_relaxed")
    gamma = [c for c in pairs.columns if c.startswith("gamma_")]
    cols = ["unique_id_l", "unique_id_r", "match_weight", "match_probability", "rule", "reason", *gamma]
    band = band.select([c for c in cols if c in band.columns])
    left = side.rename({c: f"{c}_l" for c in side.columns if c != "u"}).rename({"u": "unique_id_l"})
    right = side.rename({c: f"{c}_r" for c in side.columns if c != "u"}).rename({"u": "unique_id_r"})
    out = band.join(left, on="unique_id_l", how="left").join(right, on="unique_id_r", how="left")
    # pairs whose two sides ended up in one person anyway need no review
    out = out.filter((pl.col("person_key_l") != pl.col("person_key_r")) | (pl.col("reason") != "uncertain_band"))
    out = out.with_columns(
        pl.concat_str(pl.col("record_locator_l"), pl.col("record_locator_r"), separator="~").alias("pair_key"),
        (pl.col("name_py_l") == pl.col("name_py_r")).fill_null(False).alias("is_same_name_pinyin"),
    ).drop("name_py_l", "name_py_r", "unique_id_l", "unique_id_r")
    if det_refused:
        log.warning("linkage: %d deterministic links refused by the guard (register entry or document number with two IDs)", len(det_refused))
    return out.sort("match_probability", "pair_key", descending=[True, False])


def _golden(p: pl.DataFrame) -> pl.DataFrame:
    ranked = p.with_columns(
        _valid=pl.col("id_key").is_null().cast(pl.Int8),
        _trust=pl.col("feed").replace_strict(_TRUST, default=9, return_dtype=pl.Int8),
    ).sort(["person_key", "_valid", "_trust", "record_at", "record_locator"], descending=[False, False, False, True, False], nulls_last=True)
    aggs = [
        pl.col("id_key").drop_nulls().first().alias("id_number"),
        pl.len().alias("records"),
        pl.col("feed").n_unique().alias("feeds"),
    ]
    for a in _GOLDEN_ATTRS:
        aggs.append(pl.col(a).drop_nulls().first().alias(a))
        aggs.append(pl.col("record_locator").filter(pl.col(a).is_not_null()).first().alias(f"{a}_source"))
    return ranked.group_by("person_key", maintain_order=True).agg(aggs).sort("person_key")


def links_folder(zones: Zones) -> Path:
    return zones.home / "restricted" / "person_links"


def _write_atomic(frame: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.write_parquet(tmp)
    os.replace(tmp, path)


def run_linkage(zones: Zones, *, key: bytes) -> LinkResult:
    """Link every record under ``restricted/person_records`` and write
    ``restricted/person_links/{links,review,golden}.parquet``, each atomically."""
    source = zones.person_records()
    files = sorted(source.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{source}: no person records to link; ingest a landing first")
    records = pl.read_parquet(files, missing_columns="insert")
    result = link_persons(records, key=key)
    out = links_folder(zones)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(result.review, out / "review.parquet")
    _write_atomic(result.golden, out / "golden.parquet")
    _write_atomic(result.links, out / "links.parquet")  # last: dbt reads it as the signal that linkage ran
    return result
