"""Shared fixtures: generated districts, made once per test session and shared by the tests that ask for them."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from ingestion.generator import generate


@pytest.fixture(scope="session")
def generated_district(tmp_path_factory) -> Callable[..., Path]:
    """``generated_district(residents, days, seed)`` -> a folder with ``landing/`` and ``truth/`` of that district,
    generated on first use and shared by every test of the session that asks for the same one. Treat it as
    read-only: run the pipeline with its own ``--home`` elsewhere."""
    made: dict[tuple[int, int, int], Path] = {}

    def get(residents: int, days: int, seed: int) -> Path:
        key = (residents, days, seed)
        if key not in made:
            out = tmp_path_factory.mktemp(f"district-{residents}x{days}-seed{seed}")
            generate(out, residents=residents, days=days, seed=seed)
            made[key] = out
        return made[key]

    return get
