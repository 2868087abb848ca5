"""The dbt warehouse (``@dbt_assets``) and the serving snapshot published after it.

dbt sources map onto the zone assets that write them (``normalised/<feed>``,
the grid register's three tables onto ``normalised/grid_registry``), models
onto ``[schema, model]`` keys (``marts/dim_grid``), seeds onto
``reference/<seed>``. ``dbt build`` runs tests as asset checks; an
error-severity failure fails the step, so the serving snapshot is not
published. Both steps sit in the ``warehouse`` concurrency pool: DuckDB has
one writer, and the instance limits the pool to one step at a time.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from ingestion.feeds import FEEDS
from ingestion.zones import write_text_atomic
from orchestration.defs.feeds.assets import normalised_key
from orchestration.defs.resources import ZhiliResource
from orchestration.defs.warehouse.publish import SCHEMAS, parts_from_manifest, publish_snapshot
from orchestration.defs.warehouse.sensors import latest_normalised_storage_id
from orchestration.lib.dbt_code import DBT_PROJECT_DIR, built_code_file, newest_source_mtime, project_digest
from orchestration.lib.labels import readable

__all__ = [
    "DBT_PROJECT_DIR",
    "POOL",
    "SERVING_KEY",
    "ZhiliDbtTranslator",
    "ensure_manifest",
    "project_digest",
    "build_warehouse_assets",
    "dbt_resource",
    "zone_specs",
]

log = logging.getLogger(__name__)

POOL = "warehouse"
SERVING_KEY = dg.AssetKey(["serving", "zhili"])
#: what the linkage writes and dbt reads as the ``person_links`` source, one asset per file
PERSON_LINKS_KEYS = {t: dg.AssetKey(["restricted", "person_links", t]) for t in ("links", "review", "aliases")}
#: under restricted/person_links: what the last linkage run did (counts and model names), for the build record
LINKAGE_RECORD = "linkage_run.json"
#: under <home>/state: what the last successful dbt build was built as of and from (read by the publish)
BUILD_RECORD = "warehouse_build.json"
#: how the build passes its as-of date to dbt (the as_of_date() macro reads it when a model runs)
DBT_AS_OF_ENV = "ZHILI_DBT_AS_OF_DATE"
#: dbt's partial-parse state, kept from one build to the next (_keep_partial_parse)
PARTIAL_PARSE = "partial_parse.msgpack"
#: dbt source table -> the feed whose normalised asset writes it
_TABLE_FEED = {t.table: f.slug for f in FEEDS.values() for t in f.tables}
_OTHER_SOURCES = {
    ("restricted", "person_records"): dg.AssetKey(["restricted", "person_records"]),
    ("pipeline", "ledger"): dg.AssetKey(["ledger"]),
    ("pipeline", "quarantine"): dg.AssetKey(["quarantine"]),
}


def zone_specs() -> list[dg.AssetSpec]:
    """Zone tables dbt reads that are not a feed asset themselves, for lineage into dbt.

    The grid register's three tables, and what every feed writes: ledger,
    quarantine, restricted person records.
    """
    feeds = [normalised_key(slug) for slug in FEEDS]
    tables = [
        dg.AssetSpec(
            dg.AssetKey(["normalised", table]),
            deps=[normalised_key(feed)],
            group_name=feed,
            description=f"The {table} table of the normalised zone, written by normalised/{feed}.",
        )
        for table, feed in _TABLE_FEED.items()
        if table != feed
    ]
    return [
        *tables,
        dg.AssetSpec(
            _OTHER_SOURCES[("pipeline", "ledger")],
            deps=feeds,
            group_name="zones",
            description="The conservation ledger: one row per landed file and outcome (<home>/ledger).",
        ),
        dg.AssetSpec(
            _OTHER_SOURCES[("pipeline", "quarantine")],
            deps=feeds,
            group_name="zones",
            description="Rows that could not be normalised, with reasons, every table (<home>/quarantine).",
        ),
        dg.AssetSpec(
            _OTHER_SOURCES[("restricted", "person_records")],
            deps=feeds,
            group_name="zones",
            description="Normalised identifiers for linkage only (<home>/restricted/person_records).",
        ),
    ]


class ZhiliDbtTranslator(DagsterDbtTranslator):
    """Asset keys follow the zones: sources are the assets that write them, models ``[schema, name]``."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        props = dbt_resource_props
        # a source a Python asset writes names that asset (meta.dagster.asset_key), as Dagster's own translator does
        declared = ((props.get("meta") or {}).get("dagster") or {}).get("asset_key")
        if props["resource_type"] == "source" and declared:
            return dg.AssetKey(declared)
        if props["resource_type"] == "source":
            source, table = props["source_name"], props["name"]
            if source == "normalised":
                return dg.AssetKey(["normalised", table])  # the zone folder; a feed's asset when table == feed
            if (source, table) in _OTHER_SOURCES:
                return _OTHER_SOURCES[(source, table)]
            return dg.AssetKey([source, table])
        schema = (props.get("config") or {}).get("schema") or str(props.get("schema", "main")).split("_")[-1]
        return dg.AssetKey([schema, props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "warehouse"


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR) -> Path | None:
    """``target/manifest.json``, parsed again with ``dbt parse`` when missing or older than the project.

    Returns None (and logs why) when there is no dbt project or it does not
    parse: the feeds still load, the warehouse assets are left out.
    """
    if not (project_dir / "dbt_project.yml").exists():
        return None
    manifest = project_dir / "target" / "manifest.json"
    if manifest.exists() and manifest.stat().st_mtime >= newest_source_mtime(project_dir):
        return manifest
    cmd = [
        _dbt_executable(),
        "parse",
        "--quiet",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        "target",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=project_dir)
    if proc.returncode != 0 or not manifest.exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        log.warning("dbt parse failed in %s; warehouse assets left out: %s", project_dir, " | ".join(tail))
        return manifest if manifest.exists() else None
    return manifest


def _keep_partial_parse(run_target: Path, project_dir: Path) -> None:
    """Keep this build's parse for the next one: dagster-dbt gives every invocation a target folder of its
    own and seeds it with ``partial_parse.msgpack`` from the project's target folder (``DBT_TARGET_PATH``,
    else ``target``), which ``dbt parse`` wrote without this home's profile, so dbt would parse everything
    again. The build's own file, swapped in atomically, lets the next build on this home parse only what
    changed. A missing file (dbt did not write one) leaves the project's as it is."""
    made = run_target / PARTIAL_PARSE
    if not made.exists():
        return
    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    kept = (target if target.is_absolute() else project_dir / target) / PARTIAL_PARSE
    part = kept.with_name(f".{kept.name}.{os.getpid()}.tmp")
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made, part)
        os.replace(part, kept)
    except OSError as exc:  # a read-only project: the next build parses in full, as before
        part.unlink(missing_ok=True)
        log.warning("could not keep dbt's partial parse in %s: %s", kept.parent, exc)


