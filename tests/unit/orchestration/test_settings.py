from pathlib import Path

from orchestration.settings import Settings


def test_flags_win_over_environment_and_defaults(tmp_path):
    env = {"ZHILI_HOME": str(tmp_path / "env-home"), "ZHILI_LANDING": str(tmp_path / "env-landing")}
    s = Settings.resolve(home=tmp_path / "flag-home", env=env)
    assert s.home == tmp_path / "flag-home"
    assert s.landing == tmp_path / "env-landing"
    assert s.secret_file == tmp_path / "flag-home" / "state" / "secret.key"


def test_defaults_live_under_dot_zhili():
    s = Settings.resolve(env={})
    assert s.home == Path(".zhili").absolute()
    assert s.landing == Path(".zhili/landing").absolute()


def test_as_of_date_comes_from_the_flag_or_environment():
    import pytest

    assert Settings.resolve(env={"ZHILI_AS_OF_DATE": "2024-12-01"}).as_of.isoformat() == "2024-12-01"
    with pytest.raises(ValueError, match="should be YYYY-MM-DD"):
        Settings.resolve(as_of="1/12/2024", env={})


def test_as_of_date_defaults_to_the_latest_delivery_loaded(tmp_path):
    import polars as pl

    from ingestion.schemas import LEDGER

    s = Settings.resolve(home=tmp_path, env={})
    assert s.as_of_date() is None
    (tmp_path / "ledger").mkdir()
    rows = [
        {"status": "loaded", "folder": "2024-11-03"},
        {"status": "loaded", "folder": "2024-11-09"},
        {"status": "rejected", "folder": "2024-12-30"},
    ]
    pl.DataFrame(rows).select(
        pl.col(c).cast(t) if c in ("status", "folder") else pl.lit(None, t).alias(c) for c, t in LEDGER.items()
    ).write_parquet(tmp_path / "ledger" / "a.parquet")
    assert s.as_of_date().isoformat() == "2024-11-09"


def test_duckdb_memory_limit_comes_from_the_environment_and_is_checked():
    import pytest

    from orchestration.settings import DEFAULT_DUCKDB_MEMORY, SettingsError

    assert Settings.resolve(env={}).duckdb_memory == DEFAULT_DUCKDB_MEMORY
    assert Settings.resolve(env={"ZHILI_DUCKDB_MEMORY": "800MB"}).duckdb_memory == "800MB"
    with pytest.raises(SettingsError, match="ZHILI_DUCKDB_MEMORY='lots' should be a size such as 5GB"):
        Settings.resolve(env={"ZHILI_DUCKDB_MEMORY": "lots"})


def test_the_engine_is_duckdb_unless_the_flag_or_environment_says_spark():
    import pytest

    from orchestration.settings import ENGINES, SettingsError

    assert ENGINES == ("duckdb", "spark")
    assert Settings.resolve(env={}).engine == "duckdb"
    assert Settings.resolve(env={"ZHILI_ENGINE": "Spark "}).engine == "spark"
    assert Settings.resolve(engine="duckdb", env={"ZHILI_ENGINE": "spark"}).engine == "duckdb"
    with pytest.raises(SettingsError, match="engine 'flink' should be one of duckdb, spark"):
        Settings.resolve(env={"ZHILI_ENGINE": "flink"})
