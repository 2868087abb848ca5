"""The portability lint: DuckDB-only SQL in the dbt models, which Spark rejects or answers differently.

Issue 25 runs the same dbt project on DuckDB and on Spark; every engine-specific expression must then sit in a
macro dispatched per adapter (``default__`` for DuckDB, ``spark__``), not in a model. This finds the constructs
the feasibility run met (``CONSTRUCTS``) in ``dbt_project/models/**/*.sql`` and in the data tests
(``dbt_project/tests/**/*.sql``: a build runs them on the engine too) — never in ``macros/``, where they belong
behind ``adapter.dispatch`` — and prints ``file:line: construct: the line``.

SQL comments and Jinja comments are ignored; a Jinja statement (``{% … %}``) is dropped and a Jinja expression
(``{{ … }}``) read as one identifier, so ``x,{% endfor %} from`` is the trailing comma it renders to and a macro
call is never mistaken for a construct. It is a line-level lint, not a parser: it errs on the side of naming a
construct, and a model that needs one anyway moves it into a dispatched macro.

The counts per construct are ratcheted (``BASELINE``, checked by tests/unit/orchestration/lib/
test_sql_portability.py): they may fall, never grow; ``--write-baseline`` records new, lower counts.

    python -m orchestration.lib.sql_portability            # every finding, then the counts
    python -m orchestration.lib.sql_portability --counts   # the counts only
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BASELINE", "CONSTRUCTS", "MODELS", "TESTS", "Finding", "count", "lint_project", "lint_sql"]

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "dbt_project" / "models"
#: the data tests, generic and singular: ``dbt build`` runs them on the same engine as the models
TESTS = ROOT / "dbt_project" / "tests"
BASELINE = Path(__file__).with_name("sql_portability_baseline.json")

_I = re.IGNORECASE


def _call(*names: str) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(names) + r")\s*\(", _I)


#: construct -> (pattern over the cleaned SQL, why Spark cannot take it as it is)
CONSTRUCTS: dict[str, tuple[re.Pattern, str]] = {
    "arg_max": (
        _call("arg_max", "arg_min", "argmax", "argmin"),
        "Spark's max_by/min_by do not skip NULL values the same way: a silent wrong answer",
    ),
    "string_agg_order_by": (_call("string_agg", "listagg", "group_concat"), "Spark has no ordered string_agg"),
    "datediff_part": (
        re.compile(r"\bdate_?diff\s*\(\s*'", _I),
        "Spark's datediff(end, start) takes no date part",
    ),
    "union_by_name": (
        re.compile(r"\bunion\s+(?:all\s+)?by\s+name\b", _I),
        "Spark has no UNION BY NAME in SQL",
    ),
    "glob_read_parquet": (
        _call("glob", "read_parquet", "parquet_scan", "read_csv", "read_csv_auto", "read_json", "read_json_auto"),
        "DuckDB's table functions: Spark reads files as parquet.`path` or a registered table",
    ),
    "trailing_comma": (
        re.compile(r",\s*\bfrom\b", _I),
        "Spark rejects a comma before FROM",
    ),
    "delete_this": (
        re.compile(r"\bdelete\s+from\s+\{\{\s*this\s*\}\}", _I),
        "DELETE needs Delta or Iceberg on Spark, not Parquet tables",
    ),
    "strftime_strptime": (
        _call("strftime", "strptime"),
        "Spark formats and parses dates with date_format/to_date/to_timestamp",
    ),
    "regexp_matches": (_call("regexp_matches"), "Spark's is regexp_like / rlike"),
    "list_unnest": (
        re.compile(r"\b(?:unnest|list|list_[a-z_]+|array_length|string_split|generate_series)\s*\(", _I),
        "DuckDB's lists: Spark has collect_list, explode, size, array_*",
    ),
    "varchar": (re.compile(r"\bvarchar\b", _I), "Spark's type is string (varchar needs a length and is DDL-only)"),
    "timestamp_with_time_zone": (
        re.compile(r"\btimestamp\s+with\s+time\s+zone\b|\btimestamptz\b", _I),
        "Spark's timestamp is already in the session time zone; it has no TIMESTAMP WITH TIME ZONE",
    ),
    "timezone_fn": (
        _call("timezone"),
        "Spark's timestamps are instants shown in the session time zone: {{ zhili_local_date(expr) }} for a date",
    ),
    "star_exclude": (
        re.compile(r"\*\s*(?:exclude|replace)\s*\(", _I),
        "Spark has no star with exceptions: {{ zhili_star_except(relation, except, qualifier) }}",
    ),
    "any_value": (
        _call("any_value"),
        "Spark's any_value may answer NULL beside non-NULL values (DuckDB's skips them): {{ zhili_any_value(expr) }}",
    ),
}


@dataclass(frozen=True)
class Finding:
    file: str  # relative to the models folder's parent (dbt_project/), as dbt names it
    line: int
    construct: str
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.construct}: {self.text}"


def _blank(match: re.Match) -> str:
    # keep the newlines, so a finding's line is the line in the file
    return re.sub(r"[^\n]", " ", match.group(0))


def _as_identifier(match: re.Match) -> str:
    return "jinja_expr" + "\n" * match.group(0).count("\n")


def _clean(sql: str) -> str:
    """``sql`` with comments and Jinja statements blanked, Jinja expressions as one identifier, lines kept."""
    sql = re.sub(r"\{#.*?#\}", _blank, sql, flags=re.S)
    sql = re.sub(r"/\*.*?\*/", _blank, sql, flags=re.S)
    sql = re.sub(r"--[^\n]*", _blank, sql)
    sql = re.sub(r"\{%.*?%\}", _blank, sql, flags=re.S)
    return sql


def _ordered_aggregate(clean: str, start: int) -> bool:
    """Whether the call whose name starts at ``start`` has an ORDER BY inside its parentheses."""
    open_ = clean.index("(", start)
    depth = 0
    for i in range(open_, len(clean)):
        depth += {"(": 1, ")": -1}.get(clean[i], 0)
        if depth == 0:
            return re.search(r"\border\s+by\b", clean[open_:i], _I) is not None
    return False


def lint_sql(sql: str, file: str = "<sql>") -> list[Finding]:
    """The DuckDB-only constructs in one model's SQL (its Jinja source), in file order."""
    lines = sql.splitlines()
    cleaned = _clean(sql)
    # `delete from {{ this }}` is the one construct that is spelled with a Jinja expression
    with_exprs = cleaned
    cleaned = re.sub(r"\{\{.*?\}\}", _as_identifier, cleaned, flags=re.S)
    findings = []
    for construct, (pattern, _) in CONSTRUCTS.items():
        text = with_exprs if construct == "delete_this" else cleaned
        for m in pattern.finditer(text):
            if construct == "string_agg_order_by" and not _ordered_aggregate(text, m.start()):
                continue
            line = text.count("\n", 0, m.start()) + 1
            findings.append(Finding(file, line, construct, lines[line - 1].strip() if line <= len(lines) else ""))
    return sorted(findings, key=lambda f: (f.line, f.construct))


