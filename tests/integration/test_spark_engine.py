"""The Spark engine (issue 25) answers as DuckDB does: the kept linkage model and the portable dbt macros.

One local Spark session (``ingestion.linkage.spark.spark_session``, as the dbt profile's ``spark`` target makes
it) serves the module: the JVM starts once. Skipped only where no Java runtime is installed.

Linkage (``ingestion.linkage.spark``): a small generated district is ingested and linked on DuckDB (which keeps the home's model and its name term
frequencies); the same profiles are then linked again with that kept model on DuckDB and on a local Spark:
the scored pairs (match weights to 1e-9, every comparison level), each profile's person key and link, the
review queue and the golden records must be the same.

Macros (``dbt_project/macros/portable/``): a tiny dbt project, one model calling every portable macro over rows
chosen where the engines' own functions differ (a NULL value on the greatest row for arg_max, NULL ordering
values), compiled with the project's profile for DuckDB and for Spark, each run on its engine: the rows must be
equal, and equal to what DuckDB's own functions answer. A seed with quotes, backslashes and empty cells loads
unchanged on both (``spark__load_csv_rows``, macros/portable/dbt_spark.sql).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ingestion.linkage.spark import java_available

pytestmark = pytest.mark.skipif(java_available() is not None, reason=str(java_available()))

KEY = b"s" * 32


@pytest.fixture(scope="module")
def linked(generated_district, tmp_path_factory) -> tuple:
    from ingestion.linkage import run_linkage
    from ingestion.linkage.core import collapse
    from ingestion.linkage.model_store import current_model
    from ingestion.planner import ingest_landing
    from ingestion.zones import Zones

    district = generated_district(2000, 7, 4)
    zones = Zones(tmp_path_factory.mktemp("spark_linkage") / "home")
    ingest_landing(district / "landing", zones, key=KEY)
    run_linkage(zones, key=KEY)
    kept = current_model(zones)
    files = sorted(zones.person_records().glob("*.parquet"))
    profiles = collapse(pl.scan_parquet(files, missing_columns="insert", schema=None))
    return zones, kept, profiles


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from ingestion.linkage.spark import spark_session

    session = spark_session(tmp_path_factory.mktemp("spark_home"), shuffle_partitions=2)
    yield session
    session.stop()


def test_the_kept_model_links_the_same_pairs_and_persons_on_spark_as_on_duckdb(linked, spark):
    from ingestion.linkage.core import link_profiles
    from ingestion.linkage.spark import SparkScorer

    _, kept, profiles = linked
    assert kept is not None and kept.tf_name is not None
    duck = link_profiles(profiles, key=KEY, kept=kept)
    on_spark = link_profiles(profiles, key=KEY, kept=kept, scorer=SparkScorer(spark))

    pairs = duck.scored.pairs.sort("unit_l", "unit_r")
    assert pairs.height > 50, "too few scored pairs for the comparison to mean anything"
    assert (pairs["match_probability"] >= kept.accept_threshold).sum() > 10
    assert_frame_equal(
        on_spark.scored.pairs.select(pairs.columns).sort("unit_l", "unit_r"), pairs, check_exact=False, abs_tol=1e-9
    )
    # clusters: every profile's person key, link method and rule the same; the weights to 1e-9
    assert_frame_equal(
        on_spark.profiles.sort("profile"), duck.profiles.sort("profile"), check_exact=False, abs_tol=1e-9
    )
    assert duck.profiles["person_key"].n_unique() < duck.profiles.height  # some profiles were linked together
    assert_frame_equal(on_spark.golden.sort("person_key"), duck.golden.sort("person_key"))
    by = [c for c in duck.review.columns if duck.review[c].dtype == pl.String]
    assert_frame_equal(on_spark.review.sort(by), duck.review.sort(by), check_exact=False, abs_tol=1e-9)
    for stat in ("accepted_links", "persons", "review_pairs", "guard_refused", "scored_pairs"):
        assert on_spark.stats[stat] == duck.stats[stat], stat


def test_a_day_scored_only_for_its_new_units_on_spark_reuses_the_pairs_as_on_duckdb(linked, spark):
    # the incremental path (only_new): yesterday's pairs reused, only pairs touching a new unit scored
    from ingestion.linkage.core import link_profiles
    from ingestion.linkage.spark import SparkScorer

    _, kept, profiles = linked
    first = profiles.head(profiles.height * 2 // 3)
    before = link_profiles(first, key=KEY, kept=kept)
    scored = before.scored
    duck = link_profiles(profiles, key=KEY, kept=kept, scored=scored)
    on_spark = link_profiles(profiles, key=KEY, kept=kept, scored=scored, scorer=SparkScorer(spark))
    assert duck.stats["splink_new_units"] > 0
    pairs = duck.scored.pairs.sort("unit_l", "unit_r")
    assert_frame_equal(
        on_spark.scored.pairs.select(pairs.columns).sort("unit_l", "unit_r"), pairs, check_exact=False, abs_tol=1e-9
    )
    assert_frame_equal(
        on_spark.profiles.sort("profile"), duck.profiles.sort("profile"), check_exact=False, abs_tol=1e-9
    )


def test_a_model_for_other_comparisons_is_refused_before_spark_sees_it(linked):
    from ingestion.linkage.spark import SparkPortError, spark_settings

    _, kept, _ = linked
    ported = spark_settings(kept.settings)
    assert ported["sql_dialect"] == "spark"
    assert ported["probability_two_random_records_match"] == kept.settings["probability_two_random_records_match"]
    for k, p in zip(kept.settings["comparisons"], ported["comparisons"], strict=True):
        for kl, pl_ in zip(k["comparison_levels"], p["comparison_levels"], strict=True):
            assert (kl.get("m_probability"), kl.get("u_probability")) == (
                pl_.get("m_probability"),
                pl_.get("u_probability"),
            )
            assert '"' not in pl_["sql_condition"]  # DuckDB's quoted identifiers are string literals to Spark
    other = {**kept.settings, "comparisons": kept.settings["comparisons"][:-1]}
    with pytest.raises(SparkPortError, match="retrain"):
        spark_settings(other)
    relabelled = dict(kept.settings)
    relabelled["comparisons"] = [dict(c) for c in kept.settings["comparisons"]]
    relabelled["comparisons"][0]["comparison_levels"] = [
        {**level, "label_for_charts": "x"} for level in relabelled["comparisons"][0]["comparison_levels"]
    ]
    with pytest.raises(SparkPortError, match="'name'"):
        spark_settings(relabelled)


def test_spark_scores_only_a_kept_model(linked, spark):
    from ingestion.linkage.spark import SparkScorer

    with pytest.raises(ValueError, match="kept model only"):
        SparkScorer(spark)(pl.DataFrame({"unique_id": [1]}), min_probability=0.5)


PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"

MODEL = """
with t as (
    select * from (values
        (cast(null as string), 3, cast('2024-03-05' as date), 'X12'),
        ('x', 2, cast('2024-11-30' as date), 'Y1'),
        ('y', cast(null as integer), cast('2025-01-01' as date), 'X9'),
        ('z', 1, cast('2023-07-09' as date), 'b'),
        ('w', 0, cast(null as date), 'X12')
    ) as v (a, b, d, k)
)
select
    {{ zhili_arg_max('a', 'b') }} as arg_max_a,
    {{ zhili_arg_min('a', 'b') }} as arg_min_a,
    {{ zhili_string_agg('a', "'+'", 'b desc nulls last, a') }} as agg_desc,
    {{ zhili_string_agg('a', "'+'", 'b nulls last, a') }} as agg_asc,
    {{ zhili_string_agg('k', "','", 'k', distinct=true) }} as agg_distinct,
    max({{ zhili_format_date('d', '%Y%m') }}) as month_key,
    min({{ zhili_format_date('d', '%Y-%m-%d|%H:%M:%S') }}) as day_key,
    max({{ zhili_format_date('d', '%Y年%m月') }}) as month_label,
    sum(case when {{ zhili_regexp_matches('k', "'^X[0-9]+$'") }} then 1 else 0 end) as x_keys,
    sum(case when {{ zhili_ends_with('k', "'12'") }} then 1 else 0 end) as ends_12,
    {{ zhili_arg_max_tuple('a', ['d', 'k']) }} as tuple_max_a,
    {{ zhili_arg_max_tuple('a', ['k', 'b']) }} as tuple_max_k,
    {{ zhili_arg_max_tuple(zhili_struct(['a', 'b']), ['b', 'k']) }}.a as struct_max_a,
    max({{ zhili_string_literal(var('quoted')) }}) as quoted
