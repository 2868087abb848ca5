"""Shared fixtures: generated districts, made once per test session and shared by the tests that ask for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingestion.generator import generate


def _fingerprint(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.fixture(scope="session")
def generated_district(tmp_path_factory) -> Iterator[Callable[..., Path]]:
    """``generated_district(residents, days, seed, patterns=True)`` -> a folder with ``landing/`` and ``truth/``
    of that district, generated on first use and shared by every test of the session that asks for the same one.

    It is read-only: run the pipeline with its own ``--home`` elsewhere, and a test that changes deliveries
    (corrupts a file, breaks a flag, renames a delivery) copies ``landing/`` into its own folder first. Tests
    run as root, so file modes cannot enforce that; instead every shared folder is compared at the end of the
    session with what was generated, and a test that wrote into one fails there."""
    made: dict[tuple[int, int, int, bool], tuple[Path, list]] = {}

    def get(residents: int, days: int, seed: int, *, patterns: bool = True) -> Path:
        key = (residents, days, seed, patterns)
        if key not in made:
            out = tmp_path_factory.mktemp(f"district-{residents}x{days}-seed{seed}{'' if patterns else '-nopatterns'}")
            generate(out, residents=residents, days=days, seed=seed, patterns=patterns)
            made[key] = out, _fingerprint(out)
        return made[key][0]

    yield get

    changed = [str(out) for out, before in made.values() if _fingerprint(out) != before]
    assert not changed, f"a test wrote into a shared generated district (copy its landing first): {changed}"
