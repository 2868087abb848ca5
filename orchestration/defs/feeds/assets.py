"""``raw/<feed>`` and ``normalised/<feed>``: one factory for every feed.

Each feed's assets are partitioned by delivered file: a
:class:`~dagster.DynamicPartitionsDefinition` named ``<feed>_files`` whose
keys are ``<delivery folder>/<file name>`` (``2024-11-03/JQ_20241102.csv``),
so a new day's delivery loads only its own file. ``BackfillPolicy.single_run``
loads a range of files of one feed in one run (``zhili run``, UI backfills).

The asset bodies only wire the ingestion modules (staging, normalising, the
GX gate of :mod:`expectations.gate`: the same functions the non-Dagster loop
uses) and turn their outcomes into metadata a data officer reads; the ledger
under ``<home>/ledger`` stays the record of every file.
"""

import json
from collections import Counter
from dataclasses import dataclass

import dagster as dg

from ingestion.errors import FeedError
from ingestion.feeds import FEEDS, GRID_FEED, FeedSpec
from ingestion.grid_index import load_grid_index
from ingestion.landing import LandedFile, file_md5, scan_landing, verify_md5, verify_rows
from ingestion.ledger import FileOutcome, loaded_files, write_ledger
from ingestion.normalising import commit, normalise_file
from ingestion.staging import Staged, load_staged, stage_raw
from ingestion.zones import Zones, ensure_zones
from orchestration.defs.feeds.checks import check_result, check_spec
from orchestration.defs.resources import ZhiliResource
from orchestration.lib.labels import readable

__all__ = [
    "GRID_FEED",
    "partition_key",
    "partitions_for",
    "raw_key",
    "normalised_key",
    "build_feed_assets",
    "feed_assets",
    "landed_by_key",
]

_PARTITIONS = {slug: dg.DynamicPartitionsDefinition(name=f"{slug}_files") for slug in FEEDS}


def partitions_for(feed: str) -> dg.DynamicPartitionsDefinition:
    return _PARTITIONS[feed]


def partition_key(landed: LandedFile) -> str:
    """A file's partition key: ``<delivery folder>/<file name>``, unique within its feed."""
    return f"{landed.folder}/{landed.name}"


