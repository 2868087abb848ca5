"""``orchestration.lib.spark_dbt``'s command line: the dbt command is everything after ``--`` (its options never
read as ours), and a call that could not do what it says is refused before any JVM starts."""

from __future__ import annotations

import pytest

from orchestration.lib import spark_dbt


def test_the_dbt_command_is_what_follows_the_separator(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(spark_dbt, "run_dbt_on_spark", lambda home, args: seen.update(home=home, args=args))
    monkeypatch.setattr(
        spark_dbt, "export_schemas", lambda schemas, out, home: seen.update(schemas=schemas, out=out) or []
    )

    code = spark_dbt.main(
        [str(tmp_path), "--export", str(tmp_path / "x"), "--schema", "staging", "--", "run", "--select", "staging"]
    )

    assert code == 0
    assert seen == {
        "home": tmp_path,
        "args": ["run", "--select", "staging"],
        "schemas": ["staging"],
        "out": tmp_path / "x",
    }


def test_an_export_alone_reads_the_homes_catalogue_without_dbt(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(spark_dbt, "run_dbt_on_spark", lambda *a: pytest.fail("dbt should not start"))
    monkeypatch.setattr(
        spark_dbt, "export_schemas", lambda schemas, out, home: seen.update(schemas=schemas, out=out, home=home) or []
    )

    assert spark_dbt.main([str(tmp_path), "--export", str(tmp_path / "x"), "--schema", "marts"]) == 0
    assert seen == {"schemas": ["marts"], "out": tmp_path / "x", "home": tmp_path}


@pytest.mark.parametrize(
    "argv",
    [
        ["home"],  # neither a dbt command nor an export
        ["home", "--"],
        ["home", "--export", "out", "--", "run"],  # an export of nothing
    ],
)
def test_an_incomplete_call_is_refused(argv, monkeypatch):
    monkeypatch.setattr(spark_dbt, "run_dbt_on_spark", lambda *a: pytest.fail("dbt should not start"))
    with pytest.raises(SystemExit) as exit_:
        spark_dbt.main(argv)
    assert exit_.value.code == 2


def test_a_failed_dbt_command_is_one_line_and_exit_code_1(monkeypatch, capsys):
    def fail(home, args):
        raise spark_dbt.SparkDbtError(f"dbt {' '.join(args)} on Spark failed for {home}: stg_x: boom")

    monkeypatch.setattr(spark_dbt, "run_dbt_on_spark", fail)
    assert spark_dbt.main(["home", "--", "run"]) == 1
    assert capsys.readouterr().err.strip() == "dbt run on Spark failed for home: stg_x: boom"
