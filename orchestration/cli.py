"""``zhili``: the command line front door of the pipeline.

Imports are lazy so that ``zhili --help`` answers at once: Dagster, dbt and
Great Expectations take seconds to import.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date
from pathlib import Path

__all__ = ["main"]


class UsageError(Exception):
    """Something the user can fix: printed as one line, never as a traceback."""


def _settings(args: argparse.Namespace):
    from orchestration.settings import Settings

    try:
        return Settings.resolve(landing=getattr(args, "landing", None), home=getattr(args, "home", None), as_of=getattr(args, "as_of", None))
    except ValueError as err:
        raise UsageError(str(err)) from err


def cmd_generate(args: argparse.Namespace) -> int:
    from ingestion.generator import generate

    if args.residents < 100:
        raise UsageError(f"--residents={args.residents} is too small for a district; use at least 100")
    if args.days < 1:
        raise UsageError(f"--days={args.days} should be at least 1")
    if not (args.county_code.isdigit() and len(args.county_code) == 6):
        raise UsageError(f"--county-code={args.county_code!r} should be a 6-digit GB/T 2260 county code")
    started = time.perf_counter()
    summary = generate(
        Path(args.out),
        residents=args.residents,
        days=args.days,
        seed=args.seed,
        start=date.fromisoformat(args.start),
        county_code=args.county_code,
        county_name=args.county_name,
    )
    for line in summary.as_lines():
        print(line)
    print(f"generated into {Path(args.out).absolute()} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.landing.is_dir():
        raise UsageError(f"landing folder {settings.landing} does not exist; pass --landing DIR or set ZHILI_LANDING")
    from orchestration.run import run_pipeline

    return run_pipeline(settings, feeds=args.feed or None, echo=print)


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from orchestration.run import print_status

    return print_status(settings, echo=print)


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
        raise UsageError(str(err)) from err
    except OSError as err:
        raise UsageError(f"cannot write the briefing: {err}") from err
    f = briefing.figures
    alerts = f"{f['alerts_new']} new / {f['alerts_open']} open alerts, " if briefing.alerts_available else ""
    print(f"briefing {day} ({briefing.street or 'all streets'}): {alerts}{f['cases_overdue']} overdue, "
          f"{f['cases_due_soon']} due within 5 days, {f['incidents_today']} incidents received")
    print(f"written to {out.absolute()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhili", description="Zhili (治理): community-governance data platform")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write sample departmental deliveries and their ground truth")
    gen.add_argument("--out", required=True, help="folder to write landing/ and truth/ into")
    gen.add_argument("--residents", type=int, default=2000)
    gen.add_argument("--days", type=int, default=14)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--start", default="2024-11-01", help="first day of the period (YYYY-MM-DD)")
    gen.add_argument("--county-code", default="520602")
    gen.add_argument("--county-name", default="碧江区")
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="load complete deliveries through the gates into the warehouse")
    run.add_argument("--landing", help="landing folder (default: $ZHILI_LANDING or <home>/landing)")
    run.add_argument("--home", help="state folder (default: $ZHILI_HOME or ./.zhili)")
    run.add_argument("--feed", action="append", help="only this feed (repeatable)")
    run.add_argument("--as-of", help="date the warehouse judges overdue/ages on (default: $ZHILI_AS_OF_DATE or the latest delivery)")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="show the ledger and the last run's gate results")
    status.add_argument("--home", help="state folder (default: $ZHILI_HOME or ./.zhili)")
    status.set_defaults(func=cmd_status)

    brief = sub.add_parser("briefing", help="write the 日排查日研判 briefing (HTML with charts) for one day")
    brief.add_argument("--date", required=True, help="the day to brief on (YYYY-MM-DD, China time)")
    brief.add_argument("--street", help="only this street (街道/镇 name or 9-digit code)")
    brief.add_argument("--home", help="state folder (default: $ZHILI_HOME or ./.zhili)")
    brief.add_argument("--out", help="HTML file to write (default: <home>/briefings/briefing_<date>[_<street>].html)")
    brief.set_defaults(func=cmd_briefing)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # Splink reports untrained m values on every small run; the linkage summary says what matters
        logging.getLogger("splink").setLevel(logging.ERROR)
    try:
        return args.func(args)
    except UsageError as err:
        print(f"zhili {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zhili: interrupted; the next run finishes the job", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
