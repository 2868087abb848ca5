"""The landing zone: which delivered files are complete, waiting or refused.

Layout (../shared/feeds/README.md)::

    <landing>/<feed id>/<delivery date YYYY-MM-DD>/<file>
    <landing>/<feed id>/<delivery date YYYY-MM-DD>/<file>.ok

A file is complete only when its flag ``<file>.ok`` exists. A file without a
flag is still in transfer and is left alone (not an error). Names come from
outside and are checked before anything inside them is touched.

A complete file whose (safe) name fits no table of its feed is refused, unless
its bytes are those of a file delivered under a proper name (in this landing,
or loaded before): a department's resend renamed by a copy dialog
(``JQ_20241102(1).csv``) is then complete, and the loader records it as a
duplicate of those bytes. Such resends come after every other complete file,
so whoever loads in scan order meets the original first.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ingestion.errors import FeedLandingError
from ingestion.feeds import FEEDS, table_for_file

__all__ = [
    "MAX_NAME_BYTES",
    "FLAG_SUFFIX",
    "LandedFile",
    "Refusal",
    "LandingScan",
    "check_name",
    "read_flag",
    "file_md5",
    "scan_landing",
    "unknown_name_error",
    "verify_md5",
    "verify_rows",
]

log = logging.getLogger(__name__)

MAX_NAME_BYTES = 200
FLAG_SUFFIX = ".ok"
_DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
_CHUNK = 1 << 20


def _has_control(name: str) -> bool:
    # Cc covers NUL, C0/C1 controls and DEL; Cf would refuse legitimate zero-width joiners, so only Cc.
    return any(unicodedata.category(ch) == "Cc" for ch in name)


def check_name(name: str, *, feed: str | None = None, where: str | None = None) -> None:
    """Refuse a folder or file name that could escape the landing zone or hide itself.

    Chinese names are normal. ``where`` is the path shown in the message (defaults to ``name``).
    """
    shown = where or name
    problem = None
    if name == "":
        problem = "is empty"
    elif "/" in name or "\\" in name:
        problem = "contains a path separator ('/' or '\\\\')"
    elif ".." in name:
        problem = "contains '..'"
    elif name[0] in ".-":
        problem = f"starts with {name[0]!r}"
    elif _has_control(name):
        problem = "contains a control or NUL character"
    elif len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        problem = f"is {len(name.encode('utf-8', 'surrogatepass'))} bytes of UTF-8, more than {MAX_NAME_BYTES}"
    if problem:
        raise FeedLandingError(
            f"{shown!r}: the name {problem}; landing names must be plain names without path separators, "
            f"'..', a leading '.' or '-', control characters, and at most {MAX_NAME_BYTES} bytes — "
            "ask the department to rename and resend it; nothing in it was loaded",
            feed=feed,
            file=shown,
            reason="unsafe_name",
        )


@dataclass(frozen=True)
class LandedFile:
    """A complete delivered file: its flag exists and was read."""

    feed: str
    delivery_date: date | None
    folder: str
    name: str
    path: Path
    flag_path: Path
    flag_rows: int
    flag_md5: str | None

    @property
    def rel(self) -> str:
        return f"{self.feed}/{self.folder}/{self.name}"


@dataclass(frozen=True)
class Refusal:
    path: Path
    feed: str | None
    reason: str
    message: str


@dataclass
class LandingScan:
    """``complete`` holds the files to load, in load order (resends under names that fit no table last)."""

    complete: list[LandedFile] = field(default_factory=list)
    waiting: list[Path] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def read_flag(path: Path, *, feed: str | None = None, file: str | None = None) -> tuple[int, str | None]:
    """``(rows, md5)`` from a flag file: UTF-8 ``key=value`` lines, CRLF allowed; ``rows`` required."""
    shown = file or str(path)

    def bad(problem: str, err: Exception | None = None) -> FeedLandingError:
        return FeedLandingError(
            f"{shown}: flag file {problem}; expected UTF-8 'key=value' lines with 'rows=<count>' and "
            "optionally 'md5=<32 hex digits>' — ask the department to resend the flag",
            feed=feed,
            file=shown,
            reason="flag_unreadable",
        )

    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise bad(f"is not UTF-8 (bad byte at offset {err.start})") from err
    except OSError as err:
        raise bad(f"cannot be read ({type(err).__name__}: {err.strerror})") from err
    values: dict[str, str] = {}
    for no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise bad(f"line {no} has no '=': {line[:60]!r}")
        key = key.strip().lower()
        if key in values:
            raise bad(f"line {no} repeats key {key!r}")
        values[key] = value.strip()
    if "rows" not in values:
        raise bad("has no 'rows=' line")
    rows_text = values["rows"]
    if not rows_text.isascii() or not rows_text.isdigit():
        raise bad(f"has rows={rows_text[:30]!r}, not a non-negative whole number")
    md5 = values.get("md5") or None
    if md5 is not None and not _MD5.match(md5):
        raise bad(f"has md5={md5[:40]!r}, not 32 hex digits")
    return int(rows_text), md5.lower() if md5 else None


def file_md5(path: Path) -> str:
    """Hex md5 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sorted_dir(path: Path) -> list[Path]:
    return sorted(path.iterdir(), key=lambda p: p.name)


