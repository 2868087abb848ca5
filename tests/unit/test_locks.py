"""The two locks and pyproject agree: a deployment installs requirements.lock alone, so a test-only package
there would ship, and a runtime package only in requirements-test.lock would be missing at run time."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _lock(name: str) -> dict[str, str]:
    return _pins((ROOT / name).read_text().splitlines())


def test_runtime_dependencies_are_pinned_as_the_runtime_lock_pins_them():
    runtime, lock = _pins(PYPROJECT["project"]["dependencies"]), _lock("requirements.lock")
    assert {k: lock.get(k) for k in runtime} == runtime


def test_the_test_extra_is_pinned_as_the_test_lock_pins_it():
    extra, lock = _pins(PYPROJECT["project"]["optional-dependencies"]["test"]), _lock("requirements-test.lock")
    assert {k: lock.get(k) for k in extra} == extra
    assert {"pytest", "hypothesis", "playwright", "ruff"} <= set(extra)


def test_the_test_lock_only_adds_to_the_runtime_lock():
    shared = set(_lock("requirements.lock")) & set(_lock("requirements-test.lock"))
    assert shared == set(), f"pinned in both locks (keep each package in one): {sorted(shared)}"


def test_the_spark_extra_is_pinned_as_the_spark_lock_pins_it_and_only_adds_to_the_others():
    # the spark extra (issue 25) names dbt-spark with its own extra: dbt-spark[session]
    extra = {
        re.sub(r"\[.*\]", "", k): v for k, v in _pins(PYPROJECT["project"]["optional-dependencies"]["spark"]).items()
    }
    lock = _lock("requirements-spark.lock")
    assert {k: lock.get(k) for k in extra} == extra
    assert {"pyspark", "dbt-spark"} <= set(extra)
    for other in ("requirements.lock", "requirements-test.lock"):
        shared = set(_lock(other)) & set(lock)
        assert shared == set(), f"pinned in {other} and requirements-spark.lock: {sorted(shared)}"
