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
