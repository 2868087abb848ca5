"""``zhili``: the command line front door of the pipeline.

Imports are lazy so that ``zhili --help`` answers at once: Dagster, dbt and
Great Expectations take seconds to import.

Long commands show progress on stderr (:class:`Progress`); stdout keeps the
summaries. Every error a user can cause ends in ``zhili <command>: <one
sentence>`` on stderr and one of these exit codes, never in a traceback:

* 0 -- done (a rejected file or a failed quality gate is data, not an error);
* 1 -- a pipeline step broke, or the system refused a read/write (disk full, ...);
* 2 -- usage: a bad flag or value, a path that is missing or cannot be written,
  a missing or unusable pseudonym key;
* 3 -- busy: another process holds the DuckDB lock (the warehouse, or the serving snapshot for
  ``briefing`` and ``sql``); run again when it is done;
* 130 -- interrupted; the next run finishes the job.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import TextIO

__all__ = ["EXIT_BUSY", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_USAGE", "Progress", "main"]

EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_INTERRUPTED = 1, 2, 3, 130


class UsageError(Exception):
    """Something the user can fix: printed as one line, never as a traceback."""

    exit_code = EXIT_USAGE


class BusyError(UsageError):
    """Another process holds a lock the command needs: printed as one line, exit code 3."""

    exit_code = EXIT_BUSY


# --------------------------------------------------------------------------
# Progress on stderr
# --------------------------------------------------------------------------


class Progress:
    """One stage at a time on ``stream`` (stderr): a tqdm bar on a terminal, plain lines elsewhere.

    Redrawn bars make captured output (tests, CI, pipes, ``make`` logs) unreadable, so when the
    stream is not a terminal a line ``zhili <command>: <stage> <done>/<total> <unit> (<s> s)`` is
    printed at most every ``every`` seconds (also while nothing moves) and when a stage ends.
    ``ZHILI_PROGRESS=bar|plain|off`` overrides the choice.
    """

    def __init__(self, command: str, *, stream: TextIO | None = None, every: float = 30.0, mode: str | None = None,
                 prefix: str | None = None):
        self.prefix, self.every = prefix or f"zhili {command}", every
        self.stream = stream or _own_stderr()
        self._owns_stream = stream is None and self.stream is not sys.stderr
        mode = mode or os.environ.get("ZHILI_PROGRESS", "")
        if mode not in ("bar", "plain", "off"):
            mode = "bar" if _isatty(self.stream) else "plain"
        self.mode = mode
        self._bar = None
        self._stage: tuple[str, int, str] | None = None
        self._done, self._note, self._started, self._printed = 0, "", 0.0, 0.0
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._ticker: threading.Thread | None = None

    # a stage -----------------------------------------------------------------
    def stage(self, name: str, total: int, unit: str) -> None:
        """Start ``name`` (ending the stage before it) at 0 of ``total`` ``unit``."""
        self.end()
        with self._lock:
            self._stage, self._done, self._note = (name, max(total, 0), unit), 0, ""
            self._started = self._printed = time.monotonic()
            if self.mode == "bar":
                from tqdm import tqdm

                # leave=False: the command's own summary line replaces the finished bar
                self._bar = tqdm(total=total, desc=name, unit=f" {unit}", file=self.stream, leave=False,
                                 dynamic_ncols=True, mininterval=0.2, bar_format=_BAR)
        if self.mode != "off" and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="zhili-progress", daemon=True)
            self._ticker.start()

    def update(self, done: int | None = None, *, note: str | None = None, name: str | None = None) -> None:
        """Move the current stage to ``done`` (absolute); ``note`` is shown after the count."""
        with self._lock:
            if self._stage is None:
                return
            if name is not None:
                self._stage = (name, *self._stage[1:])
            if done is not None:
                self._done = min(done, self._stage[1]) if self._stage[1] else done
            if note is not None:
                self._note = note
            if self._bar is not None:
                if name is not None:
                    self._bar.set_description_str(name, refresh=False)
                if note is not None:
                    self._bar.set_postfix_str(note, refresh=False)
                self._bar.update(self._done - self._bar.n)
            elif self.mode == "plain" and time.monotonic() - self._printed >= self.every:
                self._line()

    def end(self) -> None:
        """Finish the current stage: a bar is removed, a plain line says where it ended."""
        with self._lock:
            if self._stage is None:
                return
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            elif self.mode == "plain":
                self._line(final=True)
            self._stage = None

    def write(self, line: str, *, file: TextIO | None = None) -> None:
        """Print ``line`` (to stdout by default) without tearing a bar that is on screen."""
        with self._lock:
            if self._bar is not None:
                # tqdm.write only clears bars drawn on sys.stdout/sys.stderr; ours is on a copy of stderr
                self._bar.clear()
                print(line, file=file or sys.stdout, flush=True)
                self._bar.refresh()
            else:
                print(line, file=file or sys.stdout, flush=True)

    def close(self) -> None:
        self.end()
        self._halt.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self._owns_stream:
            self.stream.close()
            self._owns_stream = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # output ------------------------------------------------------------------
    def _line(self, final: bool = False) -> None:
        name, total, unit = self._stage
        count = f"{self._done}/{total}" if total else f"{self._done}"
        note = f", {self._note}" if self._note else ""
        took = time.monotonic() - self._started
        print(f"{self.prefix}: {name} {count} {unit}{note} ({took:.1f} s{'' if final else ' so far'})",
              file=self.stream, flush=True)
        self._printed = time.monotonic()

    def _tick(self) -> None:
        # a long step with nothing to count (dbt's linkage, a big workbook) still shows it is alive
        while not self._halt.wait(min(self.every, 1.0)):
            with self._lock:
                if self._stage is None:
                    continue
                if self._bar is not None:
                    self._bar.refresh()
                elif self.mode == "plain" and time.monotonic() - self._printed >= self.every:
                    self._line()


_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}{postfix}]"


def _own_stderr() -> TextIO:
    """A private copy of stderr: Dagster redirects fd 2 into its compute logs while a step runs."""
    try:
        return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding=sys.stderr.encoding,
                         errors="replace", closefd=True)
    except (AttributeError, OSError, ValueError):  # stderr replaced by an object without a descriptor
        return sys.stderr


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------
# Checks before a command starts
# --------------------------------------------------------------------------

_LOCK = re.compile(r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)')


def lock_sentence(text: str) -> str | None:
    """DuckDB's "Could not set lock" error as one sentence naming the file and the holder; else None."""
    hit = _LOCK.search(text)
    if hit is None:
        return None
    return (f"{hit['file']} is locked by another process ({Path(hit['prog']).name}, PID {hit['pid']}); "
            "close that process or wait for it to finish, then run again")


