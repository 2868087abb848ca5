"""``zhili sql``: read-only SQL on the serving snapshot, from the command line, a pipe or a shell.

The snapshot (``Zones.serving_db``, a catalogue of views) is opened read-only with no file access
beyond it and the Parquet table versions its views read (no ``ATTACH`` of the working warehouse, no
``COPY ... TO``) and ``TimeZone`` set to :data:`SQL_TIME_ZONE`. SQL that
cannot run is a :class:`~orchestration.errors.UsageError` carrying DuckDB's message (exit 2); a
snapshot another process holds read-write is a :class:`~orchestration.errors.BusyError` (exit 3).
"""

from __future__ import annotations

import sys

from orchestration.errors import BusyError, UsageError, lock_sentence
from orchestration.progress import isatty

__all__ = ["SQL_TIME_ZONE", "query_snapshot"]

#: the zone the warehouse's timestamps (timestamptz) are shown in, as the briefing and the docs do
SQL_TIME_ZONE = "Asia/Shanghai"


def query_snapshot(settings, query: str | None, *, csv_out: bool) -> None:
    """Read-only SQL on the serving snapshot: ``query`` from the command line, else statements from stdin."""
    snapshot = settings.zones.serving_db
    if not settings.home.is_dir():
        raise UsageError(f"state folder {settings.home} does not exist; pass --home DIR or set ZHILI_HOME")
    if not snapshot.is_file():
        raise UsageError(f"there is no serving snapshot {snapshot} yet; zhili run publishes one")
    import duckdb

    try:
        con = duckdb.connect(str(snapshot), read_only=True)
        # read-only, and no file access beyond the snapshot and the table versions its views read (by name,
        # each read-only): no ATTACH of the working warehouse (which would take its lock from the pipeline),
        # no COPY ... TO files beside it. Once external access is off DuckDB refuses to turn it on again or to
        # widen the allowed paths, and the user's own SET (TimeZone, threads) still works
        con.execute("set allowed_paths = ?", [_versions_read(con)])
        con.execute("set enable_external_access = false")
    except duckdb.Error as err:
        sentence = lock_sentence(str(err))
        if sentence:
            raise BusyError(sentence) from None
        raise UsageError(f"cannot open the serving snapshot {snapshot}: {str(err).splitlines()[0]}") from None
    with con:
        con.execute(f"set TimeZone = '{SQL_TIME_ZONE}'")
        if query is not None:
            _sql_statements(con, query, csv_out=csv_out)
        elif isatty(sys.stdin):
            _sql_shell(con, csv_out=csv_out)
        else:
            _sql_statements(con, sys.stdin.read(), csv_out=csv_out)


def _versions_read(con) -> list[str]:
    """The Parquet table versions the catalogue's views read: ``read_parquet('<path>')`` in each view, or the
    list of a table published in parts, which DuckDB keeps as ``read_parquet(list_value('<path>', ...))``."""
    import re

    quoted = r"'(?:[^']|'')*'"
    paths = []
    for (sql,) in con.execute("select sql from duckdb_views() where not internal").fetchall():
        calls = rf"read_parquet\((?:\[|(?:main\.)?list_value\()?((?:{quoted}(?:,\s*)?)+)[\])]?\)"
        for files in re.findall(calls, sql or ""):
            paths += [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", files)]
    return sorted(set(paths))


def _sql_error(err: Exception, number: int | None = None) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    where = f" (statement {number})" if number else ""
    if "read-only mode" in text:
        return f"the serving snapshot is read-only: {text}{where}; temporary tables work (create temp table ...)"
    return f"{text}{where}"


def _sql_statements(con, text: str, *, csv_out: bool) -> None:
    import duckdb

    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as err:
        raise UsageError(_sql_error(err)) from None
    if not statements:
        raise UsageError("no SQL statement given; pass a query in quotes or pipe statements into zhili sql")
    for number, statement in enumerate(statements, 1):
        try:
            _sql_show(con, statement, csv_out=csv_out)
        except duckdb.Error as err:
            raise UsageError(_sql_error(err, number if len(statements) > 1 else None)) from None


#: statements whose result is only DuckDB's row count: not printed, as in duckdb's own shell
_SILENT = {"CREATE", "DROP", "ALTER", "SET", "VARIABLE_SET", "TRANSACTION"}


def _sql_show(con, statement, *, csv_out: bool) -> None:
    relation = con.sql(statement.query)
    if relation is None or statement.type.name in _SILENT:
        return
    if csv_out:
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(relation.columns)
        writer.writerows(relation.fetchall())
        return
    import shutil

    width = shutil.get_terminal_size().columns if isatty(sys.stdout) else 10_000
    relation.show(max_rows=10_000, max_width=width)
    sys.stdout.flush()


def _sql_shell(con, *, csv_out: bool) -> None:
    """Statements typed on a terminal, each ended by ``;``; an error is printed and the shell goes on."""
    import duckdb

    print(
        f"zhili sql: read-only on the serving snapshot, TimeZone {SQL_TIME_ZONE}; end statements with ; "
        "and leave with Ctrl-D",
        file=sys.stderr,
    )
    buffer: list[str] = []
    while True:
        try:
            line = input("zhili> " if not buffer else "  ...> ")
        except EOFError:
            print(file=sys.stderr)
            return
        buffer.append(line)
        text = "\n".join(buffer).strip()
        if not text:
            buffer.clear()
            continue
        if not text.endswith(";"):
            continue
        buffer.clear()
        try:
            for statement in duckdb.extract_statements(text):
                _sql_show(con, statement, csv_out=csv_out)
        except duckdb.Error as err:
            print(f"zhili sql: {_sql_error(err)}", file=sys.stderr)
