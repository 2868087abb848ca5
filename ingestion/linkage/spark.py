"""The kept linkage model on Spark: the same Splink model, ported from DuckDB, scoring the same profiles.

A prefecture's data centre runs Spark; the county's home keeps its one Splink model (``model_store``), trained
or shipped on DuckDB. That model does not load on Spark as saved: its levels' SQL is DuckDB's (``"name_l"``
quoted with double quotes is a string literal to Spark, ``list_intersect`` is not a Spark function). Training
again on Spark would give another model (u is sampled), so the model is *ported* instead (``spark_settings``):
the code's comparisons are rendered for the Spark dialect and every parameter of the kept model — λ, each
level's m and u, its term-frequency settings — is carried over level by level, after checking that the kept
model was made for the same comparisons (names, labels) as the code's.

``SparkScorer`` is a drop-in for ``probabilistic.score_pairs`` with a kept model: it scores the same blocked
pairs with the same kept name term frequencies (a name the table does not list weighs as its rarest, as on
DuckDB) and returns the same ``SplinkRun``; ``core.link_profiles(..., scorer=SparkScorer(spark))`` then
clusters as on DuckDB. Nothing is estimated on Spark: a home without a kept model makes one on DuckDB first.

``spark_session`` makes the local session the tests and a single machine use (``local[2]``, time zone
Asia/Shanghai, warehouse and metastore under a folder given); on a cluster, pass the platform's session.
pyspark is an optional dependency (the ``spark`` extra): nothing here is imported by the DuckDB path.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import polars as pl

from .probabilistic import BLOCKING_RULES, SplinkRun, settings, splink_quiet

__all__ = ["SparkPortError", "SparkScorer", "java_available", "spark_session", "spark_settings"]

log = logging.getLogger(__name__)

#: What a level of the kept model carries to Spark besides its SQL (which is rendered again for Spark).
_CARRIED = (
    "m_probability",
    "u_probability",
    "fix_m_probability",
    "fix_u_probability",
    "is_null_level",
    "tf_adjustment_column",
    "tf_adjustment_weight",
    "tf_minimum_u_value",
    "disable_tf_exact_match_detection",
)


class SparkPortError(ValueError):
    """The kept model cannot be ported: it was made for other comparisons than the code's."""


def java_available() -> str | None:
    """Why Spark cannot start here (no Java runtime), or None when a ``java`` is on the PATH or in JAVA_HOME."""
    import os

    if shutil.which("java") or (os.environ.get("JAVA_HOME") and Path(os.environ["JAVA_HOME"], "bin", "java").exists()):
        return None
    return "no Java runtime (java not on PATH, no JAVA_HOME): install Debian's openjdk-17-jre-headless (`make test` does when it is missing)"


#: the Spark driver's heap unless ZHILI_SPARK_DRIVER_MEMORY says otherwise (the dbt profile's spark target has the same)
DRIVER_MEMORY = "4g"


