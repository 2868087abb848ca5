"""``link_persons`` (pure) and ``run_linkage`` (zones in, ``restricted/person_links`` out)."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from ingestion import fields as fr
from ingestion.pseudonym import person_key
from ingestion.schemas import conform
from ingestion.zones import Zones, write_parquet_atomic, write_with

from .cluster import NONE, REASONS, Clusters
from .deterministic import repair_ids
from .features import LOCATOR, prepare, record_locator
from .keys import assign_keys
from .model_store import KeptModel, current_model, fits_code, keep_model

__all__ = [
    "ACCEPT_PROBABILITY",
    "PROFILE",
    "REVIEW_PROBABILITY",
    "REVIEW_SCHEMA",
    "LinkResult",
    "collapse",
    "link_persons",
    "links_folder",
    "link_files",
    "retrain",
    "run_linkage",
]

log = logging.getLogger(__name__)

#: A Splink link is always accepted (match weight >= ~6.6) at or above this posterior probability; the
#: threshold actually used is estimated per run (``accept_threshold``) and may lie lower, down to ACCEPT_FLOOR.
ACCEPT_PROBABILITY = 0.99
#: Links in [REVIEW_PROBABILITY, ACCEPT_PROBABILITY) go to the review queue, never silently in or out.
REVIEW_PROBABILITY = 0.5

# gamma_name levels (probabilistic.settings): 4 identical, 3 same pinyin, 2 one character differs, 1 surname, 0 else
_NAME_AGREES = 2
# Which source's word counts most for the golden record: the police register is ID-checked.
_TRUST = {"police_population": 0, "civil_affairs": 1, "petitions": 2, "grid_events": 3, "police_incidents": 4}
_FEATURES = [
    "id_key",
    "id_head",
    "name_n",
    "name_py",
    "birth",
    "phone_keys",
    "home_address",
    "place_address",
    "place_grid",
    "place_community",
    "sex",
]
_GOLDEN_ATTRS = [
    "name",
    "sex",
    "birth_date",
    "phone",
    "address_canonical",
    "address_code",
    "grid_code",
    "community_code",
    "street_code",
]


#: What linkage reads of a record. Two records that agree on all of these are the same evidence: the
#: register's weekly snapshots repeat each entry unchanged, a benefit roll repeats each month. Such records
#: collapse into one *profile*, linked once; every record then takes its profile's link. The work and memory
#: of linkage follow the number of distinct profiles, not the number of snapshots delivered.
PROFILE = [
    "feed",
    "role",
    "source_key",
    "id_raw",
    "id_number",
    "id_status",
    "doc_type",
    "name",
    "name_status",
    "sex",
    "birth_date",
    "phone",
    "phones",
    "phone_kind",
    "address_canonical",
    "address_code",
    "grid_code",
    "community_code",
    "street_code",
]


#: The review queue's one schema (``review.parquet``, read by dbt's ``mart_link_review``), whichever path the
#: linkage took: a model trained here, the shipped priors, or no probabilistic pass at all (nothing to compare).
#: ``gamma_*`` are Splink comparison levels (-1 missing, 0 disagree, higher = closer); null when the pair was
#: not scored by Splink.
_REVIEW_SIDE = {
    "record_locator": pl.String,
    "person_key": pl.String,
    "feed": pl.String,
    "id_status": pl.String,
    "id_masked": pl.String,
    "name_masked": pl.String,
    "phone_masked": pl.String,
    "birth_date": pl.Date,
    "sex": pl.String,
    "grid_code": pl.String,
    "community_code": pl.String,
}
REVIEW_SCHEMA: dict[str, pl.DataType] = {
    "pair_key": pl.String,
    "match_probability": pl.Float64,
    "match_weight": pl.Float64,
    "rule": pl.String,
    "reason": pl.String,
    "gamma_name": pl.Int32,
    "gamma_birth_date": pl.Int32,
    "gamma_id_head": pl.Int32,
    "gamma_phone": pl.Int32,
    "gamma_place": pl.Int32,
    "gamma_sex": pl.Int32,
    "is_same_name_pinyin": pl.Boolean,
    **{f"{c}_l": t for c, t in _REVIEW_SIDE.items()},
    **{f"{c}_r": t for c, t in _REVIEW_SIDE.items()},
}


@dataclass
class ScoredPairs:
    """The pairs a kept model scored (``model``), by unit hash: reused the next day, never scored again.

    ``units``: the hash of every unit Splink saw; ``pairs``: ``unit_l``, ``unit_r`` and the pair's scores and
    comparison levels. Hashes and scores only, nothing personal.
    """

    model: str
    units: pl.Series
    pairs: pl.DataFrame


@dataclass
class LinkResult:
    links: pl.DataFrame | None  # one row per personal record (None when written straight to a file: run_linkage)
    review: pl.DataFrame  # one row per uncertain or guard-refused pair, masked
    golden: pl.DataFrame  # one row per person, each attribute with its source record
    stats: dict = field(default_factory=dict)
    profiles: pl.DataFrame | None = None  # one row per profile: its link, which every record of it takes
    model: dict | None = None  # the Splink model that scored (its JSON dict); None when nothing was compared
    scored: ScoredPairs | None = None  # what a kept model scored, for the next run to reuse
    tf_name: pl.DataFrame | None = None  # the name term frequencies the model scored with, kept with it


def _peak(stats: dict, stage: str) -> None:
    """The process's peak resident memory so far, in MB, after ``stage`` (``stats["peak_rss_mb"]``): where a
    large linkage's memory goes (the benchmark prints it)."""
    stats.setdefault("peak_rss_mb", {})[stage] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _profile_columns() -> list[pl.Expr]:
    """The profile's columns as a profile holds them. A record's own key (a 12345 order, a visit, a deed) makes
    no difference to who a record with a valid ID is, so records of one feed and role with the same identity
    are one profile whatever their keys; a register entry keeps its 人员编号 (the register-entry link), and a
    record without a valid ID its own key (two anonymous callers at one address are not one profile)."""
    own = (pl.col("feed") == "police_population") | pl.col("id_number").is_null()
    return [pl.when(own).then(pl.col(c)).alias(c) if c == "source_key" else pl.col(c) for c in PROFILE]


def _profile_key() -> pl.Expr:
    # a 64-bit hash of the profile's columns, computed the same way when collapsing and when expanding
    return pl.struct(_profile_columns()).hash(seed=20241101).alias("profile")


#: records per collapse partition: above it, profiles are collapsed one hash partition of them at a time
COLLAPSE_PART_RECORDS = 4_000_000