def raw_key(feed: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", feed])


def normalised_key(feed: str) -> dg.AssetKey:
    return dg.AssetKey(["normalised", feed])


def landed_by_key(settings, feed: str) -> dict[str, LandedFile]:
    """The complete files of ``feed`` in the landing, by partition key."""
    return {partition_key(f): f for f in scan_landing(settings.landing).complete if f.feed == feed}


def loaded_md5s(zones: Zones) -> dict[str, str]:
    """md5 -> ``feed/folder/file`` of every file loaded (or held) so far, from the ledger."""
    return loaded_files(zones)


# --------------------------------------------------------------------------
# Metadata: what a data officer reads on the materialisation
# --------------------------------------------------------------------------


def _md_table(header: list[str], rows: list[list[object]]) -> dg.MetadataValue:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def _json_list(text: str | None) -> list[str]:
    return json.loads(text) if text else []


def raw_metadata(staged: list[Staged], outcomes: list[FileOutcome], missing: list[str]) -> dict[str, object]:
    """Files staged, records read, skips by kind, rejections with reasons, encodings, column drift."""
    skipped = Counter()
    for s in staged:
        skipped.update(s.read.skipped)
    rejected = [o for o in outcomes if o.status == "rejected"]
    meta: dict[str, object] = {
        "files_staged": len(staged),
        "files_rejected": len(rejected),
        "files_unchanged": sum(o.status == "unchanged" for o in outcomes),
        "files_duplicate": sum(o.status == "duplicate" for o in outcomes),
        "records_read": sum(s.read.records for s in staged),
        "rows_skipped": sum(skipped.values()),
    }
    if skipped:
        meta["skipped_by_kind"] = dict(sorted(skipped.items()))
    if rejected:
        meta["rejected_files"] = _md_table(
            ["file", "reason", "message"], [[o.rel, o.reason, o.message] for o in rejected]
        )
    dups = [o for o in outcomes if o.status == "duplicate"]
    if dups:
        meta["duplicate_files"] = _md_table(["file", "same bytes as"], [[o.rel, o.duplicate_of] for o in dups])
    switched = [s for s in staged if s.read.encoding_switched]
    if switched:
        meta["encoding_switches"] = _md_table(
            ["file", "encoding read"], [[s.landed.rel, s.read.encoding] for s in switched]
        )
    drift = [s for s in staged if s.read.unknown_columns or s.read.missing_optional]
    if drift:
        meta["column_drift"] = _md_table(
            ["file", "unknown/new columns", "missing optional columns"],
            [
                [s.landed.rel, ", ".join(sorted(s.read.unknown_columns)), ", ".join(sorted(s.read.missing_optional))]
                for s in drift
            ],
        )
    if missing:
        meta["not_in_landing"] = _md_table(["partition"], [[k] for k in missing])
    if staged:
        meta["files"] = _md_table(
            ["file", "records", "encoding", "md5"],
            [[s.landed.rel, s.read.records, s.read.encoding, s.md5[:12]] for s in staged],
        )
    return meta


def normalised_metadata(outcomes: list[FileOutcome], skipped: dict[str, str]) -> dict[str, object]:
    """Rows read / normalised / quarantined / skipped, ID validity, grid placement, ledger balance."""
    read = sum(o.records_read or 0 for o in outcomes)
    norm = sum(o.rows_normalised or 0 for o in outcomes)
    quar = sum(o.rows_quarantined or 0 for o in outcomes)
    meta: dict[str, object] = {
        "files_normalised": sum(o.status == "loaded" for o in outcomes),
        "files_held": sum(o.status == "held" for o in outcomes),
        "records_read": read,
        "rows_normalised": norm,
        "rows_quarantined": quar,
        "rows_skipped": sum(o.rows_skipped or 0 for o in outcomes),
        "ledger_balanced": all(o.is_balanced for o in outcomes),
    }
    id_shares = [(o.id_valid_share, o.rows_normalised or 0) for o in outcomes if o.id_valid_share is not None]
    if id_shares and sum(w for _, w in id_shares):
        meta["id_valid_share"] = round(sum(s * w for s, w in id_shares) / sum(w for _, w in id_shares), 4)
    placed = [(o.placed_share, o.rows_normalised or 0) for o in outcomes if o.placed_share is not None]
    if placed and sum(w for _, w in placed):
        meta["grid_placed_share"] = round(sum(s * w for s, w in placed) / sum(w for _, w in placed), 4)
    reasons = Counter()
    for o in outcomes:
        reasons.update(o.quarantine_reasons)
    if reasons:
        meta["quarantine_reasons"] = dict(reasons.most_common())
    if outcomes:
        meta["files"] = _md_table(
            ["file", "status", "read", "normalised", "quarantined", "skipped", "balanced", "ID valid", "placed"],
            [
                [
                    o.rel,
                    o.status,
                    o.records_read,
                    o.rows_normalised,
                    o.rows_quarantined,
                    o.rows_skipped,
                    o.is_balanced,
                    None if o.id_valid_share is None else f"{o.id_valid_share:.1%}",
                    None if o.placed_share is None else f"{o.placed_share:.1%}",
                ]
                for o in outcomes
            ],
        )
    if skipped:
        meta["not_normalised"] = _md_table(["partition", "why"], [[k, why] for k, why in skipped.items()])
    return meta


# --------------------------------------------------------------------------
# The factory
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedAssets:
    raw: dg.AssetsDefinition
    normalised: dg.AssetsDefinition


def build_feed_assets(feed: FeedSpec) -> FeedAssets:
    """``raw/<feed>`` and ``normalised/<feed>`` (with its blocking ``gx_<feed>`` check) for one feed."""
    slug = feed.slug
    parts = partitions_for(slug)
    tables = ", ".join(t.table for t in feed.tables)
    common = dict(group_name=slug, partitions_def=parts, backfill_policy=dg.BackfillPolicy.single_run())

    @dg.asset(
        key=raw_key(slug),
        description=(
            f"{feed.department} · {slug} ({feed.cadence}): every cell of each delivered file as text with its "
            f"record locator, one Parquet file per delivery under `raw/<table>/<md5>.parquet` (tables: {tables}). "
            "A file whose flag, name, encoding or columns are wrong is rejected here and recorded in the ledger; "
            "that is data, not a failed run."
        ),
        kinds={"polars", "parquet"},
        **common,
    )
    def raw(context: dg.AssetExecutionContext, zhili: ZhiliResource) -> dg.MaterializeResult:
        settings = zhili.settings()
        zones = settings.zones
        ensure_zones(zones)
        landed = landed_by_key(settings, slug)
        loaded = loaded_md5s(zones)
        staged: list[Staged] = []
        outcomes: list[FileOutcome] = []
        missing: list[str] = []
        for key in context.partition_keys:
            file = landed.get(key)
            if file is None:
                missing.append(key)
                continue
            result = stage_raw(file, zones, loaded=loaded)
            if isinstance(result, FileOutcome):
                if result.status in ("rejected", "duplicate", "empty"):
                    write_ledger(zones, result)
                outcomes.append(result)
                context.log.info(f"{result.status}: {result.rel}" + (f" ({result.reason})" if result.reason else ""))
            else:
                staged.append(result.without_rows())  # its rows are in the raw zone now
                loaded[result.md5] = file.rel
                context.log.info(f"staged {file.rel}: {result.read.records} records")
        return dg.MaterializeResult(metadata=readable(raw_metadata(staged, outcomes, missing)))

    deps: list[dg.AssetDep | dg.AssetKey] = [raw_key(slug)]
    if slug != GRID_FEED:
        # every feed is placed in the grids the register defines: lineage to all its files
        deps.append(dg.AssetDep(normalised_key(GRID_FEED), partition_mapping=dg.AllPartitionMapping()))

    @dg.asset(
        key=normalised_key(slug),
        deps=deps,
        description=(
            f"{feed.department} · {slug}: typed rows per ingestion.schemas (tables: {tables}), pseudonymous "
            "person keys, grid placement; rows that cannot be normalised go to the quarantine with a reason. "
            f"Each file passes the GX suite (check gx_{slug}) before it enters normalised/; a failing file is "
            "written to held/ instead and nothing downstream reads it."
        ),
        check_specs=[check_spec(slug, normalised_key(slug))],
        kinds={"polars", "parquet", "great_expectations"},
        **common,
    )
    def normalised(context: dg.AssetExecutionContext, zhili: ZhiliResource):
        from expectations.gate import (  # GX and pandas: loaded when a file is gated, not with the code location
            GateBatch,
            GateLog,
        )

        settings = zhili.settings()
        zones = settings.zones
        ensure_zones(zones)
        landed = landed_by_key(settings, slug)
        done = loaded_md5s(zones)
        grid_index = None if slug == GRID_FEED else load_grid_index(zones)
        prefixes = tuple(grid_index.prefixes) if grid_index is not None else ()
        key = settings.key()
        gates = GateLog()
        outcomes: list[FileOutcome] = []
        skipped: dict[str, str] = {}

        def finished(results: list[tuple[str, tuple]]) -> None:
            for rel, (outcome, verdict) in results:
                outcomes.append(outcome)
                context.log.info(
                    f"{outcome.status} {rel}: {outcome.records_read} read = {outcome.rows_normalised} normalised "
                    f"+ {outcome.rows_quarantined} quarantined"
                    + (f"; {verdict.summary}" if verdict and not verdict.passed else "")
                )

        # the files of this run share GX runs; each is still judged, and held, on its own (expectations.gate)
        with GateBatch(zones.validations, gates, max_files=1 if _reads_earlier_files(feed) else 64) as batch:
            for pkey in context.partition_keys:
                file = landed.get(pkey)
                if file is None:
                    skipped[pkey] = "not in the landing"
                    continue
                # the bytes actually landed, not the flag's claim: a file raw rejected (cut off, md5 or rows
                # not as flagged) must not be normalised from another file's staged copy of the same md5
                md5 = file_md5(file.path)
                if md5 in done:
                    skipped[pkey] = "already loaded" if done[md5] == file.rel else f"same bytes as {done[md5]}"
                    continue
                try:
                    verify_md5(file, md5)
                    staged = load_staged(zones, file, md5)
                    verify_rows(file, staged.read.records)
                except (FileNotFoundError, KeyError, FeedError):
                    skipped[pkey] = "not staged (rejected in raw; see the ledger)"
                    continue
                done[md5] = file.rel

                def prepare(staged=staged):
                    pending = normalise_file(staged, zones, key=key, grid_index=grid_index, address_prefixes=prefixes)
                    return pending, lambda verdict: (commit(pending, zones, verdict), verdict)

                finished(batch.submit(file.rel, prepare))
            finished(batch.close())
        yield dg.MaterializeResult(metadata=readable(normalised_metadata(outcomes, skipped)))
        yield check_result(slug, gates)

    return FeedAssets(raw=raw, normalised=normalised)


def _reads_earlier_files(feed: FeedSpec) -> bool:
    """Whether normalising a file of ``feed`` reads what earlier files committed.

    A table in ``ingestion.normalise.INCREMENTAL`` reuses the rows of the
    previous committed snapshot; such files are gated (and committed) one at
    a time, so each still finds its predecessor.
    """
    try:
        from ingestion.normalise import INCREMENTAL
    except ImportError:  # no incremental tables: nothing reads earlier files
        return False
    return any(t.table in INCREMENTAL for t in feed.tables)


def feed_assets() -> list[dg.AssetsDefinition]:
    """Every feed's raw and normalised assets, in the registry's order."""
    out: list[dg.AssetsDefinition] = []
    for spec in FEEDS.values():
        built = build_feed_assets(spec)
        out += [built.raw, built.normalised]
    return out