def spark_session(
    home: Path,
    *,
    master: str | None = None,
    app_name: str = "zhili",
    shuffle_partitions: int | None = None,
    catalogue: bool = False,
):
    """A Spark session as the dbt profile's ``spark`` target makes one: ``master`` (default: the setting
    ZHILI_SPARK_MASTER, else ``local[2]``), the session time zone Asia/Shanghai (the county's dates), warehouse,
    Derby metastore and scratch space under ``home/spark``, the UI off (a batch job on a shared machine), and
    ``shuffle_partitions`` (default: the setting ZHILI_SPARK_SHUFFLE_PARTITIONS, else 4; two to three per core of a
    cluster); the driver's heap from ZHILI_SPARK_DRIVER_MEMORY, else ``DRIVER_MEMORY``.

    ``catalogue``: with Hive support, so the session sees the tables dbt built there (dbt-spark's session
    method enables it); Derby lets one process at a time open the metastore."""
    import os

    from pyspark.sql import SparkSession

    base = Path(home).resolve() / "spark"
    base.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport() if catalogue else SparkSession.builder
    return (
        builder.master(master or os.environ.get("ZHILI_SPARK_MASTER", "local[2]"))
        .appName(app_name)
        .config("spark.sql.session.timeZone", "Asia/Shanghai")
        .config("spark.sql.warehouse.dir", str(base / "warehouse"))
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={base / 'metastore_db'};create=true",
        )
        # Derby writes its derby.log where it runs unless told: under the home, as the profile says
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={base}")
        .config("spark.local.dir", str(base / "tmp"))
        # the driver's heap (local mode: the executors' too); Spark's 1g ran out scoring 100k residents' pairs
        .config("spark.driver.memory", os.environ.get("ZHILI_SPARK_DRIVER_MEMORY", DRIVER_MEMORY))
        .config(
            "spark.sql.shuffle.partitions",
            str(shuffle_partitions or os.environ.get("ZHILI_SPARK_SHUFFLE_PARTITIONS", "4")),
        )
        # '\\d' in a string literal is a regex escape, as on DuckDB (the profile sets the same)
        .config("spark.sql.parser.escapedStringLiterals", "true")
        .config("spark.sql.parquet.mergeSchema", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def _label(level: dict) -> str | None:
    return level.get("label_for_charts")


def spark_settings(model: dict, *, only_new: bool = False) -> dict:
    """The kept Splink model ``model`` (its JSON dict, as ``model_store`` keeps it, any dialect) for Spark: the
    code's comparisons and blocking rules rendered for Spark, every level's parameters and λ from ``model``.

    Raises ``SparkPortError`` when ``model``'s comparisons are not the code's (names, number and labels of
    levels): the parameters would land on the wrong levels. ``only_new``: as ``score_pairs``' (only the pairs
    touching a unit whose ``is_new`` is true)."""
    code = settings().get_settings("spark").as_dict()
    kept = model["comparisons"]
    if [c["output_column_name"] for c in kept] != [c["output_column_name"] for c in code["comparisons"]]:
        raise SparkPortError(
            f"the kept model compares {[c['output_column_name'] for c in kept]}, the code "
            f"{[c['output_column_name'] for c in code['comparisons']]}: retrain it (zhili linkage train) before porting"
        )
    comparisons = []
    for k, c in zip(kept, code["comparisons"], strict=True):
        if [_label(level) for level in k["comparison_levels"]] != [_label(level) for level in c["comparison_levels"]]:
            raise SparkPortError(
                f"the kept model's comparison {c['output_column_name']!r} has the levels "
                f"{[_label(level) for level in k['comparison_levels']]}, the code's "
                f"{[_label(level) for level in c['comparison_levels']]}: retrain it before porting"
            )
        levels = []
        for kl, cl in zip(k["comparison_levels"], c["comparison_levels"], strict=True):
            level = {key: value for key, value in cl.items() if key not in _CARRIED}
            level |= {key: kl[key] for key in _CARRIED if key in kl}
            levels.append(level)
        comparisons.append({**c, "comparison_levels": levels})
    rules = code["blocking_rules_to_generate_predictions"]
    if only_new:
        # as probabilistic._with_code_blocking: a pair is still named by the first rule that finds it
        rules = [{**rule, "blocking_rule": f"({rule['blocking_rule']}) and (l.is_new or r.is_new)"} for rule in rules]
    return {
        **code,
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": rules,
        "probability_two_random_records_match": model["probability_two_random_records_match"],
    }


def _tf_with_unseen(units: pl.DataFrame, kept_tf: pl.DataFrame) -> pl.DataFrame:
    """The kept table plus every name of ``units`` it does not list, at its smallest frequency (as
    ``probabilistic._register_tf`` does on DuckDB: an unseen name weighs as the rarest name the model saw)."""
    kept_tf = kept_tf.select(pl.col("name").cast(pl.String), pl.col("tf_name").cast(pl.Float64))
    unseen = (
        units.select(pl.col("name").cast(pl.String))
        .drop_nulls()
        .unique()
        .join(kept_tf, on="name", how="anti")
        .with_columns(tf_name=pl.lit(kept_tf["tf_name"].min(), pl.Float64))
    )
    return pl.concat([kept_tf, unseen])


def _double_literals(node):
    # Splink's own "customspark" dialect writes a float literal cast to double as `<literal>D` (a double literal,
    # not Spark's default decimal, which has at most 38 digits); that dialect subclasses sqlglot's Spark generator,
    # which sqlglotc (installed by dagster-dbt's sqlglot[rs]) compiles and an interpreted class cannot subclass
    from sqlglot import exp

    if (
        isinstance(node, (exp.Cast, exp.TryCast))
        and node.to.is_type("double")
        and isinstance(node.this, exp.Literal)
        and node.this.is_number
    ):
        return exp.Var(this=f"{node.this.name}D")
    return node


def _spark_api(spark, **kwargs):
    """Splink's SparkAPI translating its SQL with sqlglot's own Spark dialect and the same double literals."""
    import sqlglot
    from splink import SparkAPI

    class _SparkAPI(SparkAPI):
        def _setup_for_execute_sql(self, sql: str, physical_name: str) -> str:
            tree = sqlglot.parse_one(sql, read="spark")
            return tree.transform(_double_literals).sql(dialect="spark", pretty=True)

    return _SparkAPI(spark_session=spark, **kwargs)


class SparkScorer:
    """``probabilistic.score_pairs`` on Spark for a kept model: same arguments, same ``SplinkRun``.

    Only a kept model scores here (``kept`` is required; ``model`` and ``seed`` concern estimation, which
    stays on DuckDB). ``checkpoint``: Splink's way of cutting a long Spark lineage (``persist`` in memory on
    one machine; ``parquet`` with a checkpoint folder on a cluster)."""

    def __init__(self, spark, *, checkpoint: str = "persist") -> None:
        self.spark = spark
        self.checkpoint = checkpoint

    def __call__(
        self,
        units: pl.DataFrame,
        *,
        min_probability: float,
        seed: int = 42,
        model: str = "auto",
        kept: tuple[str, dict] | None = None,
        kept_tf: pl.DataFrame | None = None,
        only_new: bool = False,
    ) -> SplinkRun:
        from splink import Linker

        from .probabilistic import _m_u

        if kept is None:
            raise ValueError(
                "Spark scores with a kept model only: make one on DuckDB first (zhili run, or zhili linkage train)"
            )
        name, kept_settings = kept
        spark = self.spark
        db = _spark_api(
            spark,
            break_lineage_method=self.checkpoint,
            num_partitions_on_repartition=int(spark.conf.get("spark.sql.shuffle.partitions")),
            # the comparisons use no fuzzy-string UDF, so Splink's similarity jar is not needed
            register_udfs_automatically=False,
        )
        # a fresh SparkAPI per call, so its table names (registered once each) never clash between calls
        frame = spark.createDataFrame(units.to_arrow())
        notes: dict = {"open_units": units.filter(pl.col("id_key").is_null()).height}
        with splink_quiet() as relay:
            linker = Linker(db.register(frame), spark_settings(kept_settings, only_new=only_new), log_level=None)
            tf_name = kept_tf
            if kept_tf is not None:
                table = _tf_with_unseen(units, kept_tf)
                notes["tf_name_unseen"] = table.height - kept_tf.height
                linker.table_management.register_term_frequency_lookup(
                    db.register(spark.createDataFrame(table.to_arrow())), "name"
                )
            predictions = linker.inference.predict(threshold_match_probability=min_probability)
            pairs = pl.from_arrow(predictions.as_spark_dataframe().toArrow())
            if tf_name is None:
                tf_table = linker.table_management.compute_tf_table("name")
                tf_name = pl.from_arrow(tf_table.as_spark_dataframe().select("name", "tf_name").toArrow())
        rule_names = list(BLOCKING_RULES)
        pairs = pairs.with_columns(
            pl.col("match_key")
            .cast(pl.Int64)
            .map_elements(lambda k: rule_names[k], return_dtype=pl.String)
            .alias("rule")
        )
        lam = linker._settings_obj._probability_two_random_records_match
        log.info(
            "splink on Spark: %d units, %d scored pairs >= %.2f, model %s, lambda %.3g",
            units.height,
            pairs.height,
            min_probability,
            name,
            lam,
        )
        return SplinkRun(
            pairs=pairs,
            probability_two_random_records_match=lam,
            m_u=_m_u(linker),
            model_source=name,
            lambda_method="kept",
            splink_warnings=relay.warnings,
            notes=notes,
            model=kept_settings,  # the kept model as kept (DuckDB's dialect): the home keeps one model, not two
            tf_name=tf_name,
        )
