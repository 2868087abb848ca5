"""Great Expectations suites for the normalised zone, and the runner that applies them.

``validate(table, frame, docs_dir=..., label=...)`` checks one delivery file's
normalised rows against the suite named after its table and writes an HTML
page per validation. No Dagster here: orchestration wraps this in asset checks.
"""

from expectations.runner import SAMPLE_LOCATORS, Failure, Validation, ValidationError, suite_for, validate
from expectations.suites import BUILDERS, DERIVED, TABLES, build_suite, expected_columns, to_pandas

__all__ = [
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
]