def _dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")  # the venv's dbt, whether or not the venv is on PATH
    return str(beside) if beside.exists() else "dbt"


def dbt_resource(project_dir: Path = DBT_PROJECT_DIR) -> DbtCliResource:
    return DbtCliResource(project_dir=str(project_dir), profiles_dir=str(project_dir), dbt_executable=_dbt_executable())


def _linkage_summary(linked) -> str:
    stats = getattr(linked, "stats", None) or {}
    keys = ("records", "profiles", "persons", "accepted_links", "review_pairs", "ids_repaired", "model_source", "model")
    counts = ", ".join(f"{k}={stats[k]}" for k in keys if k in stats) or "done"
    moved = {k: v for k, v in (stats.get("keys") or {}).items() if k in ("persons_merged", "persons_split") and v}
    counts += "".join(f", {k}={v}" for k, v in moved.items())
    # where the time went: collapsing the records into profiles, scoring profile pairs, each record's link
    parts = [
        f"{part} {stats[f'{part}_seconds']:.1f} s"
        for part in ("collapse", "splink", "expand")
        if f"{part}_seconds" in stats
    ]
    return counts + (f" ({', '.join(parts)})" if parts else "")


def _linkage_models(zones) -> dict:
    """Which Splink model linked the persons the build read: shipped priors or trained here, and the version
    kept in <home>/state/linkage (None: nothing to compare yet)."""
    try:
        stats = json.loads((zones.person_links / LINKAGE_RECORD).read_text())
    except (OSError, ValueError):
        stats = {}
    return {"linkage_model": stats.get("model_source"), "linkage_model_version": stats.get("model")}


