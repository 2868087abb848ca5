"""tests/unit/ mirrors the packages, and every folder of it is a package, so two test modules of the same
name in different folders (ingestion/test_core.py, ingestion/linkage/test_core.py) import as different
modules instead of one shadowing the other under pytest's default import mode."""

from __future__ import annotations

from pathlib import Path

UNIT = Path(__file__).resolve().parent
ROOT = UNIT.parents[1]


def folders_with_tests() -> list[Path]:
    return sorted({p.parent for p in UNIT.rglob("test_*.py") if "__pycache__" not in p.parts})


def test_every_folder_up_to_tests_is_a_package():
    missing = [
        str(folder)
        for leaf in folders_with_tests()
        for folder in [leaf.relative_to(ROOT), *leaf.relative_to(ROOT).parents][:-1]
        if not (ROOT / folder / "__init__.py").is_file()
    ]
    assert missing == [], f"add an empty __init__.py to {sorted(set(missing))}"


def test_each_folder_names_a_package_of_the_code():
    strays = [
        str(folder.relative_to(ROOT))
        for folder in folders_with_tests()
        if folder != UNIT and not (ROOT / folder.relative_to(UNIT) / "__init__.py").is_file()
    ]
    assert strays == [], f"tests/unit/<package>/... mirrors the code; no package for {strays}"
