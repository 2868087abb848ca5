"""The portability lint (``orchestration.lib.sql_portability``): each construct on small SQL, and the ratchet.

The ratchet: the count of every construct in the project's models may fall, never grow above the checked-in
baseline (``sql_portability_baseline.json``); a model that needs an engine-specific expression calls a
dispatched macro (``dbt_project/macros/``), which the lint does not read.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration.lib.sql_portability import BASELINE, CONSTRUCTS, count, lint_project, lint_sql, main


def _found(sql: str) -> list[tuple[int, str]]:
    return [(f.line, f.construct) for f in lint_sql(sql)]


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("select arg_max(name, updated_at) as name from t", "arg_max"),
        ("select ARG_MIN (x, y) from t", "arg_max"),
        ("select string_agg(k, ',' order by at, k) as ks from t", "string_agg_order_by"),
        ("select datediff('day', a, b) from t", "datediff_part"),
        ("select date_diff( 'minute', a, b) from t", "datediff_part"),
        ("select * from a\nunion all by name\nselect * from b", "union_by_name"),
        ("select * from a union by name select * from b", "union_by_name"),
        ("select * from read_parquet('{{ path }}', union_by_name = true)", "glob_read_parquet"),
        ("select file from glob('/x/*.parquet')", "glob_read_parquet"),
        ("select a,\n    b,\nfrom t", "trailing_comma"),
        ("{{ config(pre_hook='delete from {{ this }} where x') }} select 1 as x", "delete_this"),
        ("select strftime(d, '%Y%m') from t", "strftime_strptime"),
        ("select strptime(s, '%Y-%m-%d') from t", "strftime_strptime"),
        ("select * from t where regexp_matches(id, '^X[0-9]+$')", "regexp_matches"),
        ("select unnest(string_split(k, ',')) from t", "list_unnest"),
        ("select list(x order by y) from t", "list_unnest"),
        ("select * from t where list_contains(xs, 1)", "list_unnest"),
        ("select cast(x as varchar) from t", "varchar"),
        ("select x::VARCHAR from t", "varchar"),
        ("select cast(x as timestamp with time zone) from t", "timestamp_with_time_zone"),
        ("select cast(x as timestamptz) from t", "timestamp_with_time_zone"),
        ("select cast(timezone('Asia/Shanghai', at) as date) from t", "timezone_fn"),
        ("select * exclude (filename) from t", "star_exclude"),
        ("select v.* EXCLUDE (a, b), k.a from v join k using (x)", "star_exclude"),
        ("select * replace (upper(a) as a) from t", "star_exclude"),
        ("select k, any_value(c) as c from t group by k", "any_value"),
    ],
)
def test_each_duckdb_only_construct_is_named(sql: str, construct: str):
    assert construct in {c for _, c in _found(sql)}


@pytest.mark.parametrize(
    "sql",
    [
        # portable spellings of the same things
        "select max_by(name, updated_at) from t",
        "select string_agg(k, ',') from t",  # unordered: dbt.listagg territory, but Spark 4 has string_agg
        "select datediff(b, a) from t",
        "select {{ dbt.datediff('a', 'b', 'day') }} as days from t",
        "select * from a union all select * from b",
        "select a, b from t",
        "select a, b\n    -- a comment,\nfrom t",
        "select extract(year from d) from t",
        "select cast(x as string), date_format(d, 'yyyyMM') from t",
        "select * from {{ ref('stg_x') }}",
        "select a, /* b, */ c from t",
        "{# read_parquet(...) only in macros #} select {{ zhili_read_files(files) }}",
        "select my_list_of_things, listed from t",
        "select {{ zhili_local_date('at') }} as d, {{ zhili_star_except(ref('x'), ['a']) }} from t",
        "select time_zone, a * b as exclude_share from t",
    ],
)
def test_portable_sql_and_comments_are_not_named(sql: str):
    assert _found(sql) == []


def test_jinja_renders_as_what_it_makes():
    # the comma before the loop's end is the trailing comma of its last round
    sql = "select\n{% for c in cols %}\n    {{ c }},\n{% endfor %}\nfrom t"
    assert _found(sql) == [(3, "trailing_comma")]
    # a macro call's arguments are not SQL
    assert _found("select {{ zhili_glob('x') }} as list from t") == []


def test_a_finding_names_its_file_line_and_the_line():
    finding = lint_sql("select\n  a,\n  cast(b as varchar) as b\nfrom t", "models/x.sql")[0]
    assert str(finding) == "models/x.sql:3: varchar: cast(b as varchar) as b"


@given(
    st.lists(
        st.sampled_from(["select 1", "-- arg_max(x, y)", "", "  union all", "/* cast(a as varchar) */"]), max_size=8
    )
)
def test_lines_before_a_construct_move_its_line_and_comments_never_count(prefix: list[str]):
    sql = "\n".join([*prefix, "select arg_max(a, b) from t"])
    assert _found(sql) == [(len(prefix) + 1, "arg_max")]


def test_no_construct_grows_above_the_baseline():
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    assert set(baseline) == set(CONSTRUCTS), "the baseline names every construct the lint knows"
    findings = lint_project()
    counts = count(findings)
    grown = {c: (baseline[c], n) for c, n in counts.items() if n > baseline[c]}
    assert not grown, (
        "DuckDB-only SQL added to models (construct: baseline -> now); put it behind a dispatched macro "
        f"(dbt_project/macros/portable/): {grown}\n" + "\n".join(str(f) for f in findings if f.construct in grown)
    )


def test_the_command_prints_findings_and_counts_and_fails_while_any_remain(tmp_path, capsys):
    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "stg_x.sql").write_text("select a,\nfrom t\n", encoding="utf-8")
    assert main(["--models", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "staging/stg_x.sql:1: trailing_comma: select a," in out
    assert "trailing_comma                 1" in out
    (tmp_path / "staging" / "stg_x.sql").write_text("select a\nfrom t\n", encoding="utf-8")
    assert main(["--models", str(tmp_path)]) == 0


def test_the_data_tests_are_linted_as_the_models_are(tmp_path):
    """A data test runs on the engine of the build (dbt build): a trailing comma in a generic test is found
    under the tests folder, named by its path there."""
    models, tests = tmp_path / "models", tmp_path / "tests"
    models.mkdir()
    (tests / "generic").mkdir(parents=True)
    (tests / "generic" / "pairs.sql").write_text(
        "{% test pairs(model, columns) %}\nselect\n    {{ columns | join(', ') }},\n    count(*) as n,\nfrom {{ model }}\n"
        "group by {{ columns | join(', ') }}\n{% endtest %}\n",
        encoding="utf-8",
    )
    found = [str(f) for f in lint_project(models, tests)]
    assert found == ["tests/generic/pairs.sql:4: trailing_comma: count(*) as n,"]
    assert lint_project(models, None) == []