def scan_landing(landing: Path, *, loaded: Mapping[str, str] | None = None) -> LandingScan:
    """Walk ``<landing>/<feed>/<YYYY-MM-DD>/<file>`` in sorted order and sort files into complete/waiting/refused.

    ``loaded`` maps the md5 of every file loaded so far to where it landed: a
    complete file whose name fits no table is complete (a resend to record as
    a duplicate) when its bytes are in ``loaded`` or are those of a complete
    file of this landing whose name fits; otherwise it is refused.
    """
    landing = Path(landing)
    scan = LandingScan()
    unmatched: list[LandedFile] = []

    def refuse(path: Path, feed: str | None, err: FeedLandingError) -> None:
        log.warning("refused %s: %s", path, err.reason)
        scan.refused.append(Refusal(path, feed, err.reason, err.message))

    if not landing.is_dir():
        return scan
    for feed_dir in _sorted_dir(landing):
        try:
            check_name(feed_dir.name, where=feed_dir.name)
        except FeedLandingError as err:
            refuse(feed_dir, None, err)
            continue
        if feed_dir.name not in FEEDS or not feed_dir.is_dir():
            refuse(
                feed_dir,
                None,
                FeedLandingError(
                    f"{feed_dir.name}: not a known feed folder; expected one of {sorted(FEEDS)} — "
                    "move it to the right feed or register the feed",
                    feed=None,
                    file=feed_dir.name,
                    reason="unknown_file",
                ),
            )
            continue
        slug = feed_dir.name
        for day_dir in _sorted_dir(feed_dir):
            where = f"{slug}/{day_dir.name}"
            try:
                check_name(day_dir.name, feed=slug, where=where)
            except FeedLandingError as err:
                refuse(day_dir, slug, err)
                continue
            if not day_dir.is_dir():
                refuse(
                    day_dir,
                    slug,
                    FeedLandingError(
                        f"{where}: a file directly under the feed folder; expected a delivery folder "
                        "<YYYY-MM-DD>/ holding the files — move it into its delivery-date folder",
                        feed=slug,
                        file=where,
                        reason="unknown_file",
                    ),
                )
                continue
            delivery_date = _folder_date(day_dir.name)
            _scan_day(scan, slug, day_dir, delivery_date, refuse, unmatched)
    _resolve_unmatched(scan, unmatched, loaded or {}, refuse)
    return scan


