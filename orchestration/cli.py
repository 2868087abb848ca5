"""``zhili``: the command line front door of the pipeline (argparse and one function per command).

Imports are lazy so that ``zhili --help`` answers at once: Dagster, dbt and
Great Expectations take seconds to import.

A command checks what the user passed (:mod:`orchestration.preflight`), then hands the settings to
the module that does the work: ``zhili run`` to :mod:`orchestration.runner`, ``status`` to
:mod:`orchestration.summary`, ``sql`` to :mod:`orchestration.sql`, ``briefing`` to :mod:`briefing`,
``generate`` to :mod:`ingestion.generator`. Long commands show progress on stderr
(:mod:`orchestration.progress`); stdout keeps the summaries. Every error a user can cause ends in
``zhili <command>: <one sentence>`` on stderr and one of the exit codes of :mod:`orchestration.errors`,
never in a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from datetime import date
from pathlib import Path

from orchestration import preflight
from orchestration.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, BusyError, UsageError, lock_sentence
from orchestration.progress import Progress

__all__ = ["build_parser", "main"]


def _settings(args: argparse.Namespace):
    from orchestration.settings import Settings

    try:
        return Settings.resolve(
            landing=getattr(args, "landing", None),
            home=getattr(args, "home", None),
            as_of=getattr(args, "as_of", None),
            engine=getattr(args, "engine", None),
        )
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
    preflight.writable_out(out)
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
            summary = generate(
                out,
                residents=args.residents,
                days=args.days,
                seed=args.seed,
                start=start,
                county_code=args.county_code,
                county_name=args.county_name,
                progress=report,
            )
        except (OSError, KeyboardInterrupt):
            raise
        except Exception as err:  # one line, never a traceback; generate() left --out as it was
            if args.verbose:
                raise
            failed = UsageError(
                f"generating {args.residents} residents x {args.days} days (seed {args.seed}) failed "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no message'}); "
                f"{out} was left as it was (zhili -v generate ... shows the traceback)"
            )
            failed.exit_code = EXIT_FAILED
            raise failed from err
    for line in summary.as_lines():
        print(line)
    print(f"generated into {out} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    warning = preflight.landing_folder(settings.landing, settings.home)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if args.feed:
        preflight.known_feeds(args.feed)
    preflight.writable_home(settings.home)
    preflight.usable_key(settings)
    preflight.unlocked(settings.zones.warehouse)
    from orchestration.runlock import RunInProgress
    from orchestration.runner import run_pipeline

    try:
        with Progress("run") as progress:
            return run_pipeline(
                settings,
                feeds=args.feed or None,
                echo=print,
                progress=progress,
                warn=lambda line: print(line, file=sys.stderr, flush=True),
            )
    except RunInProgress as err:
        raise BusyError(str(err)) from None


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    preflight.existing_home(settings.home)
    from orchestration.summary import print_status

    return print_status(settings, echo=print)


def cmd_linkage_train(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.zones.person_records().is_dir():
        raise UsageError(
            f"{settings.home} holds no person records to train on; pass --home DIR or load a landing with zhili run"
        )
    from ingestion.linkage.core import retrain
    from ingestion.linkage.model_store import ModelStoreError
    from orchestration.runlock import RunInProgress, cli_run_lock

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
    from briefing import BriefingError, FontMissing, write_briefing

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
    print(
        f"briefing {day} ({briefing.street or 'all streets'}): {alerts}{f['cases_overdue']} overdue, "
        f"{f['cases_due_soon']} due within 5 days, {f['incidents_today']} incidents received"
    )
    print(f"written to {out.absolute()}")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """Read-only SQL on the serving snapshot: one query from the command line, else statements from stdin."""
    settings = _settings(args)
    from orchestration.sql import query_snapshot

    query_snapshot(settings, args.query, csv_out=args.csv)
    return 0


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
    run.add_argument(
        "--as-of", help="date the warehouse judges overdue/ages on (default: $ZHILI_AS_OF_DATE or the latest delivery)"
    )
    run.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        help="what builds the warehouse: duckdb (default: $ZHILI_ENGINE, else duckdb) or spark (docs/spark.md)",
    )
    run.set_defaults(func=cmd_run)

    status = sub.add_parser(
        "status", help="show the serving snapshot's as-of date, the ledger and the last run's gate results"
    )
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
    train = linkage_sub.add_parser(
        "train",
        help="train a new linkage model on every person record, keep it, relink, and say which persons merged or split",
    )
    train.add_argument("--home", help="state folder (default: $ZHILI_HOME or ./.zhili)")
    train.set_defaults(func=cmd_linkage_train)

    sql = sub.add_parser(
        "sql",
        help="read-only SQL on the serving snapshot (a query, or statements from stdin)",
        description="Read-only SQL on <home>/serving/zhili.duckdb, TimeZone Asia/Shanghai. "
        "With a query: its result as a table. Without: statements from stdin "
        "(a shell on a terminal, each statement ended by ;).",
    )
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
        parser.exit(
            EXIT_USAGE,
            f"zhili {args.command}: unrecognized arguments: {' '.join(extra)} (see zhili {args.command} --help)\n",
        )
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    # Great Expectations imports PySpark when it is installed (the spark extra), and PySpark warns about the
    # pandas version on import: nothing a zhili user can act on.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    if not args.verbose:
        # Splink reports untrained m values on every small run; the linkage summary says what matters.
        # Its Linker re-sets the "splink" logger's level, so the filter sits on the handlers instead.
        logging.getLogger("splink").setLevel(logging.ERROR)
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_splink)
    try:
        if args.command in ("generate", "run"):
            preflight.progress_setting()
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
        print(
            f"zhili {args.command}: {err.strerror.lower()}:{where} (zhili -v {args.command} ... shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"zhili {args.command}: interrupted; the next run finishes the job", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