from t
"""

#: a text whose literal needs more than quotes around it: a quote, a doubled one and a backslash (Spark's lexer
#: reads `\\'` as a quote inside the literal), and what a binding would take for a placeholder
QUOTED = "the unit's grids, '' and \\ and \\' and 50% %s"

#: DuckDB's own functions on these rows (arg_max skips the row whose value is NULL; Spark's max_by would not)
EXPECTED = {
    "arg_max_a": "x",
    "arg_min_a": "w",
    "agg_desc": "x+z+w+y",
    "agg_asc": "w+z+x+y",
    "agg_distinct": "X12,X9,Y1,b",
    "month_key": "202501",
    "day_key": "2023-07-09|00:00:00",
    "month_label": "2025年01月",
    "x_keys": 3,
    "ends_12": 2,
    # a NULL key ranks above every value, as in DuckDB's tuple comparison; a NULL `a` is skipped, a struct never
    "tuple_max_a": "w",
    "tuple_max_k": "z",
    "struct_max_a": "y",
    "quoted": QUOTED,
}


#: dbt's date macros (dbt-spark's replaced by macros/portable/dbt_spark.sql) and the window and split macros:
#: boundaries crossed as DuckDB counts them (10:00:59.5 to 10:01:00.2 is a minute and a second), NULL in, NULL out
TIME_MODEL = """
with t as (
    select i, cast(a as timestamp) as a, cast(b as timestamp) as b, parts, n
    from (values
        (1, '2024-01-01 10:00:59.5', '2024-01-01 10:01:00.2', 'a;;b', 90),
        (2, '2024-01-01 10:01:00', '2024-01-01 10:00:59', 'a;', cast(null as integer)),
        (3, '2024-01-01 23:59:59', '2024-01-02 00:00:00', cast(null as string), 30),
        (4, cast(null as string), '2024-01-02 00:00:00', '', 5)
    ) as v (i, a, b, parts, n)
)
select
    i,
    {{ dbt.datediff('a', 'b', 'second') }} as seconds,
    {{ dbt.datediff('a', 'b', 'minute') }} as minutes,
    {{ dbt.datediff('a', 'b', 'hour') }} as hours,
    {{ dbt.datediff('a', 'b', 'day') }} as days,
    {{ dbt.datediff('a', dbt.dateadd('minute', 'n', 'a'), 'second') }} as seconds_added,
    {{ dbt.datediff('a', dbt.dateadd('hour', 'n', 'a'), 'minute') }} as minutes_added,
    {{ zhili_split_count('parts', "';'") }} as part_count,
    {{ zhili_last_value_ignore_nulls('n') }} over (order by i rows between unbounded preceding and current row) as last_n