def collapse(records: pl.LazyFrame, *, parts: int | None = None) -> pl.DataFrame:
    """One row per distinct profile: its columns, how many records hold it, its smallest record locator
    (``record_locator``: names the profile, and a person without a valid ID by it), and when and where it was
    last stated (``record_at``, ``latest_locator``: the golden record's recency and source).

    Streams: the records themselves are never all in memory, only the profiles. Only aggregations the
    streaming engine keeps small are used (``first()`` of the text columns, or a filter inside an aggregation,
    made Polars hold every record: 24 GB at a million residents); a profile's columns come from its
    first record by a streamed join on (profile, locator), its latest locator by one on (profile, time).

    ``parts``: how many partitions by profile hash to collapse one after the other (default: one per
    ``COLLAPSE_PART_RECORDS`` records). A profile's records all fall in one partition, so the result is the
    same; what the joins hold at once is a partition's, at the cost of reading the records once more per part.
    """
    keyed = records.select(*_profile_columns(), "record_at", record_locator().alias("record_locator")).with_columns(
        _profile_key()
    )
    if parts is None:
        parts = -(-records.select(pl.len()).collect().item() // COLLAPSE_PART_RECORDS)
    parts = max(1, parts)
    frames = [
        _collapse_part(keyed if parts == 1 else keyed.filter(pl.col("profile") % parts == k)) for k in range(parts)
    ]
    return pl.concat(frames).sort("record_locator")


def _collapse_part(keyed: pl.LazyFrame) -> pl.DataFrame:
    at = pl.col("record_at")
    stats = (
        keyed.select("profile", "record_at", "record_locator")
        .group_by("profile")
        .agg(pl.len().cast(pl.Int64).alias("records"), pl.col("record_locator").min(), at.max())
        .collect(engine="streaming")
    )
    columns = (
        keyed.select("profile", "record_locator", *PROFILE)
        .join(stats.lazy().select("profile", "record_locator"), on=["profile", "record_locator"])
        .drop("record_locator")
        .unique(subset="profile")  # one record per locator already; a guard all the same
        .collect(engine="streaming")
    )
    latest = (
        keyed.select("profile", "record_at", pl.col("record_locator").alias("latest_locator"))
        .join(stats.lazy().select("profile", "record_at").filter(at.is_not_null()), on=["profile", "record_at"])
        .group_by("profile")
        .agg(pl.col("latest_locator").min())
        .collect(engine="streaming")
    )
    return (
        columns.join(stats, on="profile")
        .join(latest, on="profile", how="left")
        .with_columns(latest_locator=pl.coalesce("latest_locator", "record_locator"))
        .select("profile", *PROFILE, "records", "record_locator", "record_at", "latest_locator")
    )


#: the profiles the last run collapsed, and of which files (``collapse_files``), in the links folder
PROFILES_FILE = "profiles.parquet"
#: the profiles file's metadata key: {"code": …, "files": {name: [size, mtime_ns]}}
PROFILES_KEY = "zhili_collapsed"


def _profile_code() -> str:
    """What a profile's hash and its columns depend on: this code's profile rule and the Polars that hashes."""
    parts = [inspect.getsource(f) for f in (_profile_columns, _profile_key, record_locator)]
    return hashlib.sha256(repr((PROFILE, parts, pl.__version__)).encode()).hexdigest()


def _file_marks(files: list[Path]) -> dict[str, list[int]]:
    # a person-records file is replaced whole (written aside, then renamed), so a rewrite changes its mark
    return {f.name: [st.st_size, st.st_mtime_ns] for f in files for st in (f.stat(),)}


def merge_profiles(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """Profiles collapsed from two sets of records, as ``collapse`` gives them for both sets together.

    A profile's columns are the same in every record that holds it (they are what the profile hashes); its
    counts add up, its smallest locator is the smaller one, its last statement the later one (on a tie, the
    smaller locator; with no time at all, its smallest locator).
    """
    at = pl.col("record_at")
    top = at.max().over("profile")
    return (
        pl.concat([a, b], how="vertical_relaxed")
        .with_columns(_latest=pl.when(top.is_null() | (at == top)).then(pl.col("latest_locator")))
        .group_by("profile")
        .agg(
            pl.col(PROFILE).first(),
            pl.col("records").sum(),
            pl.col("record_locator").min(),
            at.max(),
            pl.col("_latest").min().alias("latest_locator"),
        )
        .select(a.columns)
        .sort("record_locator")
    )


def _scan_records(files: list[Path]) -> pl.LazyFrame:
    # person-record files of older layouts lack later columns: read as nulls
    return pl.scan_parquet(files, missing_columns="insert", schema=None)


def collapse_files(files: list[Path], out: Path) -> tuple[pl.DataFrame, dict]:
    """``collapse`` of the records in ``files``, reusing what the last run collapsed (``out/profiles.parquet``).

    When every file collapsed before is still there unchanged (the daily case: a day brings new files), only
    the new files are collapsed and merged in (``merge_profiles``); otherwise (a file withdrawn or rewritten,
    another profile rule, another Polars) everything is collapsed again. Either way the result is the same,
    and it is kept for the next run. Returns the profiles and what was done (``stats``).
    """
    marks = _file_marks(files)
    path = out / PROFILES_FILE
    code = _profile_code()
    before = None
    if path.exists():
        try:
            before = json.loads(pl.read_parquet_metadata(path).get(PROFILES_KEY) or "null")
        except (OSError, ValueError, pl.exceptions.PolarsError):
            before = None  # an unreadable cache is collapsed again
    reusable = (
        isinstance(before, dict)
        and before.get("code") == code
        and all(marks.get(name) == mark for name, mark in before.get("files", {}).items())
    )
    if reusable:
        new = [f for f in files if f.name not in before["files"]]
        profiles = pl.read_parquet(path)
        if new:
            profiles = merge_profiles(profiles, collapse(_scan_records(new)))
        stats = {"collapsed_files": len(new), "reused_files": len(before["files"])}
    else:
        profiles, new = collapse(_scan_records(files)), files
        stats = {"collapsed_files": len(files), "reused_files": 0}
    if new or not reusable:
        out.mkdir(parents=True, exist_ok=True)
        meta = {PROFILES_KEY: json.dumps({"code": code, "files": marks})}
        write_with(path, lambda tmp: profiles.write_parquet(tmp, compression="zstd", metadata=meta))
    return profiles, stats


def expand(records: pl.LazyFrame, profiles: pl.DataFrame) -> pl.LazyFrame:
    """Every record with its profile's link (``profiles``: ``profile`` and the link columns)."""
    return (
        records.select(*LOCATOR, record_locator().alias("record_locator"), _profile_key())
        .join(profiles.lazy(), on="profile", how="left")
        .drop("profile")
    )


def _node_keys(p: pl.DataFrame) -> pl.DataFrame:
    doc = pl.when((pl.col("id_status") == "foreign_doc") & pl.col("id_clean").is_not_null()).then(
        pl.concat_str(pl.lit("doc:"), pl.col("doc_type").fill_null(""), pl.lit(":"), pl.col("id_clean"))
    )
    reg = pl.when((pl.col("feed") == "police_population") & pl.col("source_key").is_not_null()).then(
        pl.lit("reg:") + pl.col("source_key")
    )
    p = p.with_columns(doc_node=doc, reg_node=reg)
    # A roll without a 证件类型 column gives a passport number as a malformed ID (bad_chars, wrong_length):
    # it names that document when exactly one typed foreign document in the records has that number.
    typed = (
        p.filter(pl.col("doc_node").is_not_null())
        .group_by(pl.col("id_clean").alias("_num"))
        .agg(pl.col("doc_node").unique())
        .filter(pl.col("doc_node").list.len() == 1)
        .select("_num", pl.col("doc_node").list.first().alias("_typed"))
    )
    p = (
        p.join(typed, left_on="id_clean", right_on="_num", how="left")
        .with_columns(
            doc_node=pl.when(
                pl.col("id_status").is_in(["bad_chars", "wrong_length"])
                & pl.col("id_clean").str.contains(r"^[A-Z0-9]{8,}$")
            )
            .then(pl.col("_typed"))
            .otherwise(pl.col("doc_node"))
        )
        .drop("_typed")
        .sort("rid")
    )
    return p.with_columns(
        node=pl.coalesce(
            pl.lit("id:") + pl.col("id_key"),
            pl.col("doc_node"),
            pl.col("reg_node"),
            pl.lit("rec:") + pl.col("rid").cast(pl.String),
        )
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
        pl.col("phone_keys").list.first().alias("phone"),
        pl.col("phone_keys").alias("phones"),
        pl.col("phone_keys").list.eval(pl.element().str.contains("-")).list.any().alias("has_landline"),
        pl.col("phone_keys").list.eval(~pl.element().str.contains("-")).list.any().alias("has_mobile"),
        "home_address",
        pl.col("place_address").alias("address_code"),
        pl.col("place_grid").alias("grid_code"),
        pl.col("place_community").alias("community_code"),
        "sex",
    )
    open_ = frame.filter(pl.col("id_key").is_null())
    # anchored units matter only where they share a blocking value with a unit that has no valid ID
    keep = pl.col("id_key").is_null()
    for cols in (["birth_date"], ["id_head"], ["name_py", "community_code"], ["name_py", "address_code"]):
        values = open_.select(cols).drop_nulls().unique()
        keep = keep | pl.struct(cols).is_in(values.select(pl.struct(cols)).to_series().implode())
    numbers = open_.select(pl.col("phones").explode().drop_nulls().unique())["phones"]
    sharing = frame.select("unique_id", "phones").explode("phones").filter(pl.col("phones").is_in(numbers.implode()))
    keep = keep | pl.col("unique_id").is_in(sharing["unique_id"].unique().implode())
    return frame.filter(keep)


#: However the data fall, a link below this probability is never accepted, only reviewed.
ACCEPT_FLOOR = 0.9
#: The accepted links' expected share of false ones (mean of 1 - match probability) may not exceed this.
EXPECTED_FALSE_SHARE = 0.01


def accept_threshold(probabilities: pl.Series) -> float:
    """The acceptance threshold, estimated from the scored pairs themselves (no truth).

    The model's posterior says how likely each pair is a false link; the threshold is the lowest probability
    at which the accepted pairs (every pair at or above it) are still expected to hold no more than
    ``EXPECTED_FALSE_SHARE`` false links; never below ``ACCEPT_FLOOR`` nor above ``ACCEPT_PROBABILITY``.
    """
    floor = ACCEPT_FLOOR
    p = probabilities.drop_nulls().sort(descending=True)
    if p.is_empty():
        return ACCEPT_PROBABILITY
    # per distinct probability: a threshold accepts every pair at or above it, ties included
    steps = (
        p.to_frame("p")
        .group_by("p")
        .agg(pl.len().alias("n"), (1 - pl.col("p")).sum().alias("false"))
        .sort("p", descending=True)
        .with_columns(share=pl.col("false").cum_sum() / pl.col("n").cum_sum())
    )
    ok = steps.filter(pl.col("share") <= EXPECTED_FALSE_SHARE)["p"]
    if ok.is_empty():
        return ACCEPT_PROBABILITY
    return float(min(ACCEPT_PROBABILITY, max(floor, ok.min())))


def _node_index(p: pl.DataFrame, det: pl.DataFrame) -> pl.DataFrame:
    """The nodes in the order of their names, numbered (``ix``), with what the guard compares as codes.

    A node's birth date for the guard is its valid ID's own, else the date its records state most often; the
    nodes only a deterministic edge names (``det``'s ``other``) have neither. ``id_code`` numbers the valid IDs
    (equal codes, equal IDs) and ``birth_code`` is the date's day number; ``NONE`` where there is none.
    """
    info = p.group_by("node").agg(
        pl.col("id_key").drop_nulls().first(),
        pl.coalesce(
            pl.col("id_key").drop_nulls().first().str.slice(6, 8).str.to_date("%Y%m%d", strict=False),
            pl.col("birth").drop_nulls().mode().sort().first(),
        ).alias("birth"),
    )
    only_named = det.select(pl.col("other").alias("node")).unique().join(info, on="node", how="anti")
    return (
        pl.concat([info, only_named], how="diagonal_relaxed")
        .sort("node")
        .with_row_index("ix")
        .with_columns(
            pl.col("ix").cast(pl.Int64),
            id_code=(pl.col("id_key").rank("dense") - 1).cast(pl.Int64).fill_null(NONE),
            birth_code=pl.col("birth").cast(pl.Int64).fill_null(NONE),
        )
    )


def _unique_name_links(p: pl.DataFrame, clusters: Clusters) -> pl.Series:
    """Link records that carry nothing but a name to the one known person of that name; return their nodes.

    A grid worker often writes only the name of a person involved, and a caller may give a number no other
    record holds. Such a record joins a person when exactly
    one known person (one the police register or a valid ID names) was ever recorded under that normalised
    name. Anything else stays a singleton: a name shared by two people
    is never guessed. The record has no other evidence, so it cannot chain two people together.
    """
    # a number no other record gave links nothing: such a record too has only its name to go by
    shared = (
        p.select("node", pl.col("phone_keys").alias("k"))
        .explode("k")
        .drop_nulls()
        .unique()
        .group_by("k")
        .len()
        .filter(pl.col("len") > 1)["k"]
    )
    lone_phone = (
        pl.col("phone_keys").is_null()
        | ~pl.col("phone_keys").list.eval(pl.element().is_in(shared.implode())).list.any()
    )
    name_only = (
        pl.col("node").str.starts_with("rec:")
        & pl.col("id_key").is_null()
        & pl.col("id_head").is_null()
        & pl.col("birth").is_null()
        & lone_phone
        & pl.col("name_n").is_not_null()
    )
    roots = pl.Series("root", clusters.roots(), dtype=pl.Int64)
    with_root = pl.col("ix").map_batches(lambda ix: roots.gather(ix), return_dtype=pl.Int64).alias("root")
    lone = p.filter(name_only).select("ix", "name_n", with_root).filter(pl.col("root") == pl.col("ix"))
    # the known people: everyone the register or a valid ID names, with every name they were recorded under
    known = p.filter(
        ~name_only
        & pl.col("name_n").is_not_null()
        & (pl.col("id_key").is_not_null() | pl.col("reg_node").is_not_null())
    )
    known = known.select("ix", "name_n").unique().select("name_n", with_root)
    owner = known.group_by("name_n").agg(pl.col("root").unique()).filter(pl.col("root").list.len() == 1)
    owner = owner.select("name_n", pl.col("root").list.first().alias("owner"))
    edges = lone.join(owner, on="name_n").sort("ix")
    codes = clusters.merge_codes(edges["ix"].to_list(), edges["owner"].to_list())
    return edges["ix"].filter(pl.Series(codes, dtype=pl.Int8) == 0)


def link_persons(records: pl.DataFrame, *, key: bytes, model: str = "auto") -> LinkResult:
    """Link personal records (``ingestion.schemas.PERSON_RECORDS``) into people.

    Returns per-record links (person_key, link_method, match_probability,
    match_weight, rule), the review queue and the golden records. Deterministic
    for the same records and key.
    """
    result = link_profiles(collapse(records.lazy()), key=key, model=model)
    result.links = expand(records.lazy(), result.profiles).collect().sort("record_locator")
    return result


def comparison_units(
    profiles: pl.DataFrame, *, known_pinyin: dict[str, str | None] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """What the probabilistic pass compares, from ``collapse``'s profiles: ``(p, units, rid_unit, splink_in,
    ids_repaired)`` — the prepared profiles with their nodes, the distinct units, rid → unit, Splink's input.

    The one way in for scoring here and for estimating the shipped priors (``priors``) on generated data.
    """
    p = prepare(profiles, known_pinyin=known_pinyin)
    repaired = repair_ids(p)
    p = (
        p.join(repaired.select("rid", pl.col("id_key").alias("_fixed")), on="rid", how="left")
        .with_columns(
            is_repaired=pl.col("_fixed").is_not_null(),
            id_key=pl.coalesce("id_key", "_fixed"),
            # the ID is now the authority for birth date and sex, as for any valid ID
            birth=pl.when(pl.col("_fixed").is_not_null())
            .then(pl.col("_fixed").str.slice(6, 8).str.to_date("%Y%m%d", strict=False))
            .otherwise("birth"),
        )
        .drop("_fixed")
    )
    p = _node_keys(p)
    units, rid_unit = _units(p)
    splink_in = _splink_input(units)
    return p, units, rid_unit, splink_in, repaired.height


def link_profiles(
    profiles: pl.DataFrame,
    *,
    key: bytes,
    model: str = "auto",
    kept: KeptModel | None = None,
    known_pinyin: dict[str, str | None] | None = None,
    scored: ScoredPairs | None = None,
    scorer=None,
) -> LinkResult:
    """Link the profiles ``collapse`` made; ``LinkResult.profiles`` holds each profile's link, ``links`` is None.

    ``model``: which Splink parameters score the pairs (``probabilistic.score_pairs``): ``auto`` trains here
    when the records are enough, else uses the shipped priors; ``stats["model_source"]`` says which.
    ``kept``: the home's kept model (``model_store``) scores instead, at its own accept threshold and with its
    own name term frequencies, and nothing is estimated; ``LinkResult.model`` and ``LinkResult.tf_name`` are the
    model and the name term frequencies that scored, for the home to keep.
    ``known_pinyin``: names already converted to pinyin (``features.name_pinyin``), extended here.
    ``scored``: what the same kept model scored before: only pairs touching a unit it did not see are scored.
    ``scorer``: what scores the blocked pairs, with ``score_pairs``' arguments and result (default: it, on
    DuckDB); ``spark.SparkScorer`` scores a kept model on Spark.
    """
    from .probabilistic import score_pairs

    scorer = scorer or score_pairs

    t0 = time.perf_counter()
    stats: dict = {
        "records": int(profiles["records"].sum()),
        "profiles": profiles.height,
        "accept_probability": ACCEPT_PROBABILITY,
        "review_probability": REVIEW_PROBABILITY,
    }
    _peak(stats, "collapse")
    p, units, rid_unit, splink_in, stats["ids_repaired"] = comparison_units(profiles, known_pinyin=known_pinyin)
    _peak(stats, "comparison_units")
    stats["units"] = units.height
    stats["splink_units"] = splink_in.height
    t1 = time.perf_counter()
    run = None
    stats["open_units"] = splink_in.filter(pl.col("id_key").is_null()).height
    hashes = units.select(pl.col("unique_id").cast(pl.Int64), _unit_hash())
    reuse = kept is not None and scored is not None and scored.model == kept.name
    if reuse:
        seen = hashes.filter(pl.col("unit").is_in(scored.units.implode()))["unique_id"]
        splink_in = splink_in.with_columns(is_new=~pl.col("unique_id").is_in(seen.implode()))
        stats["splink_new_units"] = int(splink_in["is_new"].sum())
    # a candidate pair needs a unit without a valid ID and one other unit; the model is trained here or shipped
    if stats["open_units"] >= 1 and splink_in.height >= 2 and (not reuse or stats["splink_new_units"] > 0):
        run = scorer(
            splink_in,
            min_probability=REVIEW_PROBABILITY,
            model=model,
            kept=(kept.name, kept.settings) if kept else None,
            kept_tf=kept.tf_name if kept else None,
            only_new=reuse,
        )
    if kept is not None:
        stats["model"] = kept.name
    if run is not None:
        pairs = run.pairs
        stats["model_source"] = kept.provenance["source"] if kept is not None else run.model_source
        stats["lambda"] = run.probability_two_random_records_match
        stats["lambda_method"] = run.lambda_method
        if run.not_trained_here:
            stats["not_trained_here"] = run.not_trained_here
        stats["splink_warnings"] = run.splink_warnings
        stats["training"] = run.notes  # open units; when EM ran here: its iterations per pass, levels it never observed
        stats["m_u"] = run.m_u
    elif reuse:
        stats["model_source"] = kept.provenance["source"]
        pairs = pl.DataFrame(
            schema={
                "unique_id_l": pl.Int64,
                "unique_id_r": pl.Int64,
                "match_weight": pl.Float64,
                "match_probability": pl.Float64,
                "rule": pl.String,
            }
        )
    else:
        stats["model_source"] = "none:no_candidate_pairs"
        pairs = pl.DataFrame(
            schema={
                "unique_id_l": pl.Int64,
                "unique_id_r": pl.Int64,
                "match_weight": pl.Float64,
                "match_probability": pl.Float64,
                "rule": pl.String,
            }
        )
    if "id_head_l" in pairs.columns:
        # the review queue's columns: the ID head is compared inside the birth-date comparison, phones as a list
        pairs = pairs.with_columns(
            gamma_id_head=pl.when(pl.col("id_head_l").is_not_null() & pl.col("id_head_r").is_not_null())
            .then((pl.col("id_head_l") == pl.col("id_head_r")).cast(pl.Int32))
            .otherwise(pl.lit(-1, pl.Int32)),
            gamma_phone=pl.col("gamma_phones"),
        )
    today = None
    if run is not None or reuse:
        keep_cols = [
            c for c in pairs.columns if c in ("match_weight", "match_probability", "rule") or c.startswith("gamma_")
        ]
        by_unit = _to_units(pairs.select("unique_id_l", "unique_id_r", *keep_cols), hashes)
        if reuse:
            stats["pairs_reused"] = scored.pairs.height
            by_unit = pl.concat([scored.pairs, by_unit], how="diagonal_relaxed")
            # the pairs of today's units, under today's unique ids: a unit gone (its ID repaired since) takes its pairs
            pairs = _from_units(by_unit, hashes)
        today = ScoredPairs(
            model=kept.name if kept is not None else "",
            units=hashes.filter(pl.col("unique_id").is_in(splink_in["unique_id"].implode()))["unit"],
            pairs=by_unit,
        )
    stats["splink_seconds"] = time.perf_counter() - t1
    _peak(stats, "splink")
    stats["scored_pairs"] = pairs.height

    # the nodes, numbered in the order of their names (``cluster.Clusters``): every profile's node, and the
    # register entries and document numbers a deterministic edge names
    det = pl.concat(
        [
            p.filter(pl.col("reg_node").is_not_null() & (pl.col("reg_node") != pl.col("node"))).select(
                "node", pl.col("reg_node").alias("other")
            ),
            p.filter(pl.col("doc_node").is_not_null() & (pl.col("doc_node") != pl.col("node"))).select(
                "node", pl.col("doc_node").alias("other")
            ),
        ]
    ).unique()
    nodes = _node_index(p, det)
    clusters = Clusters(nodes["id_code"].to_numpy(), nodes["birth_code"].to_numpy())
    ix = nodes.select("node", "ix")
    p = p.join(ix, on="node", how="left")
    # deterministic edges: a register entry (人员编号) and a foreign document number name one person
    det = (
        det.join(ix, on="node").join(ix.rename({"node": "other", "ix": "other_ix"}), on="other").sort("ix", "other_ix")
    )
    det_refused = clusters.merge_all(det.select("ix", "other_ix").iter_rows())

    # A link is accepted only above the threshold *and* when the names agree (identical, same pinyin or one
    # character apart): birth date and the head of an ID are correlated evidence and must not outvote a different name.
    name_agrees = pl.col("gamma_name") >= _NAME_AGREES if "gamma_name" in pairs.columns else pl.lit(True)
    candidates = pairs.filter(name_agrees).sort(
        ["match_probability", "unique_id_l", "unique_id_r"], descending=[True, False, False]
    )
    # a kept model accepts at the threshold it was kept with: estimated again on each day's pairs, it moved
    threshold = kept.accept_threshold if kept is not None else accept_threshold(candidates["match_probability"])
    stats["accept_threshold"] = threshold
    unit_ix = units.select(pl.col("unique_id").cast(pl.Int64).alias("u"), "node").join(ix, on="node", how="left")
    accepted = (
        candidates.filter(pl.col("match_probability") >= threshold)
        .select("unique_id_l", "unique_id_r")
        .join(
            unit_ix.select(pl.col("u").alias("unique_id_l"), pl.col("ix").alias("ix_l")),
            on="unique_id_l",
            maintain_order="left",
        )
        .join(
            unit_ix.select(pl.col("u").alias("unique_id_r"), pl.col("ix").alias("ix_r")),
            on="unique_id_r",
            maintain_order="left",
        )
    )
    codes = clusters.merge_codes(accepted["ix_l"].to_list(), accepted["ix_r"].to_list())
    accepted = accepted.select("unique_id_l", "unique_id_r").with_columns(code=pl.Series(codes, dtype=pl.Int8))
    applied = accepted.filter(pl.col("code") == 0).drop("code")
    refused = accepted.filter(pl.col("code") != 0).select(
        "unique_id_l", "unique_id_r", pl.col("code").replace_strict(REASONS, return_dtype=pl.String).alias("reason")
    )
    stats["accepted_links"] = applied.height
    stats["guard_refused"] = refused.height + len(det_refused)
    unique_named = _unique_name_links(p, clusters)
    stats["unique_name_links"] = unique_named.len()
    p = p.with_columns(is_unique_name=pl.col("ix").is_in(unique_named.implode()))

    # clusters → person keys: a valid ID keeps its own HMAC; others are named by their smallest locator
    roots = pl.Series("root", clusters.roots(), dtype=pl.Int64)
    root_ids = nodes.select(pl.col("ix"), roots, root_id=pl.Series(clusters.id_codes()).gather(roots)).join(
        nodes.select(pl.col("id_code").alias("root_id"), pl.col("id_key").alias("_root_id")).unique(),
        on="root_id",
        how="left",
    )
    p = p.join(root_ids.select("ix", "root", pl.col("_root_id").alias("root_id")), on="ix", how="left")
    p = p.with_columns(
        _anchor=pl.coalesce(pl.col("root_id"), pl.lit("cluster:") + pl.col("record_locator").min().over("root"))
    ).with_columns(person_key=person_key(pl.col("_anchor"), key))

    # per record: the strongest applied link touching its unit
    if applied.height:
        app = applied.join(
            pairs.select("unique_id_l", "unique_id_r", "match_probability", "match_weight", "rule"),
            on=["unique_id_l", "unique_id_r"],
        )
        ends = pl.concat(
            [app.rename({"unique_id_l": "u"}).drop("unique_id_r"), app.rename({"unique_id_r": "u"}).drop("unique_id_l")]
        )
        best = (
            ends.sort(["match_probability", "u"], descending=[True, False]).group_by("u", maintain_order=True).first()
        )
    else:
        best = pl.DataFrame(
            schema={"u": pl.Int64, "match_probability": pl.Float64, "match_weight": pl.Float64, "rule": pl.String}
        )
    p = p.join(
        rid_unit.select(pl.col("rid"), pl.col("unique_id").cast(pl.Int64).alias("u")), on="rid", how="left"
    ).join(best, on="u", how="left")
    cluster_size = pl.col("records").sum().over("root")
    method = (
        pl.when(pl.col("id_status").is_in(fr.USABLE_ID_STATUSES))
        .then(pl.lit("id_number"))
        .when(pl.col("is_repaired"))
        .then(pl.lit("id_repaired"))
        .when(pl.col("match_probability").is_not_null())
        .then(pl.lit("probabilistic"))
        .when(pl.col("is_unique_name"))
        .then(pl.lit("unique_name"))
        .when(pl.col("node").str.starts_with("doc:") & (pl.col("records").sum().over("node") > 1))
        .then(pl.lit("doc_number"))
        .when(pl.col("reg_node").is_not_null() & (cluster_size > 1))
        .then(pl.lit("register_entry"))
        .otherwise(pl.lit("singleton"))
    )
    rule = (
        pl.when(method == "id_number")
        .then(pl.lit("valid_id:") + pl.col("id_status"))
        .when(method == "id_repaired")
        .then(pl.lit("check_char_repair:one_edit_one_candidate"))
        .when(method == "probabilistic")
        .then(pl.lit("splink:") + pl.col("rule"))
        .when(method == "unique_name")
        .then(pl.lit("name_only:the_one_known_person_of_this_name"))
        .when(method == "doc_number")
        .then(pl.lit("same_foreign_doc_number"))
        .when(method == "register_entry")
        .then(pl.lit("same_register_entry"))
        .otherwise(pl.lit("no_link"))
    )
    links = p.select(
        "profile",
        "person_key",
        method.alias("link_method"),
        pl.col("match_probability"),
        pl.col("match_weight"),
        rule.alias("rule"),
        cluster_size.cast(pl.Int64).alias("cluster_records"),
    )

    review = _review(p, units, pairs, refused, det_refused, threshold)
    _peak(stats, "clusters")
    golden = _golden(p)
    stats["persons"] = golden.height
    _peak(stats, "golden")
    stats["review_pairs"] = review.height
    stats["seconds"] = time.perf_counter() - t0
    log.info(
        "linkage: %d records, %d persons, %d repaired IDs, %d accepted links, %d in review, %d refused by the guard, model %s, %.1fs",
        stats["records"],
        stats["persons"],
        stats["ids_repaired"],
        stats["accepted_links"],
        stats["review_pairs"],
        stats["guard_refused"],
        stats["model_source"],
        stats["seconds"],
    )
    return LinkResult(
        links=None,
        review=review,
        golden=golden,
        stats=stats,
        profiles=links,
        model=run.model if run is not None else None,
        tf_name=run.tf_name if run is not None else None,
        scored=today,
    )


def _unit_hash() -> pl.Expr:
    # what a unit is (its node and compared features), the same from one run to the next of one Polars version
    return pl.struct(["node", *_FEATURES]).hash(seed=20241102).alias("unit")


def _to_units(pairs: pl.DataFrame, hashes: pl.DataFrame) -> pl.DataFrame:
    h = hashes.lazy()
    return (
        pairs.lazy()
        .join(h.rename({"unique_id": "unique_id_l", "unit": "unit_l"}), on="unique_id_l")
        .join(h.rename({"unique_id": "unique_id_r", "unit": "unit_r"}), on="unique_id_r")
        .drop("unique_id_l", "unique_id_r")
        .collect()
    )


def _from_units(pairs: pl.DataFrame, hashes: pl.DataFrame) -> pl.DataFrame:
    h = hashes.lazy()
    out = (
        pairs.lazy()
        .join(h.rename({"unique_id": "unique_id_l", "unit": "unit_l"}), on="unit_l")
        .join(h.rename({"unique_id": "unique_id_r", "unit": "unit_r"}), on="unit_r")
        .drop("unit_l", "unit_r")
        .collect()
    )
    # Splink's orientation: the smaller id on the left (the review's pair key and the tie order depend on it)
    lo, hi = pl.min_horizontal("unique_id_l", "unique_id_r"), pl.max_horizontal("unique_id_l", "unique_id_r")
    return out.with_columns(unique_id_l=lo, unique_id_r=hi).select(
        "unique_id_l", "unique_id_r", pl.exclude("unique_id_l", "unique_id_r")
    )


def _review(
    p: pl.DataFrame,
    units: pl.DataFrame,
    pairs: pl.DataFrame,
    refused: pl.DataFrame,
    det_refused: list,
    threshold: float,
) -> pl.DataFrame:
    name_agrees = pl.col("gamma_name") >= _NAME_AGREES if "gamma_name" in pairs.columns else pl.lit(True)
    band = pairs.filter((pl.col("match_probability") < threshold) | ~name_agrees).with_columns(
        reason=pl.lit("uncertain_band")
    )
    if refused.height:
        band = pl.concat([band, pairs.join(refused, on=["unique_id_l", "unique_id_r"])], how="diagonal_relaxed")
    gamma = [c for c in pairs.columns if c.startswith("gamma_")]
    cols = ["unique_id_l", "unique_id_r", "match_weight", "match_probability", "rule", "reason", *gamma]
    band = band.select([c for c in cols if c in band.columns])
    side = (
        # the first record of each unit a pair in review names
        p.filter(pl.col("u").is_in(pl.concat([band["unique_id_l"], band["unique_id_r"]]).implode()))
        .sort("rid")
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
        log.warning(
            "linkage: %d deterministic links refused by the guard (register entry or document number with two IDs)",
            len(det_refused),
        )
    # one schema whichever columns this path's pairs carried (none at all when Splink did not run)
    return conform(out, REVIEW_SCHEMA).sort("match_probability", "pair_key", descending=[True, False], nulls_last=True)


def _golden(p: pl.DataFrame) -> pl.DataFrame:
    # only the columns it reads are sorted: the profiles' other columns would be copied for nothing
    p = p.select("person_key", "id_key", "feed", "record_at", "latest_locator", "records", *_GOLDEN_ATTRS)
    ranked = p.with_columns(
        _valid=pl.col("id_key").is_null().cast(pl.Int8),
        _trust=pl.col("feed").replace_strict(_TRUST, default=9, return_dtype=pl.Int8),
    ).sort(
        ["person_key", "_valid", "_trust", "record_at", "latest_locator"],
        descending=[False, False, False, True, False],
        nulls_last=True,
    )
    aggs = [
        pl.col("id_key").drop_nulls().first().alias("id_number"),
        pl.col("records").sum().cast(pl.UInt32).alias("records"),
        pl.col("feed").n_unique().alias("feeds"),
    ]
    for a in _GOLDEN_ATTRS:
        aggs.append(pl.col(a).drop_nulls().first().alias(a))
        aggs.append(pl.col("latest_locator").filter(pl.col(a).is_not_null()).first().alias(f"{a}_source"))
    return ranked.group_by("person_key", maintain_order=True).agg(aggs).sort("person_key")


#: the key-value metadata of links.parquet that holds the number of the run that wrote it
LINK_RUN_KEY = "zhili_link_run"


def last_link_run(path: Path) -> int:
    """The number of the linkage run that wrote the links file ``path`` (0 when none or an unstamped one):
    its metadata's, which counts runs whose stamps no surviving row carries (the records of a withdrawn file
    were the only ones a run changed), else the greatest ``link_run`` of its rows."""
    if not path.exists() or "link_run" not in pl.read_parquet_schema(path):
        return 0
    kept = pl.read_parquet_metadata(path).get(LINK_RUN_KEY)
    rows = pl.scan_parquet(path).select(pl.col("link_run").max()).collect().item() or 0
    return max(int(kept) if kept else 0, rows)


def stamp_runs(links: pl.LazyFrame, previous: Path) -> tuple[pl.LazyFrame, int]:
    """``links`` with ``link_run``: the number of the linkage run that last changed each record's link; and
    this run's number, one more than the run that wrote ``previous`` (the links the last run wrote; 1 the
    first time), never reused, so that a stamp greater than any a table built in means a change it missed.

    A record keeps the ``link_run`` of its row in ``previous`` when every link column is what it was there
    (``eq_missing``: null equals null; a float column, the match probability and weight, to a relative
    ``SAME_SCORE_TOLERANCE``, and the record then keeps the value it had, so its row is unchanged); a record
    new to linkage, or whose person, method, probability or rule moved, takes this run's number. Two engines
    score the same pair of the same model in the last bits apart (Spark's exp and log are Java's,
    docs/spark.md): a rescored pair that did not move is no change of the record's link. dbt's int_persons_resolved recomputes only the records of new files and
    those whose ``link_run`` is greater than any it built in, so a day that moves a hundred links rebuilds a
    hundred rows, not the history.

    The join with ``previous`` holds one small row per record of it: its locator as integers
    (``_locator_key``) and its link as the number of one of the last run's distinct links (at most one per
    profile), not the locator text and the link columns, which at a million residents' year of records
    (19M rows each side) held gigabytes while the links were written.
    """
    schema = links.collect_schema()
    compared = [c for c in schema.names() if c not in ("record_locator", *LOCATOR)]
    this_run = last_link_run(previous) + 1
    had = pl.read_parquet_schema(previous) if this_run > 1 else {}
    if not set(compared) <= set(had):
        # the first run, or the link columns changed (a new code version): every link is this run's
        return links.with_columns(pl.lit(this_run, dtype=pl.Int64).alias("link_run")), this_run
    before = pl.scan_parquet(previous)
    distinct = _distinct_links(before, compared).lazy()
    key, keyed = _locator_key(schema, had, before)
    kept = (
        keyed(before)
        # every row finds its link (nulls_equal: a null is one value here, as in unique())
        .join(distinct, on=compared, nulls_equal=True, build_side="force_right")
        .select(key, "__link", "link_run")
    )
    # eq_missing: null equals null (an unlinked record stays unchanged while it stays unlinked)
    same = pl.all_horizontal(*(_same_link_value(c, schema[c]) for c in compared))
    scores = [c for c in compared if schema[c].is_float()]
    stamped = (
        keyed(links)
        # the last run's rows are the side held; left to itself, Polars may hold this run's (every column)
        .join(kept, on=key, how="left", build_side="force_right")
        .join(distinct.rename({c: f"{c}__before" for c in compared}), on="__link", how="left", build_side="force_right")
        .with_columns(kept_link=pl.col("link_run").is_not_null() & same)
        .with_columns(
            pl.when(pl.col("kept_link")).then(pl.col("link_run")).otherwise(pl.lit(this_run)).cast(pl.Int64),
            # a score the same to the tolerance stays what it was: the row of an unmoved link does not change
            *(pl.when(pl.col("kept_link")).then(pl.col(f"{c}__before")).otherwise(pl.col(c)).alias(c) for c in scores),
        )
        .select(*schema.names(), "link_run")
    )
    return stamped, this_run


#: how far apart (relative, and absolute below 1) a link's score may be from the last run's and still be the same
#: link (stamp_runs): far above two engines' last-bit differences (3.6e-15 measured on match weights), far below
#: any difference the data makes
SAME_SCORE_TOLERANCE = 1e-9


def _same_link_value(column: str, dtype: pl.DataType) -> pl.Expr:
    """Whether ``column`` is what it was (``<column>__before``): eq_missing, and for a float to
    ``SAME_SCORE_TOLERANCE`` (never true against a null)."""
    now, before = pl.col(column), pl.col(f"{column}__before")
    equal = now.eq_missing(before)
    if not dtype.is_float():
        return equal
    near = (now - before).abs() <= SAME_SCORE_TOLERANCE * pl.max_horizontal(pl.lit(1.0), before.abs())
    return equal | near.fill_null(False)


#: rows of the last run's links per partition when numbering their distinct links (``_distinct_links``)
STAMP_PART_ROWS = 8_000_000


def _distinct_links(before: pl.LazyFrame, compared: list[str]) -> pl.DataFrame:
    """The distinct links (``compared`` columns) of ``before``, numbered (``__link``): at most one per profile.

    Found one hash partition of the rows at a time, one per ``STAMP_PART_ROWS``: Polars' streaming unique held
    about every row it read (2 GB for 19M rows of 1.1M distinct links), a partition holds its own."""
    parts = max(1, -(-before.select(pl.len()).collect().item() // STAMP_PART_ROWS))
    part = pl.struct(compared).hash(seed=20261207) % parts
    found = [before.select(compared).filter(part == k).unique().collect(engine="streaming") for k in range(parts)]
    # once more over the few: values unique() and the joins take as equal (0.0 and -0.0) may hash apart
    return pl.concat(found).unique().with_row_index("__link")


def _locator_key(
    schema: pl.Schema, had: pl.Schema, before: pl.LazyFrame
) -> tuple[str, Callable[[pl.LazyFrame], pl.LazyFrame]]:
    """The column ``stamp_runs`` joins a record to its row in ``before`` on, and what adds it to a frame of links.

    ``record_locator``'s parts (``features.record_locator``: feed|file_md5|sheet|record_no|member_no, a null
    sheet '' and a null member 1) in one unsigned 64-bit integer (``__key``), exactly: the parts but the
    record number's low 32 bits, a few thousand distinct (one per sheet and member of a file), numbered among
    ``before``'s, times 2**32, plus those 32 bits. Equal keys, equal locators; a file new to this run has no
    number, its records a null key, which matches nothing. When a side lacks a locator column or holds a
    record or member number as other than an integer, the locator text itself."""
    if not all(
        c in schema
        and c in had
        and (c not in ("record_no", "member_no") or schema[c].is_integer() and had[c].is_integer())
        for c in LOCATOR
    ):
        return "record_locator", lambda frame: frame
    record = pl.col("record_no").cast(pl.Int64)
    high = record // 2**32
    parts = [
        pl.col("feed").cast(pl.String).alias("__feed"),
        pl.col("file_md5").cast(pl.String).alias("__md5"),
        pl.col("sheet").cast(pl.String).fill_null("").alias("__sheet"),
        pl.col("member_no").fill_null(1).cast(pl.Int64).alias("__member_no"),
        high.alias("__high"),
    ]
    names = [p.meta.output_name() for p in parts]
    numbered = before.select(parts).unique().with_row_index("__part").collect(engine="streaming").lazy()
    low = (record - high * 2**32).cast(pl.UInt64)

    def keyed(frame: pl.LazyFrame) -> pl.LazyFrame:
        return (
            frame.with_columns(*parts, low.alias("__low"))
            .join(numbered, on=names, how="left", build_side="force_right")
            .with_columns((pl.col("__part").cast(pl.UInt64) * 2**32 + pl.col("__low")).alias("__key"))
            .drop(*names, "__low", "__part")
        )

    return "__key", keyed


def write_links(links: pl.LazyFrame, out: Path, stamp=None) -> None:
    """Stamp ``links`` (``stamp_runs``, or ``stamp`` with its signature: a benchmark's other way) against
    ``out/links.parquet`` and write them there atomically, with this run's number in the file's metadata."""
    path = out / "links.parquet"
    stamped, this_run = (stamp or stamp_runs)(links, path)
    write_with(
        path,
        lambda tmp: stamped.sink_parquet(
            tmp, compression="zstd", statistics=True, engine="streaming", metadata={LINK_RUN_KEY: str(this_run)}
        ),
    )


def links_folder(zones: Zones) -> Path:
    return zones.person_links


def _stable_keys(
    records: pl.LazyFrame,
    result: LinkResult,
    out: Path,
    files: list[Path],
    ways: dict,
    *,
    changed_on: date,
    model: str | None,
) -> dict:
    """Give today's clusters the keys they were published under (``keys.assign_keys``), in place in ``result``;
    write the key registry and the alias history beside the links; return the counts of what changed.

    Which published key today's records carried comes from the profiles the last run published
    (``_overlap_by_profiles``) when that run's files are all still there unchanged; else from every record's
    published link, by its locator. ``ways["keys_overlap"]`` says which."""
    previous = out / "links.parquet"
    clusters = result.golden.select(
        pl.col("person_key").alias("natural_key"), pl.col("id_number").is_not_null().alias("is_anchored")
    )
    overlap = _overlap_by_profiles(result, out, files) if previous.exists() else None
    if overlap is not None:
        ways["keys_overlap"] = "profiles"
    elif previous.exists():
        ways["keys_overlap"] = "records"
        overlap = (
            expand(records, result.profiles)
            .select("record_locator", pl.col("person_key").alias("natural_key"))
            .join(
                pl.scan_parquet(previous).select("record_locator", pl.col("person_key").alias("old_key")),
                on="record_locator",
            )
            .filter(pl.col("old_key").is_not_null())
            .group_by("natural_key", "old_key")
            .agg(pl.len().cast(pl.Int64).alias("records"))
            .collect(engine="streaming")
        )
    else:
        overlap = pl.DataFrame(schema={"natural_key": pl.String, "old_key": pl.String, "records": pl.Int64})
    registry, aliases = (
        pl.read_parquet(out / name) if (out / name).exists() else None for name in ("keys.parquet", "aliases.parquet")
    )
    kept = assign_keys(clusters, overlap, registry, aliases, changed_on=changed_on, model=model)
    mapping = kept.keys.filter(pl.col("natural_key") != pl.col("person_key"))
    if mapping.height:
        lookup = dict(mapping.iter_rows())
        result.profiles = result.profiles.with_columns(pl.col("person_key").replace(lookup))
        result.golden = result.golden.with_columns(pl.col("person_key").replace(lookup)).sort("person_key")
        result.review = result.review.with_columns(
            pl.col("person_key_l").replace(lookup), pl.col("person_key_r").replace(lookup)
        )
    write_parquet_atomic(kept.registry, out / "keys.parquet")
    write_parquet_atomic(kept.aliases, out / "aliases.parquet")
    if kept.counts["alias_rows"]:
        log.info("linkage: person keys %s", ", ".join(f"{k}={v}" for k, v in kept.counts.items()))
    return kept.counts


#: each profile's published key and record count, as the last run wrote the links (``_overlap_by_profiles``)
PROFILE_KEYS_FILE = "profile_keys.parquet"


def _write_profile_keys(result: LinkResult, counts: pl.DataFrame, out: Path, files: list[Path]) -> None:
    """After the links: each profile's published key and how many records it had, stamped with the link run
    that published them, the files they came from and the profile rule."""
    meta = {
        PROFILES_KEY: json.dumps(
            {"code": _profile_code(), "files": _file_marks(files), "link_run": last_link_run(out / "links.parquet")}
        )
    }
    table = result.profiles.select("profile", "person_key").join(counts, on="profile", how="left")
    write_with(out / PROFILE_KEYS_FILE, lambda tmp: table.write_parquet(tmp, compression="zstd", metadata=meta))


def _overlap_by_profiles(result: LinkResult, out: Path, files: list[Path]) -> pl.DataFrame | None:
    """``_stable_keys``' overlap from the profiles the last run published, or None when it cannot stand in for
    the records': that run's links were not the last written, one of its files was withdrawn or rewritten, or
    the profile rule or the Polars that hashes changed. Then each of that run's records is in today's profile of
    the same hash, and carried its profile's key: a profile's records count once per (today's key, old key)."""
    path = out / PROFILE_KEYS_FILE
    if not path.exists():
        return None
    try:
        meta = json.loads(pl.read_parquet_metadata(path).get(PROFILES_KEY) or "null")
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return None
    marks = _file_marks(files)
    if (
        not isinstance(meta, dict)
        or meta.get("code") != _profile_code()
        or meta.get("link_run") != last_link_run(out / "links.parquet")
        or any(marks.get(name) != mark for name, mark in meta.get("files", {}).items())
    ):
        return None
    return (
        pl.read_parquet(path)
        .select("profile", pl.col("person_key").alias("old_key"), "records")
        .join(result.profiles.select("profile", pl.col("person_key").alias("natural_key")), on="profile")
        .filter(pl.col("old_key").is_not_null())
        .group_by("natural_key", "old_key")
        .agg(pl.col("records").sum().cast(pl.Int64))
    )


def _pinyin_path(out: Path) -> Path:
    from importlib.metadata import version

    # names with their pinyin: personal, so beside the links in the restricted zone; per pypinyin version,
    # whose dictionary decides the pinyin
    return out / f"name_pinyin-{version('pypinyin')}.parquet"


def _read_pinyin(out: Path) -> dict[str, str | None]:
    path = _pinyin_path(out)
    return dict(pl.read_parquet(path).iter_rows()) if path.exists() else {}


def link_files(
    files: list[Path],
    out: Path,
    *,
    key: bytes,
    model: str = "auto",
    kept: KeptModel | None = None,
    changed_on: date | None = None,
    scored: ScoredPairs | None = None,
    scorer=None,
) -> LinkResult:
    """Link the person records in ``files`` and write ``out/{links,review,golden}.parquet``, each atomically.

    The records are streamed twice (collapse into profiles, then each record takes its profile's link) and
    never held in memory all at once; ``LinkResult.links`` is None, the links are in ``out/links.parquet``.
    A person keeps the key ``out/links.parquet`` gave them last time (``keys.assign_keys``); a merge or split
    leaves a row in ``out/aliases.parquet`` dated ``changed_on`` (default: today). ``scorer``: as
    ``link_profiles``'.
    """
    records = _scan_records(files)
    t0 = time.perf_counter()
    profiles, collapsing = collapse_files(files, out)
    collapsed = time.perf_counter() - t0
    known = _read_pinyin(out)
    before = len(known)
    result = link_profiles(profiles, key=key, model=model, kept=kept, known_pinyin=known, scored=scored, scorer=scorer)
    counts = profiles.select("profile", "records")
    del profiles
    out.mkdir(parents=True, exist_ok=True)
    result.stats["names_converted"] = len(known) - before
    if len(known) > before:
        write_parquet_atomic(
            pl.DataFrame(
                {"name": list(known), "pinyin": list(known.values())}, schema={"name": pl.String, "pinyin": pl.String}
            ),
            _pinyin_path(out),
        )
    t1 = time.perf_counter()
    result.stats["keys"] = _stable_keys(
        records,
        result,
        out,
        files,
        collapsing,
        changed_on=changed_on or date.today(),
        model=kept.name if kept else result.stats.get("model_source"),
    )
    result.stats["keys_seconds"] = time.perf_counter() - t1
    _peak(result.stats, "keys")
    write_parquet_atomic(result.review, out / "review.parquet")
    write_parquet_atomic(result.golden, out / "golden.parquet")
    t1 = time.perf_counter()
    # last: dbt reads it as the signal that linkage ran, and the next run reads it as the keys published
    write_links(expand(records, result.profiles), out)
    _write_profile_keys(result, counts, out, files)
    result.stats |= collapsing
    result.stats |= {"collapse_seconds": collapsed, "expand_seconds": time.perf_counter() - t1}
    _peak(result.stats, "links_written")
    result.stats["seconds"] = time.perf_counter() - t0
    return result


def run_linkage(
    zones: Zones, *, key: bytes, retrain: bool = False, changed_on: date | None = None, spark=None
) -> LinkResult:
    """Link every record under ``restricted/person_records`` into ``restricted/person_links`` (``link_files``)
    with the home's kept model (``model_store``); make and keep one when there is none, or when ``retrain``.

    ``stats["model"]`` names the kept model that linked; ``stats["model_made"]`` says why one was made.
    ``spark``: a Spark session that scores the pairs with the kept model (``spark.SparkScorer``). A model is
    only ever made on DuckDB, so a run that makes one scores on DuckDB; ``stats["scored_on"]`` says where.
    """
    source = zones.person_records()
    files = sorted(source.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{source}: no person records to link; ingest a landing first")
    kept = None if retrain else current_model(zones)
    why = "retrain requested" if retrain else "no model kept yet"
    if kept is not None and not fits_code(kept):
        # the code's comparisons changed (an upgrade): the old parameters cannot score them
        log.warning("linkage: the kept %s was made for other comparisons than this code's; making a new one", kept.name)
        why, kept = f"{kept.name} was made for other comparisons than the code's", None
    scorer = None
    if spark is not None and kept is not None:
        from .spark import SparkScorer

        scorer = SparkScorer(spark)
    result = link_files(
        files,
        links_folder(zones),
        key=key,
        kept=kept,
        changed_on=changed_on,
        scored=_read_scored(zones, kept),
        scorer=scorer,
    )
    result.stats["scored_on"] = "spark" if scorer is not None else "duckdb"
    name = kept.name if kept is not None else None
    if kept is None and result.model is not None:
        stats = result.stats
        made = keep_model(
            zones,
            result.model,
            {
                "source": stats["model_source"],
                "why": why,
                "accept_threshold": stats["accept_threshold"],
                "lambda": stats.get("lambda"),
                "lambda_method": stats.get("lambda_method"),
                "not_trained_here": stats.get("not_trained_here"),
                "person_record_files": [f.stem for f in files if not f.name.startswith("_")],
                **{k: stats.get(k) for k in ("records", "profiles", "units", "splink_units", "open_units")},
            },
            result.tf_name,
        )
        stats["model"], stats["model_made"] = made.name, why
        name = made.name
    if name is not None and result.scored is not None:
        _write_scored(zones, result.scored, name)
    return result


def _scored_folder(zones: Zones) -> Path:
    # hashes of units (IDs, names, phones) and their scores: restricted, though nothing in them reads as a person
    return zones.home / "restricted" / "linkage_pairs"


def _scored_paths(zones: Zones, model: str) -> tuple[Path, Path]:
    # per model (another model scores differently) and Polars version (whose hash names the units)
    stem = f"{model}-polars{pl.__version__}"
    return _scored_folder(zones) / f"{stem}.units.parquet", _scored_folder(zones) / f"{stem}.pairs.parquet"


def _read_scored(zones: Zones, kept: KeptModel | None) -> ScoredPairs | None:
    if kept is None:
        return None
    units, pairs = _scored_paths(zones, kept.name)
    if not (units.exists() and pairs.exists()):
        return None
    return ScoredPairs(model=kept.name, units=pl.read_parquet(units)["unit"], pairs=pl.read_parquet(pairs))


def _write_scored(zones: Zones, scored: ScoredPairs, model: str) -> None:
    units, pairs = _scored_paths(zones, model)
    for old in _scored_folder(zones).glob("*.parquet") if _scored_folder(zones).is_dir() else []:
        if old not in (units, pairs):
            old.unlink()  # another model's, or another Polars version's: never read again
    write_parquet_atomic(scored.pairs, pairs)
    write_parquet_atomic(scored.units.to_frame("unit"), units)


def retrain(zones: Zones, *, key: bytes, changed_on: date | None = None) -> tuple[LinkResult, str]:
    """Train a new model on every person record (``zhili linkage train``), keep it as the next version, link
    with it, and say what that changed: persons unchanged, merged, split, new (``keys.assign_keys``)."""
    before = current_model(zones)
    result = run_linkage(zones, key=key, retrain=True, changed_on=changed_on)
    stats, keys = result.stats, result.stats["keys"]
    if "model_made" not in stats:
        return result, (
            f"no model kept: {stats['records']} records gave no pair to compare "
            f"({stats['model_source']}); {stats['persons']} persons, keys unchanged"
        )
    model = f"{stats['model']} kept ({stats['model_source']}, accept threshold {stats['accept_threshold']:.4f}" + (
        f"; replaces {before.name})" if before else ")"
    )
    change = (
        f"{stats['persons']} persons: {keys['persons_unchanged']} unchanged, {keys['persons_merged']} merged into another, "
        f"{keys['persons_split']} split, {keys['persons_new']} new; {keys['alias_rows']} alias rows "
        f"({zones.person_links / 'aliases.parquet'}); the next zhili run publishes them"
    )
    return result, f"{model}\n{change}"