def _resolve_unmatched(scan: LandingScan, unmatched: list[LandedFile], loaded: Mapping[str, str], refuse) -> None:
    """Keep a complete file whose name fits no table only when its bytes were delivered under a proper name."""
    if not unmatched:
        return
    by_size: dict[int, list[LandedFile]] = {}
    for landed in scan.complete:
        by_size.setdefault(landed.path.stat().st_size, []).append(landed)
    digests: dict[Path, str] = {}

    def md5_of(landed: LandedFile) -> str:
        if landed.path not in digests:
            digests[landed.path] = file_md5(landed.path)
        return digests[landed.path]

    for landed in unmatched:
        md5 = md5_of(landed)
        # only files of the same size can hold the same bytes: md5 nothing else
        same = md5 in loaded or any(md5_of(o) == md5 for o in by_size.get(landed.path.stat().st_size, []))
        if same:
            scan.complete.append(landed)
            continue
        refuse(
            landed.path,
            landed.feed,
            unknown_name_error(landed, "its bytes are not those of any file delivered under a proper name"),
        )


def unknown_name_error(landed: LandedFile, why: str) -> FeedLandingError:
    """The refusal of a complete file whose name fits no table of its feed; ``why`` says why it is not a resend."""
    patterns = ", ".join(t.pattern.pattern for t in FEEDS[landed.feed].tables)
    return FeedLandingError(
        f"{landed.rel}: the file name fits no table of feed {landed.feed!r} and {why}; expected a name matching "
        f"{patterns} — ask the department to rename and resend it; nothing in it was loaded",
        feed=landed.feed,
        file=landed.rel,
        reason="unknown_file",
    )


def _folder_date(name: str) -> date | None:
    if not _DATE_FOLDER.match(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def _scan_day(
    scan: LandingScan, slug: str, day_dir: Path, delivery_date: date | None, refuse, unmatched: list[LandedFile]
) -> None:
    entries = _sorted_dir(day_dir)
    names = {p.name for p in entries}
    for path in entries:
        rel = f"{slug}/{day_dir.name}/{path.name}"
        try:
            check_name(path.name, feed=slug, where=rel)
        except FeedLandingError as err:
            refuse(path, slug, err)
            continue
        if path.name.endswith(FLAG_SUFFIX):
            data_name = path.name[: -len(FLAG_SUFFIX)]
            if data_name not in names:
                refuse(
                    path,
                    slug,
                    FeedLandingError(
                        f"{rel}: flag without its file {data_name!r}; expected the file beside its flag — "
                        "ask the department to resend the file",
                        feed=slug,
                        file=rel,
                        reason="unknown_file",
                    ),
                )
            continue
        if path.is_dir():
            refuse(
                path,
                slug,
                FeedLandingError(
                    f"{rel}: a folder inside a delivery folder; expected only files and their .ok flags",
                    feed=slug,
                    file=rel,
                    reason="unknown_file",
                ),
            )
            continue
        flag = path.with_name(path.name + FLAG_SUFFIX)
        if flag.name not in names:
            scan.waiting.append(path)  # even under an unknown name: it may be a resend still in transfer
            continue
        try:
            rows, md5 = read_flag(flag, feed=slug, file=rel)
        except FeedLandingError as err:
            refuse(path, slug, err)
            continue
        landed = LandedFile(slug, delivery_date, day_dir.name, path.name, path, flag, rows, md5)
        if table_for_file(slug, path.name) is None:
            unmatched.append(landed)  # decided once the whole landing is known
        else:
            scan.complete.append(landed)


def verify_md5(landed: LandedFile, md5: str) -> None:
    """Reject the whole file when its md5 disagrees with the flag (no-op when the flag has none)."""
    if landed.flag_md5 is None or landed.flag_md5 == md5.lower():
        return
    raise FeedLandingError(
        f"{landed.rel}: flag says md5={landed.flag_md5} but the file's md5 is {md5.lower()}; "
        "the file was cut off or altered in transfer — ask the department to resend it",
        feed=landed.feed,
        file=landed.rel,
        reason="flag_md5_mismatch",
    )


def verify_rows(landed: LandedFile, records: int) -> None:
    """Reject the whole file when its data-record count disagrees with the flag's ``rows``."""
    if landed.flag_rows == records:
        return
    raise FeedLandingError(
        f"{landed.rel}: flag says rows={landed.flag_rows} but the file holds {records} data records; "
        "the file was cut off or altered in transfer — ask the department to resend it",
        feed=landed.feed,
        file=landed.rel,
        reason="flag_rows_mismatch",
    )
