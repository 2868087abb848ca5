"""Checks a command makes before it starts: each refusal is one :class:`~orchestration.errors.UsageError`.

The paths (``--out``, a landing that can be the departments' delivery folder, a home that can be written), the
``--feed`` slugs, the pseudonym key, ``ZHILI_PROGRESS``, and DuckDB's lock on the warehouse are
checked here, before Dagster starts, so that a mistake costs the user a second, not a run, and
nothing is created when a command is refused.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from orchestration.errors import BusyError, UsageError, lock_sentence
from orchestration.progress import MODES

__all__ = [
    "writable_home",
    "existing_home",
    "writable_out",
    "landing_folder",
    "known_feeds",
    "progress_setting",
    "usable_key",
    "unlocked",
]


def writable_home(home: Path) -> None:
    """``home`` exists (made now when missing) and can be written, or one sentence says why not."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except FileExistsError:
        raise UsageError(f"state folder {home} is a file, not a folder; pass --home DIR or set ZHILI_HOME") from None
    except NotADirectoryError:
        raise UsageError(
            f"state folder {home} cannot be created: part of that path is a file; pass --home DIR or set ZHILI_HOME"
        ) from None
    except OSError as err:
        raise UsageError(
            f"state folder {home} cannot be created or written ({err.strerror.lower()}); "
            "pass --home DIR or set ZHILI_HOME"
        ) from None


def existing_home(home: Path) -> None:
    """``home`` is a folder that exists (``zhili status`` creates nothing)."""
    if home.exists() and not home.is_dir():
        raise UsageError(f"state folder {home} is a file, not a folder; pass --home DIR or set ZHILI_HOME")
    if not home.exists():
        raise UsageError(
            f"state folder {home} does not exist; pass --home DIR or set ZHILI_HOME (zhili run creates it)"
        )


def writable_out(out: Path) -> None:
    """``zhili generate --out``: a folder that exists (made now when missing) and can be written."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; pass a folder (it gets landing/ and truth/)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise UsageError(f"--out {out} cannot be created or written ({err.strerror.lower()})") from None


def landing_folder(landing: Path, home: Path) -> str | None:
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
        raise UsageError(
            f"the landing folder and the state folder are the same folder ({landing}); pass the "
            "departments' delivery folder as --landing and a separate folder as --home"
        )
    if state.is_relative_to(land):
        raise UsageError(
            f"state folder {home} is inside the landing folder {landing}, which zhili never writes to; "
            "pass a --home outside the landing"
        )
    if land.is_relative_to(state) and not land.is_relative_to(state / "landing"):
        raise UsageError(
            f"landing folder {landing} is inside the state folder {home}, among zhili's own zones; "
            "pass the departments' delivery folder as --landing (or use <home>/landing)"
        )
    entries = [p for p in landing.iterdir() if not p.name.startswith(".")]
    if not entries:
        return (
            f"zhili run: warning: landing folder {landing} is empty; nothing is delivered yet "
            f"(deliveries arrive in feed folders such as {landing / 'police_incidents'}/<date>/)"
        )
    if not any(p.is_dir() and p.name in FEEDS for p in entries):
        raise UsageError(
            f"landing folder {landing} holds no feed folder (expected one or more of {', '.join(FEEDS)}); "
            "pass the departments' delivery folder as --landing (for generated data: <out>/landing)"
        )
    return None


def known_feeds(feeds: list[str]) -> None:
    """Every ``--feed`` is a feed slug (the one check: the runner trusts it)."""
    from ingestion.feeds import FEEDS

    unknown = sorted(set(feeds) - set(FEEDS))
    if unknown:
        raise UsageError(f"--feed {', '.join(map(repr, unknown))} is not a feed; expected one of {', '.join(FEEDS)}")


def progress_setting() -> None:
    """``ZHILI_PROGRESS`` is unset or one of the styles :class:`orchestration.progress.Progress` knows."""
    mode = os.environ.get("ZHILI_PROGRESS", "")
    if mode and mode not in MODES:
        raise UsageError(
            f"ZHILI_PROGRESS={mode!r} should be bar, plain or off (unset: a bar on a terminal, plain lines elsewhere)"
        )


def usable_key(settings) -> None:
    """The pseudonym key loads (made now when the state folder is new), or one sentence says why not."""
    from orchestration.settings import SettingsError

    try:
        settings.key()
    except SettingsError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        if err.errno is None:  # ingestion.pseudonym's own PermissionError: already a sentence
            raise UsageError(str(err)) from None
        raise UsageError(
            f"cannot use the pseudonym key {settings.secret_file} ({err.strerror.lower()}); "
            "point ZHILI_SECRET_FILE at the key file"
        ) from None
    except ValueError as err:
        raise UsageError(str(err)) from None


def unlocked(path: Path) -> None:
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