from t
"""

#: one row per day, as a select-list expression; a pair whose end is before its start gives none
SERIES_MODEL = """
select day from (
    select {{ zhili_date_series("cast('2024-02-27' as date)", "cast('2024-03-02' as date)") }} as day
) as forward
union all
select day from (
    select {{ zhili_date_series("cast('2024-03-02' as date)", "cast('2024-03-01' as date)") }} as day
) as backward
"""

#: the most frequent value, the least of the tied ones (the rows meet 'c' before 'a', so DuckDB's plain mode would
#: answer 'c'); a value among the non-NULL ones (group 2 meets its NULL first, which Spark's plain any_value may
#: answer); a value among the parts of a split text; one row per part, none for NULL
SPLIT_MODEL = """
with t as (
    select * from (values
        (1, 'b', 'a;;b'), (1, 'c', 'a;b'), (1, 'a', cast(null as string)), (1, 'c', ''), (1, 'a', 'x'),
        (2, cast(null as string), 'y;z'), (2, 'z', ';')
    ) as v (g, m, parts)
)
select
    g,
    {{ zhili_mode('m') }} as mode_m,
    {{ zhili_any_value('case when m is not null then g end') }} as any_g,
    sum(case when {{ zhili_split_contains('parts', "';'", "'b'") }} then 1 else 0 end) as has_b,
    sum(case when {{ zhili_split_contains('parts', "';'", "''") }} then 1 else 0 end) as has_empty
