"""Relations compared across engines as text (issue 25): columns by name, every value cast to text by DuckDB in
China time, NULL spelled apart from any text, rows sorted and hashed; a few doubles that cannot be equal to the
last bit (``APPROXIMATE``) compared as numbers to a relative 1e-12. Shared by test_spark_staging.py (dbt's
relations, built by each engine) and test_spark_run.py (the serving catalogue ``zhili run`` publishes)."""

from __future__ import annotations

import hashlib
import math

#: Doubles that cannot be equal to the last bit, compared to a relative 1e-12 instead of as text (every other
#: column of those tables is compared as text): the Poisson tail is a sum of exp(k ln(lambda) - lambda - ln(k!))
#: and Spark's exp and ln (Java's) and ln(k!) (commons-math3) differ from DuckDB's (C's libm, lgamma) in the last
#: place, e.g. exp(1) is 2.718281828459045 on DuckDB and 2.7182818284590455 on Spark (docs/spark.md); a match
#: probability is a function of the same kind of the model's weights
APPROXIMATE = {
    "mart_alert_spike_scores": ("p_value",),
    "mart_alert_hotline_topic_scores": ("p_value",),
    # a review pair scored again on Spark (it touches a unit new that day): the same sums of the kept model's
    # weights, in Java's arithmetic (the 100k bench's increment: 61 of 64 pairs apart in the last bits)
    "mart_link_review": ("match_probability", "match_weight"),
}
RELATIVE_TOLERANCE = 1e-12


def text_rows(con, relation: str, approximate: tuple[str, ...] = ()) -> tuple[list[str], list[tuple]]:
    """The columns of ``relation`` by name, and its rows as text (NULL spelled apart from any text), sorted; the
    ``approximate`` columns last in each row, as numbers."""
    columns = sorted(row[0] for row in con.execute(f"describe select * from {relation}").fetchall())
    values = ", ".join(f"coalesce(cast(\"{c}\" as varchar), '<NULL>')" for c in columns if c not in approximate)
    values += "".join(f', "{c}"' for c in approximate)
    return columns, sorted(con.execute(f"select {values} from {relation}").fetchall())


def _close(one: tuple, other: tuple) -> bool:
    """Whether two rows' approximate values are equal to ``RELATIVE_TOLERANCE`` (NULL only to NULL)."""
    return all(
        (a is None) == (b is None) and (a is None or math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=0.0))
        for a, b in zip(one, other, strict=True)
    )


def _digest(columns: list[str], rows: list[tuple]) -> str:
    hashed = hashlib.sha256("\x1f".join(columns).encode())
    for row in rows:
        hashed.update(("\x1e" + "\x1f".join(row)).encode())
    return hashed.hexdigest()


def difference(name: str, duck: tuple[list[str], list[tuple]], spark: tuple[list[str], list[tuple]]) -> str | None:
    """None when the relation ``name`` (``[schema.]table``) holds the same rows on both engines (``text_rows`` of
    each, read with ``APPROXIMATE.get(table, ())``), else one line saying how they differ, with two of the rows
    only one holds."""
    approximate = APPROXIMATE.get(name.split(".")[-1], ())
    (duck_cols, duck_rows), (spark_cols, spark_rows) = duck, spark
    exact = len(duck_cols) - len(approximate)
    if _digest(duck_cols, [row[:exact] for row in duck_rows]) == _digest(
        spark_cols, [row[:exact] for row in spark_rows]
    ) and all(_close(d[exact:], s[exact:]) for d, s in zip(duck_rows, spark_rows, strict=True)):
        return None
    only = sorted(set(duck_rows) ^ set(spark_rows))[:2]
    return (
        f"{name}: {len(duck_rows)} rows on DuckDB, {len(spark_rows)} on Spark; columns only on one side "
        f"{sorted(set(duck_cols) ^ set(spark_cols))}; e.g. {only}"
    )