def _writable_home(home: Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except FileExistsError:
        raise UsageError(f"state folder {home} is a file, not a folder; pass --home DIR or set ZHILI_HOME") from None
    except NotADirectoryError:
        raise UsageError(f"state folder {home} cannot be created: part of that path is a file; "
                         "pass --home DIR or set ZHILI_HOME") from None
    except OSError as err:
        raise UsageError(f"state folder {home} cannot be created or written ({err.strerror.lower()}); "
                         "pass --home DIR or set ZHILI_HOME") from None


def _landing_folder(landing: Path, home: Path) -> str | None:
    """Refuse a landing that cannot be the departments' delivery folder; a warning line for an empty one.

    An empty landing is plausible on a first day (nothing delivered yet); a folder with content but no
    feed folder, the home itself, or a landing and a home nested in each other is the wrong folder.
    """
    from ingestion.feeds import FEEDS

    if landing.is_file():
        raise UsageError(f"landing folder {landing} is a file, not a folder; pass --landing DIR or set ZHILI_LANDING")
    if not landing.is_dir():
        raise UsageError(f"landing folder {landing} does not exist; pass --landing DIR or set ZHILI_LANDING")
    land, state = landing.resolve(), home.resolve()
    if land == state:
        raise UsageError(f"the landing folder and the state folder are the same folder ({landing}); pass the "
                         "departments' delivery folder as --landing and a separate folder as --home")
    if state.is_relative_to(land):
        raise UsageError(f"state folder {home} is inside the landing folder {landing}, which zhili never writes to; "
                         "pass a --home outside the landing")
    if land.is_relative_to(state) and not land.is_relative_to(state / "landing"):
        raise UsageError(f"landing folder {landing} is inside the state folder {home}, among zhili's own zones; "
                         "pass the departments' delivery folder as --landing (or use <home>/landing)")
    entries = [p for p in landing.iterdir() if not p.name.startswith(".")]
    if not entries:
        return (f"zhili run: warning: landing folder {landing} is empty; nothing is delivered yet "
                f"(deliveries arrive in feed folders such as {landing / 'police_incidents'}/<date>/)")
    if not any(p.is_dir() and p.name in FEEDS for p in entries):
        raise UsageError(f"landing folder {landing} holds no feed folder (expected one or more of {', '.join(FEEDS)}); "
                         "pass the departments' delivery folder as --landing (for generated data: <out>/landing)")
    return None


_PROGRESS_MODES = ("bar", "plain", "off")


def _progress_setting() -> None:
    """``ZHILI_PROGRESS`` is unset or one of the styles :class:`Progress` knows."""
    mode = os.environ.get("ZHILI_PROGRESS", "")
    if mode and mode not in _PROGRESS_MODES:
        raise UsageError(f"ZHILI_PROGRESS={mode!r} should be bar, plain or off "
                         "(unset: a bar on a terminal, plain lines elsewhere)")


def _usable_key(settings) -> None:
    """The pseudonym key loads (made now when the state folder is new), or one sentence says why not."""
    from orchestration.settings import SettingsError

    try:
        settings.key()
    except SettingsError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        if err.errno is None:  # ingestion.pseudonym's own PermissionError: already a sentence
            raise UsageError(str(err)) from None
        raise UsageError(f"cannot use the pseudonym key {settings.secret_file} ({err.strerror.lower()}); "
                         "point ZHILI_SECRET_FILE at the key file") from None
    except ValueError as err:
        raise UsageError(str(err)) from None


def _unlocked(path: Path) -> None:
    """Refuse at once when another process holds ``path`` (a DuckDB file) instead of failing midway."""
    if not path.is_file():
        return
    import duckdb

    try:
        duckdb.connect(str(path)).close()
    except duckdb.Error as err:
        sentence = lock_sentence(str(err))
        if sentence:
            raise BusyError(sentence) from None
        raise UsageError(f"cannot open the warehouse {path}: {str(err).splitlines()[0]}") from None


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------


def _settings(args: argparse.Namespace):
    from orchestration.settings import Settings

    try:
        return Settings.resolve(landing=getattr(args, "landing", None), home=getattr(args, "home", None), as_of=getattr(args, "as_of", None))
    except ValueError as err:
        raise UsageError(str(err)) from err


def cmd_generate(args: argparse.Namespace) -> int:
    if args.residents < 100:
        raise UsageError(f"--residents={args.residents} is too small for a district; use at least 100")
    if args.days < 1:
        raise UsageError(f"--days={args.days} should be at least 1")
    if args.county_code is not None and not (args.county_code.isdigit() and len(args.county_code) == 6):
        raise UsageError(f"--county-code={args.county_code!r} should be a 6-digit GB/T 2260 county code")
    try:
        start = date.fromisoformat(args.start)
    except ValueError:
        raise UsageError(f"--start={args.start!r} should be a date, YYYY-MM-DD") from None
    out = Path(args.out).absolute()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; pass a folder (it gets landing/ and truth/)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise UsageError(f"--out {out} cannot be created or written ({err.strerror.lower()})") from None
    from ingestion.generator import generate

    units = {"district": "steps", "truth": "steps"}
    names = {"district": "district and people", "truth": "truth files"}
    started = time.perf_counter()
    with Progress("generate") as progress:
        current: list[str] = []

        def report(stage: str, done: int, total: int) -> None:
            if current != [stage]:
                current[:] = [stage]
                progress.stage(names.get(stage, stage), total, units.get(stage, "delivery days"))
            progress.update(done)

        try:
            summary = generate(out, residents=args.residents, days=args.days, seed=args.seed, start=start,
                               county_code=args.county_code, county_name=args.county_name, progress=report)
        except (OSError, KeyboardInterrupt):
            raise
        except Exception as err:  # one line, never a traceback; generate() left --out as it was
            if args.verbose:
                raise
            failed = UsageError(f"generating {args.residents} residents x {args.days} days (seed {args.seed}) failed "
                                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no message'}); "
                                f"{out} was left as it was (zhili -v generate ... shows the traceback)")
            failed.exit_code = EXIT_FAILED
            raise failed from err
    for line in summary.as_lines():
        print(line)
    print(f"generated into {out} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    warning = _landing_folder(settings.landing, settings.home)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if args.feed:
        from ingestion.feeds import FEEDS

        unknown = sorted(set(args.feed) - set(FEEDS))
        if unknown:
            raise UsageError(f"--feed {', '.join(map(repr, unknown))} is not a feed; expected one of {', '.join(FEEDS)}")
    _writable_home(settings.home)
    _usable_key(settings)
    _unlocked(settings.zones.warehouse)
    from orchestration.defs.instance import RunInProgress
    from orchestration.run import run_pipeline

    try:
        with Progress("run") as progress:
            return run_pipeline(settings, feeds=args.feed or None, echo=print, progress=progress,
                                warn=lambda line: print(line, file=sys.stderr, flush=True))
    except RunInProgress as err:
        raise BusyError(str(err)) from None


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.home.exists() and not settings.home.is_dir():
        raise UsageError(f"state folder {settings.home} is a file, not a folder; pass --home DIR or set ZHILI_HOME")
    if not settings.home.exists():
        raise UsageError(f"state folder {settings.home} does not exist; pass --home DIR or set ZHILI_HOME "
                         "(zhili run creates it)")
    from orchestration.run import print_status

    return print_status(settings, echo=print)


def cmd_linkage_train(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.zones.person_records().is_dir():
        raise UsageError(f"{settings.home} holds no person records to train on; pass --home DIR or load a landing with zhili run")
    from ingestion.linkage.core import retrain
    from ingestion.linkage.model_store import ModelStoreError
    from orchestration.defs.instance import RunInProgress, cli_run_lock

    try:
        with cli_run_lock(settings.home):  # it rewrites the links a run reads and writes
            _, report = retrain(settings.zones, key=settings.key(), changed_on=settings.as_of_date())
    except RunInProgress as err:
        raise BusyError(str(err)) from None
    except (ModelStoreError, ValueError) as err:  # a settings or key error, an altered model
        raise UsageError(str(err)) from err
    print(report)
    return 0


def cmd_briefing(args: argparse.Namespace) -> int:
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        raise UsageError(f"--date={args.date!r} should be YYYY-MM-DD") from None
    settings = _settings(args)
    from orchestration.briefing import BriefingError, FontMissing, write_briefing

    try:
        out, briefing = write_briefing(settings.home, day, street=args.street, out=Path(args.out) if args.out else None)
    except (BriefingError, FontMissing) as err:
        sentence = lock_sentence(str(err))
        if sentence:
            raise BusyError(sentence) from None
        raise UsageError(str(err)) from err
    except OSError as err:
        raise UsageError(f"cannot write the briefing: {err}") from err
    f = briefing.figures
    alerts = f"{f['alerts_new']} new / {f['alerts_open']} open alerts, " if briefing.alerts_available else ""
    print(f"briefing {day} ({briefing.street or 'all streets'}): {alerts}{f['cases_overdue']} overdue, "
          f"{f['cases_due_soon']} due within 5 days, {f['incidents_today']} incidents received")
    print(f"written to {out.absolute()}")
    return 0


#: the zone the warehouse's timestamps (timestamptz) are shown in, as the briefing and the docs do
SQL_TIME_ZONE = "Asia/Shanghai"


def cmd_sql(args: argparse.Namespace) -> int:
    """Read-only SQL on the serving snapshot: one query from the command line, else statements from stdin."""
    settings = _settings(args)
    snapshot = settings.zones.serving / "zhili.duckdb"
    if not settings.home.is_dir():
        raise UsageError(f"state folder {settings.home} does not exist; pass --home DIR or set ZHILI_HOME")
    if not snapshot.is_file():
        raise UsageError(f"there is no serving snapshot {snapshot} yet; zhili run publishes one")
    import duckdb

    try:
        # read-only, and no file access beyond the snapshot: no ATTACH of the working warehouse (which would
        # take its lock from the pipeline), no COPY ... TO files beside it
        con = duckdb.connect(str(snapshot), read_only=True, config={"enable_external_access": False})
    except duckdb.Error as err:
        sentence = lock_sentence(str(err))
        if sentence:
            raise BusyError(sentence) from None
        raise UsageError(f"cannot open the serving snapshot {snapshot}: {str(err).splitlines()[0]}") from None
    with con:
        con.execute(f"set TimeZone = '{SQL_TIME_ZONE}'")
        if args.query is not None:
            _sql_statements(con, args.query, csv_out=args.csv)
        elif _isatty(sys.stdin):
            _sql_shell(con, csv_out=args.csv)
        else:
            _sql_statements(con, sys.stdin.read(), csv_out=args.csv)
    return 0


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

    width = shutil.get_terminal_size().columns if _isatty(sys.stdout) else 10_000
    relation.show(max_rows=10_000, max_width=width)
    sys.stdout.flush()


def _sql_shell(con, *, csv_out: bool) -> None:
    """Statements typed on a terminal, each ended by ``;``; an error is printed and the shell goes on."""
    import duckdb

    print(f"zhili sql: read-only on the serving snapshot, TimeZone {SQL_TIME_ZONE}; end statements with ; "
          "and leave with Ctrl-D", file=sys.stderr)
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


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in zhili's form: ``zhili <command>: <message> (see ... --help)``, exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zhili", description="Zhili (治理): community-governance data platform")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = sub.add_parser("generate", help="write sample departmental deliveries and their ground truth")
    gen.add_argument("--out", required=True, help="folder to write landing/ and truth/ into")
    gen.add_argument("--residents", type=int, default=2000)
    gen.add_argument("--days", type=int, default=14)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--start", default="2024-11-01", help="first day of the period (YYYY-MM-DD)")
    gen.add_argument("--county-code", help="6-digit GB/T 2260 code (default: drawn by the seed from real counties)")
    gen.add_argument("--county-name", help="the county's name (needed for a code outside the generator's table)")
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="load complete deliveries through the gates into the warehouse")
    run.add_argument("--landing", help="landing folder (default: $ZHILI_LANDING or <home>/landing)")
    run.add_argument("--home", help="state folder (default: $ZHILI_HOME or ./.zhili)")
    run.add_argument("--feed", action="append", help="only this feed (repeatable)")
    run.add_argument("--as-of", help="date the warehouse judges overdue/ages on (default: $ZHILI_AS_OF_DATE or the latest delivery)")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="show the serving snapshot's as-of date, the ledger and the last run's gate results")
    status.add_argument("--home", help="state folder (default: $ZHILI_HOME or ./.zhili)")
    status.set_defaults(func=cmd_status)

    brief = sub.add_parser("briefing", help="write the 日排查日研判 briefing (HTML with charts) for one day")
    brief.add_argument("--date", required=True, help="the day to brief on (YYYY-MM-DD, China time)")
    brief.add_argument("--street", help="only this street (街道/镇 name or 9-digit code)")
    brief.add_argument("--home", help="state folder (default: $ZHILI_HOME or ./.zhili)")
    brief.add_argument("--out", help="HTML file to write (default: <home>/briefings/briefing_<date>[_<street>].html)")
    brief.set_defaults(func=cmd_briefing)

    linkage = sub.add_parser("linkage", help="the person-linkage model this home keeps")
    linkage_sub = linkage.add_subparsers(dest="linkage_command", metavar="train", required=True, parser_class=_Parser)
    train = linkage_sub.add_parser("train", help="train a new linkage model on every person record, keep it, relink, "
                                                 "and say which persons merged or split")
    train.add_argument("--home", help="state folder (default: $ZHILI_HOME or ./.zhili)")
    train.set_defaults(func=cmd_linkage_train)

    sql = sub.add_parser("sql", help="read-only SQL on the serving snapshot (a query, or statements from stdin)",
                         description="Read-only SQL on <home>/serving/zhili.duckdb, TimeZone Asia/Shanghai. "
                                     "With a query: its result as a table. Without: statements from stdin "
                                     "(a shell on a terminal, each statement ended by ;).")
    sql.add_argument("query", nargs="?", help='e.g. "select * from marts.dim_grid limit 5"')
    sql.add_argument("--home", help="state folder (default: $ZHILI_HOME or ./.zhili)")
    sql.add_argument("--csv", action="store_true", help="print CSV (a header row, then the rows) instead of a table")
    sql.set_defaults(func=cmd_sql)
    return parser


def _quiet_splink(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR or not record.name.startswith("splink")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        parser.exit(EXIT_USAGE, f"zhili {args.command}: unrecognized arguments: {' '.join(extra)} "
                                f"(see zhili {args.command} --help)\n")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # Splink reports untrained m values on every small run; the linkage summary says what matters.
        # Its Linker re-sets the "splink" logger's level, so the filter sits on the handlers instead.
        logging.getLogger("splink").setLevel(logging.ERROR)
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_splink)
    try:
        if args.command in ("generate", "run"):
            _progress_setting()
        return args.func(args)
    except UsageError as err:
        print(f"zhili {args.command}: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        # the reader of stdout left (zhili sql ... | head): not an error; keep Python from reporting it at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:
        if args.verbose or err.errno is None:
            raise
        # the system refused a read or write (disk full, permissions changed mid-run): say which, not where
        where = f" {err.filename}" if err.filename else ""
        print(f"zhili {args.command}: {err.strerror.lower()}:{where} (zhili -v {args.command} ... shows the traceback)",
              file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"zhili {args.command}: interrupted; the next run finishes the job", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
