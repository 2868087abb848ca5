"""The one planner: which delivered files are due, and what the ledger says of the rest.

Every front door (``zhili run``, the landing sensor, :func:`ingest_landing`
for tests and benchmarks) asks :func:`plan_landing` the same question the same
way: scan the landing (bytes loaded before let a renamed resend count as
complete, to be recorded as a duplicate), record the files waiting for their
flag and the refused ones in the ledger, and list per feed, grid register
first (:data:`ingestion.feeds.FEED_ORDER`), the complete files whose bytes the
ledger does not settle yet under their name (:func:`ingestion.ledger.accounted`).
What each door then does with a due file (a Dagster run, a loop) is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.feeds import FEED_ORDER, FEEDS, GRID_FEED
from ingestion.landing import LandedFile, LandingScan, file_md5, scan_landing
from ingestion.ledger import LOADED, FileOutcome, accounted, loaded_files, read_ledger, scan_outcomes, write_ledger
from ingestion.versions import adopt_version_records
from ingestion.zones import Zones, ensure_zones

__all__ = ["Due", "Plan", "claimed_md5", "ingest_landing", "plan_landing"]


@dataclass(frozen=True)
class Due:
    """A complete file the ledger does not account for yet, with the md5 it was judged by."""

    landed: LandedFile
    md5: str

    @property
    def key(self) -> str:
        """Its partition key within its feed: ``<delivery folder>/<file name>``."""
        return f"{self.landed.folder}/{self.landed.name}"


@dataclass
class Plan:
    scan: LandingScan
    #: due files per feed, feeds in load order (grid register first), files in the scan's order
    due: dict[str, list[Due]] = field(default_factory=dict)
    #: the waiting and refused files' rows, as written to the ledger
    recorded: list[FileOutcome] = field(default_factory=list)
    #: md5 -> ``feed/folder/file`` of every file loaded (or held) before this plan
    loaded: dict[str, str] = field(default_factory=dict)

    def keys(self, feed: str) -> list[str]:
        return [d.key for d in self.due.get(feed, [])]


def claimed_md5(landed: LandedFile) -> str:
    """The md5 the flag claims, else the bytes' own: the flag's saves reading every landed file on every run."""
    return landed.flag_md5 or file_md5(landed.path)


def plan_landing(
    landing: Path,
    zones: Zones,
    *,
    feeds: Iterable[str] | None = None,
    md5_of: Callable[[LandedFile], str | None] = claimed_md5,
) -> Plan:
    """Scan ``landing``, record its waiting and refused files in the ledger, and list the due files of ``feeds``.

    ``md5_of`` gives the md5 a file is judged by (default :func:`claimed_md5`); it may return None for a file
    the caller already knows is not new (the sensor's cursor), which is then neither due nor hashed.
    """
    wanted = set(feeds) if feeds is not None else set(FEEDS)
    ledger = read_ledger(zones)
    loaded = loaded_files(zones, ledger)
    scan = scan_landing(landing, loaded=loaded)
    plan = Plan(scan=scan, loaded=loaded)
    for outcome in scan_outcomes(scan):
        if outcome.feed in wanted or outcome.feed not in FEEDS:
            write_ledger(zones, outcome)
            plan.recorded.append(outcome)
    done = accounted(zones, ledger)
    by_feed: dict[str, list[Due]] = {}
    for landed in scan.complete:
        if landed.feed not in wanted:
            continue
        md5 = md5_of(landed)
        if md5 is not None and (landed.rel, md5) not in done:
            by_feed.setdefault(landed.feed, []).append(Due(landed, md5))
    plan.due = {feed: by_feed[feed] for feed in FEED_ORDER if feed in by_feed}
    return plan


def ingest_landing(
    landing: Path,
    zones: Zones,
    *,
    key: bytes,
    feeds: Iterable[str] | None = None,
    on_file: Callable[[FileOutcome], None] | None = None,
    gate=None,
) -> list[FileOutcome]:
    """Load every due file under ``landing`` in this process, grid register first; the outcomes, recorded first.

    The loop without Dagster (tests, benchmarks, training the linkage priors): the same plan as ``zhili run``,
    each file through :func:`ingestion.normalising.ingest_file`.
    """
    from ingestion.grid_index import load_grid_index
    from ingestion.normalising import ingest_file

    ensure_zones(zones)
    adopt_version_records(zones)  # a home from before the register's person records were one per version
    plan = plan_landing(landing, zones, feeds=feeds)
    outcomes = list(plan.recorded)
    loaded = dict(plan.loaded)
    grid_index = None
    for feed, due in plan.due.items():
        if feed != GRID_FEED and grid_index is None:
            grid_index = load_grid_index(zones)
        prefixes = tuple(grid_index.prefixes) if grid_index is not None else ()
        for d in due:
            outcome = ingest_file(
                d.landed, zones, key=key, grid_index=grid_index, address_prefixes=prefixes, loaded=loaded, gate=gate
            )
            if outcome.status in LOADED:
                loaded[outcome.file_md5] = d.landed.rel
            outcomes.append(outcome)
            if on_file:
                on_file(outcome)
    return outcomes