from t
group by g
"""

SPLIT_ROWS_MODEL = """
select part from (
    select {{ zhili_split_rows('parts', "'、'") }} as part
    from (values ('甲、乙'), (cast(null as string)), ('丙')) as v (parts)
) as split_parts
"""

#: ln(n!) on both engines (Spark has no lgamma): equal to math.lgamma to a few units in the last place, not bit for bit
FACTORIAL_MODEL = """
select n, {{ zhili_ln_factorial('n') }} as ln_factorial
from (values (0), (1), (2), (5), (20), (21), (22), (100), (999)) as v (n)
"""

SPLIT_EXPECTED = [
    {"g": 1, "mode_m": "a", "any_g": 1, "has_b": 2, "has_empty": 2},
    {"g": 2, "mode_m": "z", "any_g": 2, "has_b": 0, "has_empty": 1},
]

TIME_EXPECTED = [
    {"i": 1, "seconds": 1, "minutes": 1, "hours": 0, "days": 0, "seconds_added": 5400, "minutes_added": 5400},
    {"i": 2, "seconds": -1, "minutes": -1, "hours": 0, "days": 0, "seconds_added": None, "minutes_added": None},
    {"i": 3, "seconds": 1, "minutes": 1, "hours": 1, "days": 1, "seconds_added": 1800, "minutes_added": 1800},
    {
        "i": 4,
        "seconds": None,
        "minutes": None,
        "hours": None,
        "days": None,
        "seconds_added": None,
        "minutes_added": None,
    },
]
for row, part_count, last_n in zip(TIME_EXPECTED, (3, 2, None, 1), (90, 90, 30, 5), strict=True):
    row.update(part_count=part_count, last_n=last_n)


def _compile(project: Path, target: str, variables: dict) -> tuple[subprocess.Popen, Path]:
    """``dbt compile`` of the tiny project for ``target``, started (no Spark session: the cache is not populated)."""
    home = project.parent / f"{target}_home"
    home.mkdir()
    env = {**os.environ, "ZHILI_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    command = [
        str(Path(sys.executable).with_name("dbt")),
        "compile",
        "--no-populate-cache",
        "--vars",
        json.dumps(variables),
    ]
    command += ["--project-dir", str(project), "--profiles-dir", str(PROJECT), "--target", target]
    command += ["--target-path", str(home / "target"), "--log-path", str(home / "logs")]
    process = subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, home / "target" / "compiled" / "zhili" / "models"


def _compiled(started: tuple[subprocess.Popen, Path], target: str) -> dict[str, str]:
    process, folder = started
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, f"dbt compile for {target} failed:\n{out[-3000:]}"
    return {path.stem: path.read_text(encoding="utf-8") for path in folder.glob("*.sql")}


def test_every_portable_macro_answers_the_same_on_duckdb_and_spark(tmp_path: Path, spark):
    import duckdb

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    shutil.copytree(PROJECT / "macros" / "portable", project / "macros" / "portable")
    (project / "dbt_project.yml").write_text(
        'name: zhili\nversion: "1.0.0"\nconfig-version: 2\nprofile: zhili\n', encoding="utf-8"
    )
    shutil.copy(PROJECT / "macros" / "incremental_files.sql", project / "macros")
    (project / "models" / "portable_check.sql").write_text(MODEL, encoding="utf-8")
    (project / "models" / "time_check.sql").write_text(TIME_MODEL, encoding="utf-8")
    (project / "models" / "series_check.sql").write_text(SERIES_MODEL, encoding="utf-8")
    (project / "models" / "split_check.sql").write_text(SPLIT_MODEL, encoding="utf-8")
    (project / "models" / "split_rows_check.sql").write_text(SPLIT_ROWS_MODEL, encoding="utf-8")
    (project / "models" / "factorial_check.sql").write_text(FACTORIAL_MODEL, encoding="utf-8")
    # a zone folder: two delivered files with different columns, and the zero-row `_empty.parquet`
    zone = tmp_path / "zone" / "table"
    zone.mkdir(parents=True)
    pl.DataFrame({"x": [1, 2], "y": ["a", "b"]}).write_parquet(zone / "aaa.parquet")
    pl.DataFrame({"x": [3], "z": ["c"]}).write_parquet(zone / "bbb.parquet")
    pl.DataFrame(schema={"x": pl.Int64, "y": pl.String}).write_parquet(zone / "_empty.parquet")
    (project / "models" / "folder_check.sql").write_text("{{ zhili_folder_files(var('folder')) }}", encoding="utf-8")
    (project / "models" / "read_check.sql").write_text(
        "select x, y, z from ({{ zhili_read_files(var('files_' ~ target.type)) }}) as r", encoding="utf-8"
    )
    files = [str(zone / "aaa.parquet"), str(zone / "bbb.parquet")]
    variables = {"folder": str(zone), "files_duckdb": files, "files_spark": [f"file:{f}" for f in files]}
    variables["quoted"] = QUOTED
    started = {target: _compile(project, target, variables) for target in ("dev", "spark")}  # both at once
    sql = {target: _compiled(process, target) for target, process in started.items()}
    assert "arg_max(" in sql["dev"]["portable_check"] and "max_by(" in sql["spark"]["portable_check"]
    con = duckdb.connect()
    con.execute("set TimeZone = 'Asia/Shanghai'")
    on_duckdb = {name: con.sql(query).pl().to_dicts() for name, query in sql["dev"].items()}
    on_spark = {name: [row.asDict() for row in spark.sql(query).collect()] for name, query in sql["spark"].items()}
    assert on_duckdb["portable_check"] == [EXPECTED]
    assert on_spark["portable_check"] == on_duckdb["portable_check"]
    assert "timestampadd(" in sql["spark"]["time_check"] and "unix_micros(" in sql["spark"]["time_check"]
    assert sorted(on_duckdb["time_check"], key=lambda r: r["i"]) == TIME_EXPECTED
    assert sorted(on_spark["time_check"], key=lambda r: r["i"]) == TIME_EXPECTED
    # a leap day included, both ends included; an end before the start gives no row (Spark's sequence would fail)
    days = [{"day": dt.date(2024, 2, 27) + dt.timedelta(days=n)} for n in range(5)]
    assert sorted(on_duckdb["series_check"], key=lambda r: r["day"]) == days
    assert sorted(on_spark["series_check"], key=lambda r: r["day"]) == days
    assert "mode(m order by m)" in sql["dev"]["split_check"] and "mode(m, true)" in sql["spark"]["split_check"]
    assert sorted(on_duckdb["split_check"], key=lambda r: r["g"]) == SPLIT_EXPECTED
    assert sorted(on_spark["split_check"], key=lambda r: r["g"]) == SPLIT_EXPECTED
    assert sorted(r["part"] for r in on_duckdb["split_rows_check"]) == sorted(["甲", "乙", "丙"])
    assert sorted(r["part"] for r in on_spark["split_rows_check"]) == sorted(["甲", "乙", "丙"])
    for engine in (on_duckdb, on_spark):
        values = {r["n"]: r["ln_factorial"] for r in engine["factorial_check"]}
        assert values.keys() == {0, 1, 2, 5, 20, 21, 22, 100, 999}
        assert all(math.isclose(v, math.lgamma(n + 1), rel_tol=1e-14, abs_tol=1e-300) for n, v in values.items())
    # the same files listed, but `_empty.parquet`: Spark's file index skips names starting with `_`, and its
    # zero rows are read by no model either way
    assert {r["file_md5"] for r in on_duckdb["folder_check"]} == {"aaa", "bbb", "_empty"}
    assert {r["file_md5"] for r in on_spark["folder_check"]} == {"aaa", "bbb"}
    # columns matched by name, a column a file lacks as NULL
    expected = [{"x": 1, "y": "a", "z": None}, {"x": 2, "y": "b", "z": None}, {"x": 3, "y": None, "z": "c"}]
    assert sorted(on_duckdb["read_check"], key=lambda r: r["x"]) == expected
    assert sorted(on_spark["read_check"], key=lambda r: r["x"]) == expected


#: a seed whose texts dbt-spark's own insert cannot load (a quote ends its '<value>' literal; an empty cell
#: became the text 'None'), beside a number, a date and a boolean column
SEED = (
    "code,label,per,since,is_kept\n"
    "a,常住人口 of the unit's active grids,10000,2024-02-29,true\n"
    "b,'quoted' and it''s,,2024-03-01,false\n"
    'c,"a \\ backslash, a \\\' and a comma",2.5,,true\n'
    "d,50% of %s,0,2024-03-02,\n"
    "e,,1,2024-03-03,false\n"
)


def test_a_seed_with_quotes_and_backslashes_loads_unchanged_on_duckdb_and_spark(tmp_path: Path, spark):
    """dbt seed on both targets; on Spark in this process, so dbt-spark's session method reuses this module's
    Spark session (no second JVM)."""
    import csv
    import io

    import duckdb
    from dbt.cli.main import dbtRunner

    project = tmp_path / "project"
    (project / "seeds").mkdir(parents=True)
    shutil.copytree(PROJECT / "macros" / "portable", project / "macros" / "portable")
    (project / "dbt_project.yml").write_text(
        'name: zhili\nversion: "1.0.0"\nconfig-version: 2\nprofile: zhili\n', encoding="utf-8"
    )
    (project / "seeds" / "quoted_seed.csv").write_text(SEED, encoding="utf-8")
    homes = {target: tmp_path / f"{target}_home" for target in ("dev", "spark")}
    for target, home in homes.items():
        home.mkdir()
    options = ["--project-dir", str(project), "--profiles-dir", str(PROJECT)]
    env = {**os.environ, "ZHILI_HOME": str(homes["dev"]), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    duck = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "seed", *options, "--target", "dev"]
        + ["--target-path", str(homes["dev"] / "target"), "--log-path", str(homes["dev"] / "logs")],
        env=env,
        cwd=homes["dev"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert duck.returncode == 0, f"dbt seed on DuckDB failed:\n{duck.stdout[-3000:]}"
    result = dbtRunner().invoke(
        ["--no-send-anonymous-usage-stats", "seed", *options, "--target", "spark"]
        + ["--target-path", str(homes["spark"] / "target"), "--log-path", str(homes["spark"] / "logs")]
    )
    errors = [
        str(node.message) for node in getattr(result.result, "results", None) or [] if str(node.status) != "success"
    ]
    assert result.success, f"dbt seed on Spark failed: {result.exception or errors}"

    con = duckdb.connect(str(homes["dev"] / "warehouse.duckdb"), read_only=True)
    on_duckdb = sorted(con.execute("select * from main.quoted_seed").fetchall())
    on_spark = sorted(tuple(row) for row in spark.table("main.quoted_seed").collect())
    texts = [(row["code"], row["label"] or None) for row in csv.DictReader(io.StringIO(SEED))]
    assert [(row[0], row[1]) for row in on_duckdb] == texts
    assert on_spark == on_duckdb
