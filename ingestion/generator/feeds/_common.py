"""What every feed builder shares: the run context and person rendering."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import polars as pl

from .._ids import render_ids
from .._quirks import noisy_header, render_address, render_names, render_phones, render_sex
from ..district import District
from ..landing import Landing, Truth
from ..params import PHONE_FORMS, SEX_FORMS, Params
from ..people import People


@dataclass
class Context:
    district: District
    people: People
    start: dt.date
    days: int
    seed: int
    landing: Landing
    truth: Truth
    params: Params
    small: bool = False  # tiny runs skip some rare file-level quirks
    patterns: object = None  # patterns.PatternPlan when known patterns are injected
    extra: dict = field(default_factory=dict)

    def rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])

    @property
    def end(self) -> dt.date:
        """First day after the period."""
        return self.start + dt.timedelta(days=self.days)

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    @cached_property
    def P(self) -> dict[str, np.ndarray]:
        p = self.people.persons
        pts = self.district.points
        cols = {c: p[c].to_numpy() for c in ("person_id", "id_number", "doc_type", "name", "phone", "is_resident")}
        cols["male"] = (p["sex"] == "男").to_numpy()
        cols["birth"] = p["birth_date"].to_numpy().astype("datetime64[D]")
        cols["point"] = p["point_idx"].fill_null(-1).to_numpy()
        cols["unit"] = p["unit"].fill_null(0).to_numpy()
        cols["room"] = p["room"].fill_null(0).to_numpy()
        cols["pt_local"] = pts["local"].to_numpy()
        cols["pt_road"] = pts["road"].to_numpy()
        cols["pt_house"] = pts["house_no"].to_numpy()
        cols["pt_bno"] = pts["building_no"].to_numpy()
        return cols

    def resident_pool(self, when: np.datetime64) -> np.ndarray:
        """Indices of register persons living here at ``when`` (cached: petitions ask once per case)."""
        key = ("pool", str(when))
        if key not in self.extra:
            self.extra[key] = self._resident_pool(when)
        return self.extra[key]

    def _resident_pool(self, when: np.datetime64) -> np.ndarray:
        p = self.people.residents()
        reg = p["registered_on"].to_numpy().astype("datetime64[D]")
        left = p["left_on"].to_numpy().astype("datetime64[D]")
        return np.flatnonzero((reg <= when) & (np.isnat(left) | (left > when)))

    def daily_folder(self, data_date: dt.date, rng: np.random.Generator) -> dt.date:
        return data_date + dt.timedelta(days=1 if rng.random() < 0.88 else 0)


def render_people(
    ctx: Context,
    idx: np.ndarray,
    rng: np.random.Generator,
    *,
    feed: str,
    id_rates: dict | None = None,
    name_rates: dict | None = None,
) -> dict[str, np.ndarray]:
    """Personal fields of persons ``idx`` as ``feed`` writes them: the seed's fault rates for that department
    (params), unless ``id_rates``/``name_rates`` are given (``{}`` for clean values)."""
    P, prm = ctx.P, ctx.params
    eligible = P["doc_type"][idx] == "居民身份证"
    ids, idf = render_ids(P["id_number"][idx], rng, prm.id_rates[feed] if id_rates is None else id_rates, eligible)
    idf[~eligible] = "foreign"
    names, nf = render_names(
        P["name"][idx], rng, prm.name_rates[feed] if name_rates is None else name_rates, prm.dot_variant_rate
    )
    pid = np.where(P["is_resident"][idx], P["person_id"][idx], 0)
    phones = render_phones(P["phone"][idx], rng, prm.county.area_code, [prm.phone_forms[f] for f in PHONE_FORMS])
    return {
        "name": names,
        "id": ids,
        "id_fault": idf,
        "name_fault": nf,
        "person_id": pid,
        "phone": phones,
        "sex": render_sex(P["male"][idx], rng, [prm.sex_forms[f] for f in SEX_FORMS]),
    }


def render_homes(ctx: Context, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Current addresses as typed; outsiders (no point) get a free-text address elsewhere."""
    P = ctx.P
    d = ctx.district
    prefix = (d.province, d.city, d.county_name)
    habits = ctx.params.address
    u = rng.random((len(idx), 7))
    pt = P["point"][idx]
    out = np.empty(len(idx), dtype=object)
    loc, road, house, bno = P["pt_local"], P["pt_road"], P["pt_house"], P["pt_bno"]
    unit, room = P["unit"][idx], P["room"][idx]
    for k in range(len(idx)):
        p = pt[k]
        if p < 0:
            out[k] = ""
            continue
        out[k] = render_address(
            prefix, loc[p], road[p] + house[p], int(bno[p]), int(unit[k]), int(room[k]), u[k], habits
        )
    return out


