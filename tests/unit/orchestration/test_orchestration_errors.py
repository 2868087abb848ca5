"""The one line ``zhili run`` prints for a failed step (orchestration.errors.one_line)."""

from __future__ import annotations

from orchestration.errors import one_line


def test_a_spark_failure_is_named_by_its_error_not_by_its_last_stack_frame():
    message = "\n".join(
        [
            "py4j.protocol.Py4JJavaError: An error occurred while calling o123.collectToPython.",
            ": java.lang.OutOfMemoryError: Java heap space",
            "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
            "\tat org.apache.spark.sql.catalyst.plans.logical.AnalysisHelper.transformDownWithPruning("
            "AnalysisHelper.scala:360)",
            "\t... 42 more",
        ]
    )
    assert one_line(message) == ": java.lang.OutOfMemoryError: Java heap space"


def test_a_python_error_keeps_its_last_line():
    assert (
        one_line("Traceback (most recent call last):\n  File 'x.py'\nValueError: bad value") == "ValueError: bad value"
    )