@dg.multi_asset(
    name="person_links",
    specs=[
        dg.AssetSpec(
            key,
            deps=[_OTHER_SOURCES[("restricted", "person_records")]],
            group_name="warehouse",
            kinds={"splink", "parquet"},
            description=f"restricted/person_links/{table}.parquet, written by the person linkage",
        )
        for table, key in PERSON_LINKS_KEYS.items()
    ],
    pool=POOL,
)
def person_links(context: dg.AssetExecutionContext, zhili: ZhiliResource):
    """一人一档: every feed's personal records linked into persons (<home>/restricted/person_links).

    Links with the Splink model kept in <home>/state/linkage (made once; ``zhili linkage train`` retrains
    it), keeps each person's published key, and records merges and splits in aliases.parquet. dbt reads
    links, review and aliases as the ``person_links`` source.
    """
    from ingestion.linkage import run_linkage

    settings = zhili.settings()
    zones = settings.zones
    started = time.perf_counter()
    # a merge or split of persons is dated by the day the warehouse is built as of; on Spark the kept model
    # scores there (ingestion.linkage.spark), in a local session of this process that ends with the linkage
    spark = None
    if settings.engine == "spark":
        from ingestion.linkage.spark import spark_session

        spark = spark_session(settings.home, app_name="zhili-linkage")
    try:
        linked = run_linkage(zones, key=settings.key(), changed_on=settings.as_of_date(), spark=spark)
    finally:
        if spark is not None:
            spark.stop()
    context.log.info(f"person linkage: {_linkage_summary(linked)} in {time.perf_counter() - started:.1f} s")
    stats = linked.stats
    record = {
        k: stats.get(k)
        for k in (
            "model_source",
            "model",
            "model_made",
            "records",
            "profiles",
            "persons",
            "accepted_links",
            "review_pairs",
            "scored_on",
        )
    }
    # where the time and memory went (seconds, counts and MB only: nothing personal)
    cost = {
        k: stats.get(k)
        for k in (
            "seconds",
            "collapse_seconds",
            "splink_seconds",
            "keys_seconds",
            "expand_seconds",
            "collapsed_files",
            "reused_files",
            "keys_overlap",
            "peak_rss_mb",
        )
    }
    write_text_atomic(
        zones.person_links / LINKAGE_RECORD, json.dumps({**record, "keys": stats.get("keys"), "cost": cost})
    )
    metadata = readable(
        {
            **{k: v for k, v in record.items() if v is not None},
            **(stats.get("keys") or {}),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    for key in PERSON_LINKS_KEYS.values():
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


def build_warehouse_assets(manifest: Path) -> list[dg.AssetsDefinition]:
    """The person linkage, the dbt models/seeds/tests and the serving snapshot downstream of the marts."""

    translator = ZhiliDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    @dbt_assets(manifest=manifest, dagster_dbt_translator=translator, pool=POOL, name="warehouse_dbt")
    def warehouse_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, zhili: ZhiliResource):
        """dbt build of the warehouse at <home>/warehouse.duckdb: staging → intermediate → marts, tests as checks."""
        settings = zhili.settings()
        # what this build starts from, for the snapshot record: anything normalised later is not in it
        seen = latest_normalised_storage_id(context.instance)
        # the dbt profile and sources read ZHILI_HOME; the subprocess inherits it
        os.environ["ZHILI_HOME"] = str(settings.home)
        os.environ["ZHILI_DUCKDB_MEMORY"] = settings.duckdb_memory
        as_of = settings.as_of_date()
        # dbt's unit tests check the models' code on fixed fixtures, not the data: the same answer on every
        # run, so `make test` runs them (tests/integration/test_dbt_build.py) and a nightly build does not
        args = ["build", "--exclude-resource-type", "unit_test"]
        # the as-of date reaches the models through the environment, not --vars: a new --vars each day makes
        # dbt parse the whole project again (7.6 s against 3.3 s for a partial parse at the time of writing)
        if as_of:
            os.environ[DBT_AS_OF_ENV] = as_of.isoformat()
        else:
            os.environ.pop(DBT_AS_OF_ENV, None)
        # incremental models (restricted_person_records) keep what an earlier build wrote: when the code that
        # wrote it changed, or there is no record of it, they are rebuilt from scratch. The engine is part of
        # the code: a DuckDB build after Spark ones (which keep nothing in warehouse.duckdb) starts afresh
        built_by, code = built_code_file(settings.zones.state), project_digest(Path(dbt.project_dir))
        if settings.engine == "spark":
            from ingestion.spark_sources import prepare_spark_sources

            # the profile's spark target (docs/spark.md); its source macro reads the zones' schema copies
            prepare_spark_sources(settings.home)
            args += ["--target", "spark"]
            code += " spark"
        if not built_by.exists() or built_by.read_text().strip() != code:
            args.append("--full-refresh")
        context.log.info(
            f"warehouse as of {as_of or 'today'} on {settings.engine}"
            f"{' (full refresh: new dbt code)' if '--full-refresh' in args else ''}"
        )
        invocation = dbt.cli(args, context=context)
        yield from invocation.stream()
        if settings.engine == "duckdb":  # a parse for the spark target would make the next DuckDB build parse again
            _keep_partial_parse(invocation.target_path, Path(dbt.project_dir))
        write_text_atomic(built_by, code)
        write_text_atomic(
            settings.zones.state / BUILD_RECORD,
            json.dumps(
                {
                    "as_of_date": as_of.isoformat() if as_of else None,
                    "run_id": context.run_id,
                    "normalised_storage_id": seen,
                    # which Splink model linked the persons of this build: the shipped priors or one trained on this district
                    **_linkage_models(settings.zones),
                }
            ),
        )

    marts = [k for k in warehouse_dbt.keys if k.path[0] in SCHEMAS]

    @dg.asset(
        key=SERVING_KEY,
        deps=marts,
        group_name="warehouse",
        pool=POOL,
        kinds={"duckdb", "parquet"},
    )
    def serving_zhili(context: dg.AssetExecutionContext, zhili: ZhiliResource) -> dg.MaterializeResult:
        """Serving snapshot <home>/serving/zhili.duckdb: views (with comments) over marts + ops as Parquet.

        Only tables whose content changed get a new Parquet version; the catalogue of views is written beside
        the old one and swapped in atomically; readers open it read-only and are never blocked by a run. The
        last 3 older catalogues (and the versions they read) are kept.
        """
        settings = zhili.settings()
        zones = settings.zones
        try:
            build = json.loads((zones.state / BUILD_RECORD).read_text())
        except (OSError, ValueError):
            build = {}  # a warehouse built by an older zhili: the snapshot's as-of is unknown, the next run rebuilds
        warehouse = zones.warehouse
        if settings.engine == "spark":
            from orchestration.lib.spark_dbt import export_to_duckdb

            # the marts Spark built, exported and loaded into a DuckDB file: the same publisher then writes the
            # same serving catalogue whichever engine built them (docs/spark.md)
            warehouse = export_to_duckdb(settings.home, SCHEMAS, manifest)
        published = publish_snapshot(
            warehouse,
            zones.serving,
            memory_limit=settings.duckdb_memory,
            build=build,
            parts=parts_from_manifest(manifest),
        )
        context.log.info(
            f"published {published.snapshot.name} as {published.path}: {len(published.written)} table(s) written, "
            f"{len(published.reused)} reused ({published.parts_written} part(s) of tables published in parts written)"
        )
        return dg.MaterializeResult(
            metadata=readable(
                {
                    "path": dg.MetadataValue.path(str(published.path)),
                    "as_of_date": published.record.as_of_date.isoformat()
                    if published.record and published.record.as_of_date
                    else "unknown",
                    "linkage_model": build.get("linkage_model") or "unknown",
                    "snapshot": dg.MetadataValue.path(str(published.snapshot)),
                    "parquet_dir": dg.MetadataValue.path(str(published.parquet_dir)),
                    "tables": len(published.tables),
                    # what this publish wrote (tables whose content changed) and what it reused: names only
                    "tables_written": len(published.written),
                    "tables_reused": len(published.reused),
                    "written": dg.MetadataValue.json(published.written),
                    "reused": dg.MetadataValue.json(published.reused),
                    "parts_written": published.parts_written,
                    "versions_removed": published.versions_removed,
                    "rows_by_table": dg.MetadataValue.json(published.tables),
                    "snapshots_kept": len(published.kept),
                    "query": dg.MetadataValue.md(
                        f'`zhili sql --home {settings.home} "select * from marts.dim_grid limit 5"`'
                    ),
                }
            )
        )

    return [person_links, warehouse_dbt, serving_zhili]
