"""Great Expectations suites for the normalised zone, and the runner that applies them.

``validate(table, frame, docs_dir=..., label=...)`` checks one delivery file's
normalised rows against the suite named after its table and writes an HTML
page per validation; ``validate_many(table, [(frame, label), ...], docs_dir=...)``
does the same for several files of one table in far fewer GX runs, with the
same per-file results. No Dagster here: orchestration wraps this in asset checks.
"""

from expectations.runner import (
    BATCH_ROWS,
    SAMPLE_LOCATORS,
    Failure,
    Validation,
    ValidationError,
    suite_for,
    validate,
    validate_many,
)
from expectations.suites import BUILDERS, DERIVED, TABLES, build_suite, expected_columns, to_pandas

__all__ = [
    "BATCH_ROWS",
    "BUILDERS",
    "DERIVED",
    "Failure",
    "SAMPLE_LOCATORS",
    "TABLES",
    "Validation",
    "ValidationError",
    "build_suite",
    "expected_columns",
    "suite_for",
    "to_pandas",
    "validate",
    "validate_many",
]