def lint_project(models: Path = MODELS, tests: Path | None = TESTS) -> list[Finding]:
    """Every finding in the models under ``models`` (``dbt_project/models``) and the data tests under ``tests``
    (``dbt_project/tests``; None: none), by file and line."""
    findings = []
    for folder in (models, tests):
        for path in sorted(folder.rglob("*.sql")) if folder is not None else []:
            findings += lint_sql(path.read_text(encoding="utf-8"), str(path.relative_to(folder.parent)))
    return findings


def count(findings: list[Finding]) -> dict[str, int]:
    """Findings per construct, every construct named (zero included)."""
    counts = Counter(f.construct for f in findings)
    return {construct: counts.get(construct, 0) for construct in CONSTRUCTS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.lib.sql_portability", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--models", type=Path, default=MODELS, help="the dbt models folder (default: the project's)")
    parser.add_argument("--tests", type=Path, default=TESTS, help="the dbt data tests folder (default: the project's)")
    parser.add_argument("--counts", action="store_true", help="print the counts per construct only")
    parser.add_argument("--write-baseline", action="store_true", help=f"record the counts in {BASELINE.name}")
    args = parser.parse_args(argv)
    findings = lint_project(args.models, args.tests)
    if not args.counts:
        for finding in findings:
            print(finding)
    counts = count(findings)
    files = len({f.file for f in findings})
    for construct, n in counts.items():
        print(f"{construct:26} {n:5}   {CONSTRUCTS[construct][1]}")
    print(f"{'total':26} {len(findings):5}   in {files} model and test files")
    if args.write_baseline:
        BASELINE.write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {BASELINE}")
    return 1 if findings and not (args.counts or args.write_baseline) else 0


if __name__ == "__main__":
    sys.exit(main())