def switched_encoding(ctx: Context, feed: str, i: int) -> bool:
    """Whether the ``i``-th file of ``feed`` comes in the other encoding (the seed's params.encoding)."""
    e = ctx.params.encoding.get(feed, {"mode": "none"})
    return e["mode"] == "single" and i == e["day"] or e["mode"] == "from" and i >= e["day"]


def layout_columns(ctx: Context, feed: str, cols: list[str], i: int) -> tuple[list[str], str | None]:
    """The columns of ``feed``'s ``i``-th increment in the seed's order, and the unannounced column it carries."""
    lay = ctx.params.daily_layout.get(feed)
    if lay is None:
        return cols, None
    order = lay["order"] or cols
    extra = lay["extra"][0] if lay["extra"] and i >= lay["extra"][1] else None
    return list(order), extra


def laid_out(
    ctx: Context, feed: str, df: pl.DataFrame, cols: list[str], i: int, rng: np.random.Generator
) -> pl.DataFrame:
    """``df[cols]`` as the department's export prints it that day: its column order, an unannounced column
    (values filled for some rows), header cells with stray spaces (params.daily_layout)."""
    order, extra = layout_columns(ctx, feed, cols, i)
    out = df.select(order)
    if extra is not None:
        vals = np.where(rng.random(out.height) < 0.5, "", f"{extra}{i % 7 + 1}")
        out = out.with_columns(pl.Series(extra, vals, dtype=pl.Utf8))
    noise = ctx.params.daily_layout[feed]["header_noise"]
    header = noisy_header(out.columns, rng, noise)
    if len(set(header)) == len(header) and header != out.columns:
        out = out.rename(dict(zip(out.columns, header)))
    return out


def emit_daily(ctx: Context, feed: str, rows: pl.DataFrame, name_fmt: str, encode, on_file, *, feed_no: int) -> None:
    """Write one increment file per data date of the period (empty files included).

    ``rows`` has ``_file_date`` (date) and ``_sort`` columns; ``encode(df, name, i, switched)`` returns
    (bytes, rows) for the ``i``-th day; ``on_file(name, df)`` records truth for the file's records in order.
    Which files switch encoding and which are sent twice is the seed's (params).
    """
    rng = ctx.rng(feed_no, 99)
    parts = rows.sort("_file_date", "_sort").partition_by("_file_date", as_dict=True, maintain_order=True)
    parts = {k[0]: v for k, v in parts.items()}
    empty = rows.clear()
    forced_resend = ctx.days // 2 + 1 if ctx.days >= 10 else -1
    for i, day in enumerate(ctx.dates()):
        df = parts.get(day, empty)
        name = name_fmt.format(day=day)
        switched = switched_encoding(ctx, feed, i)
        data, n = encode(df, name, i, switched)
        folder = ctx.daily_folder(day, rng)
        ctx.landing.deliver(feed, folder, name, data, n)
        if switched:
            ctx.truth.fault(feed, folder, name, "encoding_switch", detail=_switch_detail(ctx, feed))
        if i == forced_resend or rng.random() < ctx.params.resend_rate:
            again = folder + dt.timedelta(days=int(rng.integers(2, 7)))
            ctx.landing.deliver(feed, again, name, data, n)
            ctx.truth.fault(feed, again, name, "resend", detail=f"identical copy of {folder.isoformat()}/{name}")
        on_file(name, df)


#: the encoding each feed states; a switched file comes in the other one
STATED = {"police_population": "gb18030", "police_incidents": "gb18030", "petitions": "utf-8", "grid_events": "utf-8"}


def switched_codec(ctx: Context, feed: str) -> tuple[str, bool]:
    """(encoding, BOM) of a switched file of ``feed``: UTF-8 (BOM or not, the seed's) where GB18030 is stated,
    GB18030 where UTF-8 is."""
    if STATED[feed] == "gb18030":
        return "utf-8", bool(ctx.params.encoding[feed]["bom"])
    return "gb18030", False


def _switch_detail(ctx: Context, feed: str) -> str:
    enc, bom = switched_codec(ctx, feed)
    return f"{enc}{' with BOM' if bom else ''} instead of {STATED[feed]}"


def pick_residents(ctx: Context, rng: np.random.Generator, n: int) -> np.ndarray:
    pool = ctx.resident_pool(np.datetime64(ctx.start))
    return pool[rng.integers(0, len(pool), n)]


def pick_outsiders(ctx: Context, rng: np.random.Generator, n: int) -> np.ndarray:
    n_res = ctx.people.n_residents
    return n_res + rng.integers(0, ctx.people.persons.height - n_res, n)


def spread_times(days: np.ndarray, rng: np.random.Generator, lo_hour: int = 0, hi_hour: int = 24) -> np.ndarray:
    secs = rng.integers(lo_hour * 3600, hi_hour * 3600, len(days))
    return days.astype("datetime64[s]") + secs.astype("timedelta64[s]")
