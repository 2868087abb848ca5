"""generate(): build a district, its people and every feed's deliveries, plus the truth."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .district import build_district
from .feeds import (
    civil_affairs,
    credit_points,
    grid_events,
    grid_registry,
    grid_visits,
    hotline_orders,
    petitions,
    police_incidents,
    police_population,
    service_lists,  # 三张清单 (issue 23)
)
from .feeds._common import Context
from .landing import FEEDS, Delivered, Landing, RecordSink, Truth
from .params import COUNTIES, County, Params, draw_params
from .patterns import applies, patterns_frame, plan_patterns
from .people import build_people

log = logging.getLogger(__name__)

#: ``progress(stage, done, total)``: a stage is "district", a feed slug (done = delivery days written
#: so far out of ``days``) or "truth"; called often, so it should be cheap
Progress = Callable[[str, int, int], None]


@dataclass
class GenerateSummary:
    out: Path
    residents: int
    days: int
    seed: int
    county: str = ""
    files: dict[str, int] = field(default_factory=dict)  # flagged files per feed (resends included)
    rows: dict[str, int] = field(default_factory=dict)  # flag rows per feed (resends included)
    person_records: dict[str, int] = field(default_factory=dict)
    id_faults: dict[str, dict[str, int]] = field(default_factory=dict)
    name_faults: dict[str, dict[str, int]] = field(default_factory=dict)
    file_faults: dict[str, int] = field(default_factory=dict)  # kind -> count
    events: int = 0
    grids: int = 0
    address_points: int = 0
    seconds: float = 0.0

    def as_lines(self) -> list[str]:
        lines = [
            f"generated {self.residents} residents x {self.days} days (seed {self.seed}) into {self.out} "
            f"in {self.seconds:.1f}s",
            f"county: {self.county} (the seed's quirk rates and layouts: truth/params.json)",
            f"district: {self.grids} grids (history incl. reorganisation), {self.address_points} address points",
        ]
        for feed in FEEDS:
            lines.append(
                f"{feed}: {self.files.get(feed, 0)} files, {self.rows.get(feed, 0)} rows, "
                f"{self.person_records.get(feed, 0)} person records"
            )
            total = self.person_records.get(feed, 0)
            for label, faults in (("id", self.id_faults.get(feed, {})), ("name", self.name_faults.get(feed, {}))):
                bad = {k: v for k, v in sorted(faults.items()) if k != "none"}
                if bad and total:
                    lines.append(
                        f"  {label} faults: " + ", ".join(f"{k} {v} ({v / total:.2%})" for k, v in bad.items())
                    )
        lines.append(f"event records: {self.events}")
        if self.file_faults:
            lines.append("file-level faults: " + ", ".join(f"{k} {v}" for k, v in sorted(self.file_faults.items())))
        return lines


def resolve_county(
    county_code: str | None, county_name: str | None, province: str | None, city: str | None
) -> County | None:
    """The county asked for, or ``None`` to let the seed draw one from params.COUNTIES."""
    if county_code is None:
        if county_name is not None:
            raise ValueError(f"county_name={county_name!r} needs county_code as well")
        return None
    if not (len(county_code) == 6 and county_code.isdigit()):
        raise ValueError(f"county_code={county_code!r} should be a 6-digit GB/T 2260 code")
    known = next((c for c in COUNTIES if c.code == county_code), None)
    same_province = next((c for c in COUNTIES if c.code[:2] == county_code[:2]), None)
    if known is None and county_name is None:
        raise ValueError(f"county_code={county_code!r} is not in the generator's table; give county_name too")
    base = known or same_province
    return County(
        county_code,
        county_name or known.name,
        province if province is not None else (base.province if base else ""),
        city if city is not None else (known.city if known else ""),
        base.area_code if base else "0" + county_code[:3],
    )


@contextlib.contextmanager
def _staged(out: Path):
    """A hidden folder inside ``out`` to write into; on success its landing/ and truth/ replace ``out``'s, on
    failure it goes and ``out`` is left as it was: never a half-written landing."""
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".generating-", dir=out))
    try:
        yield stage
        for name in ("truth", "landing"):  # landing last: a complete landing appears in one rename
            old = out / name
            if old.exists():
                gone = stage / f"old-{name}"
                os.replace(old, gone)
            os.replace(stage / name, old)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def generate(
    out: Path,
    *,
    residents: int,
    days: int,
    seed: int,
    start: dt.date = dt.date(2024, 11, 1),
    county_code: str | None = None,
    county_name: str | None = None,
    province: str | None = None,
    city: str | None = None,
    patterns: bool = True,
    progress: Progress | None = None,
) -> GenerateSummary:
    """Write ``out/landing/<feed>/<date>/<file>`` (+ ``.ok`` flags) and ``out/truth/*`` (``params.json`` among them).

    Same arguments give byte-identical output. The seed draws the county (unless ``county_code`` is given),
    every quirk rate, date and phone habits, encoding switches and register layouts (see
    ``ingestion.generator.params``). With ``patterns`` (the default) and at least 2,000
    residents and 14 days, known patterns for the early warnings are injected and listed in
    ``truth/patterns.parquet`` (see ``ingestion.generator.patterns``); ``patterns=False`` gives a
    landing without them, for measuring false alarms. The file is written (empty) either way.
    ``progress`` is told how far each stage is (see :data:`Progress`); it never changes the output.
    Everything is written into a hidden folder inside ``out`` and moved into place at the end, so a
    failure leaves ``out`` as it was.
    """
    if residents < 100:
        raise ValueError(f"residents={residents!r} should be at least 100")
    if days < 1:
        raise ValueError(f"days={days!r} should be at least 1")
    params = draw_params(seed, days, resolve_county(county_code, county_name, province, city))
    out = Path(out)
    with _staged(out) as stage:
        summary = _generate(
            stage,
            residents=residents,
            days=days,
            seed=seed,
            start=start,
            params=params,
            patterns=patterns,
            progress=progress,
        )
    summary.out = out
    return summary


def _generate(
    out: Path,
    *,
    residents: int,
    days: int,
    seed: int,
    start: dt.date,
    params: Params,
    patterns: bool,
    progress: Progress | None,
) -> GenerateSummary:
    t0 = time.perf_counter()
    landing_dir, truth_dir = out / "landing", out / "truth"
    for d in (landing_dir, truth_dir):
        d.mkdir(parents=True)
    params.write(truth_dir / "params.json")
    c = params.county
    report = progress or (lambda stage, done, total: None)
    report("district", 0, 2)
    district = build_district(
        residents=residents,
        days=days,
        start=start,
        county_code=c.code,
        county_name=c.name,
        province=c.province,
        city=c.city,
        seed=seed,
    )
    report("district", 1, 2)
    people = build_people(district, residents=residents, days=days, start=start, seed=seed)
    report("district", 2, 2)
    log.info(
        "district: %d grids, %d points; %d persons",
        district.grids.height,
        district.points.height,
        people.persons.height,
    )
    truth = Truth(truth_dir, RecordSink(truth_dir / "person_records.parquet"))
    days_done: dict[str, int] = {}

    def delivered(d: Delivered) -> None:
        # how far into the period a feed's deliveries have come (folders run one day behind the data)
        day = min(days, (dt.date.fromisoformat(d.folder) - start).days + 1)
        if day > days_done.get(d.feed, 0):
            days_done[d.feed] = day
            report(d.feed, day, days)

    ctx = Context(
        district=district,
        people=people,
        start=start,
        days=days,
        seed=seed,
        landing=Landing(landing_dir, on_deliver=delivered if progress else None),
        truth=truth,
        params=params,
    )
    if patterns and applies(residents, days):
        ctx.patterns = plan_patterns(ctx)
    for mod in (
        grid_registry,
        police_population,
        police_incidents,
        civil_affairs,
        petitions,
        grid_events,
        hotline_orders,
        grid_visits,
        credit_points,
        service_lists,
    ):
        t = time.perf_counter()
        report(mod.FEED, 0, days)
        mod.build(ctx)
        report(mod.FEED, days, days)
        log.info("%s built in %.1fs", mod.FEED, time.perf_counter() - t)
    report("truth", 0, 1)
    truth.close()
    patterns_frame(ctx.patterns).write_parquet(truth_dir / "patterns.parquet")
    persons = people.persons.drop("point_idx", "unit", "room", "household_pos")
    persons.write_parquet(truth_dir / "persons.parquet")
    g = district.grids
    g.with_columns(
        wkt=pl.format(
            "POLYGON(({} {}, {} {}, {} {}, {} {}, {} {}))",
            "min_lon",
            "min_lat",
            "max_lon",
            "min_lat",
            "max_lon",
            "max_lat",
            "min_lon",
            "max_lat",
            "min_lon",
            "min_lat",
        )
    ).write_parquet(truth_dir / "grids.parquet")
    district.points.drop("local").write_parquet(truth_dir / "address_points.parquet")
    s = GenerateSummary(
        out=out,
        residents=residents,
        days=days,
        seed=seed,
        county=f"{c.code} {c.province}{c.city}{c.name}",
        grids=g.height,
        address_points=district.points.height,
    )
    for dlv in ctx.landing.delivered:
        s.files[dlv.feed] = s.files.get(dlv.feed, 0) + 1
        s.rows[dlv.feed] = s.rows.get(dlv.feed, 0) + dlv.rows
    s.person_records = dict(truth.records.records)
    for (feed, kind), c in truth.records.id_faults.items():
        s.id_faults.setdefault(feed, {})[kind] = c
    for (feed, kind), c in truth.records.name_faults.items():
        s.name_faults.setdefault(feed, {})[kind] = c
    s.file_faults = dict(Counter(f["kind"] for f in truth.faults))
    s.events = sum(e.height for e in truth.events)
    s.seconds = time.perf_counter() - t0
    report("truth", 1, 1)
    return s
