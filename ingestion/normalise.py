"""Per-feed normalisers: raw frame (every cell text) -> typed frame + person records + quarantine.

Each normaliser is a pure function of the raw frame and a :class:`Context`;
all file I/O is in the readers and the pipeline. The field rules come from
``ingestion.fields`` and address placement from ``ingestion.placement``, so
each rule is written once for every feed.

A row is quarantined only when it cannot stand as a record: its key or the
time that dates it is empty or unreadable (``TableSpec.stands_on``; petitions
add 办理状态, as their page says). Everything else is kept and flagged: an empty
or unusable personal field (ID, name, phone: ``id_status``, ``name_status``,
``phone_kind``) or an unplaceable address never quarantines a row, because
a person with no ID is still on the roll, in the register or at the scene,
and a record with a bad ID is still an incident that happened. An empty value
in any other required column (a call's 警情类别 or 处警结果, an event's 网格编码
or 当前状态, a register row's 证件类型) stays null: the record still happened.
An empty update time (反馈时间, 状态时间) leaves a version that still stands;
"latest wins" ranks it below every dated version of its key (dbt macro
``latest_wins``: ``nulls last``, then the later delivery). A grid row's parent
codes are the prefixes of its 网格编码 (12-digit community, 9-digit street,
6-digit county): an empty one is read from the key, not left null.

A weekly register snapshot mostly repeats the previous one. Given that
snapshot (:class:`Previous`), :func:`normalise` sends only the new and changed
rows through the field rules; a row whose cells equal a row the previous
snapshot normalised takes that row's values, re-stamped with its own locator
and date. Its placement is reused too when the grid index is the one the
previous snapshot was placed with and no grid starts or ends between the two
dates; otherwise the row is placed again. The result is exactly what
normalising the whole file would give.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl

from ingestion import fields as fr
from ingestion.feeds import FEEDS, LOCATOR, PROGRAMMES, TableSpec
from ingestion.pseudonym import person_key
from ingestion.schemas import PERSON_RECORDS, QUARANTINE, SCHEMAS, TZ, conform

__all__ = [
    "Context",
    "Normalised",
    "Previous",
    "normalise",
    "placement_fingerprint",
    "NORMALISERS",
    "INCREMENTAL",
    "PERSONAL_FIELDS",
]

_TS = pl.Datetime("us", TZ)
_VALID_IDS = ("valid", "upgraded_15", "foreign_valid")


@dataclass(frozen=True)
class Context:
    key: bytes
    data_date: date
    grid_index: object | None = None  # ingestion.placement.GridIndex
    address_prefixes: tuple[str, ...] = ()


@dataclass
class Normalised:
    frame: pl.DataFrame
    person_records: pl.DataFrame
    quarantine: pl.DataFrame
    #: rows that took an earlier snapshot's values instead of going through the field rules
    rows_reused: int = 0


@dataclass(frozen=True)
class Previous:
    """An earlier snapshot of the same table as loaded: its raw cells and what they normalised to.

    It must have been normalised by the same code with the same pseudonym key
    (the pipeline checks a fingerprint before offering one).
    """

    raw: pl.DataFrame
    frame: pl.DataFrame
    person_records: pl.DataFrame
    #: :func:`placement_fingerprint` of the context it was placed in (None: unknown, place again)
    placement: str | None = None


# --- shared pieces -------------------------------------------------------------------------


def _text(*names: str) -> list[pl.Expr]:
    return [fr.clean_text(pl.col(n)).alias(n) for n in names]


def _split_bad(frame: pl.DataFrame, checks: dict[str, pl.Expr]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows failing any check (a boolean expr, true = bad) go to quarantine with the first reason."""
    if not checks:
        return frame, _empty_quarantine()
    reason = pl.lit(None, pl.String)
    message = pl.lit(None, pl.String)
    for code, (bad, text) in reversed(list(checks.items())):
        reason = pl.when(bad).then(pl.lit(code.split(":")[0])).otherwise(reason)
        message = pl.when(bad).then(pl.lit(text)).otherwise(message)
    marked = frame.with_columns(reason.alias("_reason"), message.alias("_message"))
    bad_rows = marked.filter(pl.col("_reason").is_not_null())
    good = marked.filter(pl.col("_reason").is_null()).drop("_reason", "_message")
    quarantine = bad_rows.select(
        *LOCATOR[:-1],
        pl.col("member_no"),
        _raw_text(bad_rows).alias("raw_text"),
        pl.col("_reason").alias("reason"),
        (pl.col("_message")).alias("message"),
    )
    return good, conform(quarantine, QUARANTINE)


def _raw_text(frame: pl.DataFrame) -> pl.Expr:
    payload = [c for c in frame.columns if c not in LOCATOR and not c.startswith("_")]
    return pl.struct(payload).struct.json_encode().str.slice(0, 2000) if payload else pl.lit("")


def _empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE)


#: Personal fields (证件号码/身份证号码, 姓名, 联系电话): required as columns, never as values (feeds README,
#: "Required is about columns"). An empty or unusable one flags the person; it never quarantines the row.
PERSONAL_FIELDS = frozenset({"id_number", "name", "phone"})


def _required(frame: pl.DataFrame, spec: TableSpec, names: list[str] | None = None, sheet: str | None = None) -> dict:
    """Checks quarantining a row whose value in one of ``names`` (default ``spec.stands_on``) is empty:
    only the record's key and the time that dates it (``spec.stands_on``), never a personal field."""
    names = list(spec.stands_on) if names is None else names
    personal = PERSONAL_FIELDS.intersection(names)
    if personal:
        raise ValueError(
            f"{spec.table}: required values {sorted(personal)} are personal fields, which must not quarantine a row "
            "when empty (feeds README, 'Required is about columns'); flag them through id_status/name_status instead"
        )
    other = [n for n in names if n not in spec.stands_on]
    if other:
        raise ValueError(
            f"{spec.table}: required values {other} are neither the record's key nor the time that dates it "
            f"(stands_on={spec.stands_on!r}), so an empty one must not quarantine a row (feeds README, 'Required is "
            "about columns'); keep the row with the value null, or add the field to the TableSpec's stands_on if the "
            "feed page says the row cannot stand without it"
        )
    headers = (
        {c.name: c.header for c in spec.columns_for(sheet)} if spec.sheets else {c.name: c.header for c in spec.columns}
    )
    return {
        f"missing_required_field:{n}": (pl.col(n).is_null(), f"required field {headers.get(n, n)} ({n}) is empty")
        for n in names
    }


def _unparsed(raw: str, parsed: str, label: str) -> tuple[pl.Expr, str]:
    return pl.col(raw).is_not_null() & pl.col(parsed).is_null(), f"{label} is not a date-time in any known form"


def _person(
    frame: pl.DataFrame,
    ctx: Context,
    *,
    id_col: str | None,
    name_col: str | None,
    phone_col: str | None,
    sex_col: str | None = None,
    birth_col: str | None = None,
    doc_type: pl.Expr | None = None,
    numeric_cell: pl.Expr | None = None,
) -> pl.DataFrame:
    """Add normalised person fields: restricted (``_id_number``, ``_name`` ...) and display (masked)."""

    def col(name: str | None) -> pl.Expr:
        # a full-height null column, not a literal: batch-wise field rules do not broadcast
        return pl.col(name) if name and name in frame.columns else pl.repeat(None, pl.len(), dtype=pl.String)

    out = frame.with_columns(
        col(id_col).alias("_id_raw"),
        col(name_col).alias("_name_raw"),
        fr.normalise_id(col(id_col), doc_type=doc_type, numeric_cell=numeric_cell).alias("_id"),
        fr.normalise_name(col(name_col)).alias("_nm"),
        fr.normalise_phones(col(phone_col)).alias("_ph"),
    ).unnest("_id", "_nm", "_ph", separator="_")
    # unnest with separator gives _id_id_number, _id_id_status, ...; rename to stable names
    out = out.rename(
        {
            c: c.replace("_id_id_", "_id_").replace("_nm_name", "_name").replace("_ph_phone", "_phone")
            for c in out.columns
            if c.startswith(("_id_", "_nm_", "_ph_"))
        }
    )
    out = out.rename({"_id_birth_date": "_birth_date", "_id_sex": "_id_sex"}, strict=False)
    return out.with_columns(
        person_key(pl.col("_id_number"), ctx.key).alias("person_key"),
        pl.col("_id_status").alias("id_status"),
        fr.mask_id(pl.col("_id_number")).alias("id_masked"),
        fr.mask_name(pl.col("_name")).alias("name_masked"),
        pl.col("_name_status").alias("name_status"),
        fr.mask_phone(pl.col("_phone")).alias("phone_masked"),
        pl.col("_phone_kind").alias("phone_kind"),
        fr.normalise_sex(col(sex_col), id_sex=pl.col("_id_sex")).alias("sex"),
        pl.coalesce(pl.col("_birth_date"), fr.parse_date(col(birth_col))).alias("birth_date"),
    )


def _person_records(
    frame: pl.DataFrame, *, role: str, source_key: str, record_at: pl.Expr, doc_type: pl.Expr | None = None
) -> pl.DataFrame:
    cols = {
        "role": pl.lit(role),
        "source_key": pl.col(source_key) if source_key in frame.columns else pl.lit(source_key),
        "record_at": record_at,
        "id_raw": pl.col("_id_raw"),
        "id_number": pl.col("_id_number"),
        "doc_type": doc_type if doc_type is not None else pl.lit(None, pl.String),
        "name_raw": pl.col("_name_raw"),
        "name": pl.col("_name"),
        "phone": pl.col("_phone"),
        "phones": pl.col("_phones"),
        "address_raw": pl.col("_address_raw") if "_address_raw" in frame.columns else pl.lit(None, pl.String),
    }
    return conform(frame.with_columns(**cols), PERSON_RECORDS)


def _place(frame: pl.DataFrame, ctx: Context, **kw) -> pl.DataFrame:
    if ctx.grid_index is None:
        return frame.with_columns(placement_method=pl.lit("unplaced"))
    placed = ctx.grid_index.place(frame, **kw)
    if "lon_fixed" in placed.columns:
        placed = placed.drop([c for c in ("lon", "lat") if c in placed.columns]).rename(
            {"lon_fixed": "lon", "lat_fixed": "lat"}
        )
    return placed


def _community_named(address: pl.Expr) -> pl.Expr:
    """The community or village a free-text place names (``茶洞村辖区``, ``锦江社区一带``): the last fallback."""
    return address.str.extract(r"([^省市区县道镇\s]{1,12}?(?:社区|村))", 1)


def _at_date(d: date) -> pl.Expr:
    return pl.lit(d).cast(pl.Date)


def _as_ts(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Datetime("us")).dt.replace_time_zone(TZ)


# --- grid registry ---------------------------------------------------------------------------


def _street_code(expr: pl.Expr) -> pl.Expr:
    # 12-digit form ending 000 is seen beside the 9-digit street code
    return pl.when(expr.str.len_chars() == 12).then(expr.str.slice(0, 9)).otherwise(expr)


def normalise_grid_units(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    f = raw.with_columns(*_text(*spec.all_names))
    f = f.with_columns(
        _street_code(pl.col("street_code")).alias("street_code"),
        fr.parse_date(pl.col("valid_from")).alias("_valid_from"),
        fr.parse_date(pl.col("valid_to")).alias("_valid_to"),
        fr.parse_int(pl.col("households")).alias("households"),
        fr.parse_int(pl.col("resident_population")).alias("resident_population"),
        fr.mask_name(pl.col("grid_worker_name")).alias("grid_worker_name_masked"),
        fr.mask_phone(fr.normalise_phones(pl.col("grid_worker_phone")).struct.field("phone")).alias(
            "grid_worker_phone_masked"
        ),
    )
    # the parent codes are prefixes of the grid code (grid_registry.md): an empty one is read from the key
    key = pl.col("grid_code")
    f = f.with_columns(
        pl.coalesce("community_code", pl.when(key.str.contains(r"^\d{15}$")).then(key.str.slice(0, 12))).alias(
            "community_code"
        ),
        pl.coalesce("street_code", pl.when(key.str.contains(r"^\d{15}$")).then(key.str.slice(0, 9))).alias(
            "street_code"
        ),
        pl.coalesce("county_code", pl.when(key.str.contains(r"^\d{15}$")).then(key.str.slice(0, 6))).alias(
            "county_code"
        ),
    )
    checks = _required(f, spec)
    checks["bad_code:grid"] = (~pl.col("grid_code").str.contains(r"^\d{15}$"), "网格编码 should be 15 digits")
    checks["bad_date:valid_from"] = (pl.col("_valid_from").is_null(), "启用日期 is not a date in any known form")
    good, q = _split_bad(f, checks)
    good = good.with_columns(pl.col("_valid_from").alias("valid_from"), pl.col("_valid_to").alias("valid_to"))
    return Normalised(conform(good, SCHEMAS["grid_units"]), pl.DataFrame(schema=PERSON_RECORDS), q)


def normalise_address_points(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    from ingestion.addresses import canonical_address

    f = raw.with_columns(*_text(*spec.all_names)).with_columns(
        canonical_address(pl.col("standard_address"), prefixes=list(ctx.address_prefixes)).alias("address_canonical"),
        pl.col("lon").cast(pl.Float64, strict=False),
        pl.col("lat").cast(pl.Float64, strict=False),
    )
    good, q = _split_bad(f, _required(f, spec))
    return Normalised(conform(good, SCHEMAS["address_points"]), pl.DataFrame(schema=PERSON_RECORDS), q)


def normalise_grid_boundaries(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    f = raw.with_columns(*_text("grid_code"))
    good, q = _split_bad(f, _required(f, spec))
    return Normalised(conform(good, SCHEMAS["grid_boundaries"]), pl.DataFrame(schema=PERSON_RECORDS), q)


# --- person and event feeds ------------------------------------------------------------------


def normalise_police_population(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    text = [n for n in spec.all_names if n not in ("id_number", "name", "phone")]
    f = raw.with_columns(*_text(*text))
    f = _person(
        f,
        ctx,
        id_col="id_number",
        name_col="name",
        phone_col="phone",
        sex_col="sex",
        birth_col="birth_date",
        doc_type=pl.col("doc_type"),
    )
    f = f.with_columns(
        fr.parse_date(pl.col("status_changed_date")).alias("status_changed_date"),
        fr.parse_date(pl.col("registered_date")).alias("registered_date"),
        pl.col("address").alias("_address_raw"),
    )
    f = _household_columns(f, ctx)
    checks = _required(f, spec)
    good, q = _split_bad(f, checks)
    good = _place_residents(good, ctx)
    records = _person_records(
        good,
        role="resident",
        source_key="source_person_id",
        record_at=_resident_record_at(ctx),
        doc_type=pl.col("doc_type"),
    )
    return Normalised(conform(good, SCHEMAS["police_population"]), records, q)


def _household_columns(frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """户号 and 与户主关系 (police_population.md), absent from snapshots before the register exported them.

    A 户号 names a family's 户口簿, so it leaves ingestion only as a keyed pseudonym (``household_key``, the
    person key's HMAC over a prefixed value, so it can never equal a person's key) and a masked display
    form; a malformed one is kept and flagged (``household_no_status``), never dropped.
    """
    f = frame.with_columns(
        fr.normalise_household_no(pl.col("household_no")).alias("_hh"),
        fr.normalise_relation(pl.col("relation_to_head")).alias("_rel"),
    )
    number = pl.col("_hh").struct.field("household_no")
    return f.with_columns(
        person_key(pl.concat_str(pl.lit("户号:"), number), ctx.key).alias("household_key"),
        fr.mask_phone(number).alias("household_no_masked"),
        pl.col("_hh").struct.field("household_no_status").alias("household_no_status"),
        pl.col("_rel").struct.field("relation").alias("relation_to_head"),
        pl.col("_rel").struct.field("is_known").alias("is_relation_known"),
    ).drop("_hh", "_rel")


def _place_residents(frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Place register rows by their current address (``address``, cleaned text) in the grids active on the snapshot date."""
    return _place(frame, ctx, address="address", lon=None, lat=None, community=None, street=None, at="data_date")


def _resident_record_at(ctx: Context) -> pl.Expr:
    return _as_ts(_at_date(ctx.data_date))


def normalise_police_incidents(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    text = [n for n in spec.all_names if n not in ("id_number", "name", "phone", "narrative")]
    f = raw.with_columns(*_text(*text))
    f = _person(f, ctx, id_col="id_number", name_col="name", phone_col="phone")
    f = f.with_columns(
        fr.parse_datetime(pl.col("received_at")).alias("_received_at"),
        fr.parse_datetime(pl.col("feedback_at")).alias("_feedback_at"),
        (pl.col("_name_status") == "anonymous").alias("is_anonymous"),
        pl.col("narrative").str.len_chars().cast(pl.Int64).alias("narrative_chars"),
        pl.col("address").alias("_address_raw"),
    )
    checks = _required(f, spec)
    checks["bad_datetime:received_at"] = _unparsed("received_at", "_received_at", "接警时间")
    checks["bad_datetime:feedback_at"] = _unparsed("feedback_at", "_feedback_at", "反馈时间")
    good, q = _split_bad(f, checks)
    good = good.with_columns(pl.col("_received_at").alias("received_at"), pl.col("_feedback_at").alias("feedback_at"))
    good = good.with_columns(_community_named(pl.col("address")).alias("_community"))
    good = _place(
        good, ctx, address="address", lon="lon", lat="lat", community="_community", street=None, at="received_at"
    )
    callers = good.filter(pl.col("_id_raw").is_not_null() | (pl.col("_name_status").is_in(["ok", "odd"])))
    records = _person_records(callers, role="caller", source_key="incident_id", record_at=pl.col("received_at"))
    return Normalised(conform(good, SCHEMAS["police_incidents"]), records, q)


def normalise_civil_affairs(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    text = [n for n in spec.all_names if n not in ("id_number", "name", "phone") and n in raw.columns]
    f = raw.with_columns(*_text(*text))
    if "programme" not in f.columns:
        f = f.with_columns(pl.col("sheet").replace_strict(PROGRAMMES, default=None).alias("programme"))
    numeric = (
        pl.col("_numeric_cells").fill_null("").str.contains(r"(^|,)id_number(,|$)")
        if "_numeric_cells" in f.columns
        else None
    )
    # 残疾证号 = ID + category + grade: it can stand in for a damaged ID on the same row when they agree
    f = _person(
        f,
        ctx,
        id_col="id_number",
        name_col="name",
        phone_col="phone",
        sex_col="sex",
        birth_col="birth_date",
        numeric_cell=numeric,
    )
    if "disability_cert_no" in f.columns:
        cert = fr.normalise_id(fr.disability_cert_id(pl.col("disability_cert_no")).struct.field("id_number"))
        f = f.with_columns(cert.alias("_cert")).with_columns(
            pl.when(
                pl.col("_id_status").is_in(["excel_damage", "bad_check", "wrong_length"])
                & pl.col("_cert").struct.field("id_status").is_in(_VALID_IDS)
                & (
                    pl.col("_id_raw").fill_null("").str.slice(0, 12)
                    == pl.col("_cert").struct.field("id_number").str.slice(0, 12)
                )
            )
            .then(pl.col("_cert").struct.field("id_number"))
            .otherwise(pl.col("_id_number"))
            .alias("_id_number_rescued")
        )
        rescued = pl.col("_id_number").is_null() & pl.col("_id_number_rescued").is_not_null()
        f = f.with_columns(
            pl.when(rescued).then(pl.lit("rescued_cert")).otherwise(pl.col("id_status")).alias("id_status"),
            pl.col("_id_number_rescued").alias("_id_number"),
        ).with_columns(
            person_key(pl.col("_id_number"), ctx.key).alias("person_key"),
            fr.mask_id(pl.col("_id_number")).alias("id_masked"),
        )
    f = f.with_columns(
        (pl.col("_id_status") == "excel_damage").alias("is_id_damaged"),
        fr.parse_int(pl.col("age")).alias("age") if "age" in f.columns else pl.lit(None, pl.Int64).alias("age"),
        fr.parse_int(pl.col("household_size")).alias("household_size")
        if "household_size" in f.columns
        else pl.lit(None, pl.Int64).alias("household_size"),
        fr.parse_money(pl.col("monthly_amount")).cast(pl.Float64).alias("monthly_amount")
        if "monthly_amount" in f.columns
        else pl.lit(None, pl.Float64).alias("monthly_amount"),
        fr.parse_date(pl.col("start_date")).alias("start_date")
        if "start_date" in f.columns
        else pl.lit(None, pl.Date).alias("start_date"),
        fr.parse_date(pl.col("last_visit_date")).alias("last_visit_date")
        if "last_visit_date" in f.columns
        else pl.lit(None, pl.Date).alias("last_visit_date"),
        pl.col("address").alias("_address_raw")
        if "address" in f.columns
        else pl.lit(None, pl.String).alias("_address_raw"),
    )
    # 姓名 and 身份证号码 are required columns, not required values: a beneficiary whose ID or name
    # cell is empty is still on the roll, kept and flagged (id_status, name_status) for linkage
    good, q = f, _empty_quarantine()
    good = _place(
        good,
        ctx,
        address="address" if "address" in good.columns else None,
        lon=None,
        lat=None,
        community="community_name" if "community_name" in good.columns else None,
        street="street_name" if "street_name" in good.columns else None,
        at="data_date",
    )
    records = _person_records(
        good, role="beneficiary", source_key="programme", record_at=_as_ts(_at_date(ctx.data_date))
    )
    return Normalised(conform(good, SCHEMAS["civil_affairs"]), records, q)


def _lz_times(history: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Latest movement and acceptance time from the ``lz`` history (JSON text)."""
    dtype = pl.List(pl.Struct({"zt": pl.String, "sj": pl.String, "dw": pl.String, "yj": pl.String}))
    parsed = history.str.json_decode(dtype)
    times = parsed.list.eval(fr.parse_datetime(pl.element().struct.field("sj")))
    accepted = parsed.list.eval(
        pl.when(pl.element().struct.field("zt") == "已受理").then(fr.parse_datetime(pl.element().struct.field("sj")))
    )
    return times.list.max(), accepted.list.drop_nulls().list.first()


def normalise_petitions(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    text = [
        n for n in spec.all_names if n not in ("id_number", "name", "phone", "history", "address") and n in raw.columns
    ]
    f = raw.with_columns(*_text(*text))
    f = f.with_columns(fr.parse_datetime(pl.col("registered_at")).alias("_registered_at"))
    checks = _required(f, spec)
    checks["bad_datetime:registered_at"] = _unparsed("registered_at", "_registered_at", "djsj")
    good, q = _split_bad(f, checks)
    last_moved, accepted = _lz_times(pl.col("history"))
    good = good.with_columns(
        pl.col("_registered_at").alias("registered_at"),
        last_moved.alias("last_moved_at"),
        accepted.alias("accepted_at"),
        fr.parse_datetime(pl.col("closed_at")).alias("closed_at"),
        fr.parse_date(pl.col("due_date")).alias("due_date"),
        fr.parse_int(pl.col("petitioner_count")).alias("petitioner_count"),
        (pl.col("is_extended").str.to_lowercase() == "true").alias("is_extended"),
        (pl.col("clerk_repeat_flag").str.to_lowercase().is_in(["true", "1", "是"])).alias("clerk_repeat_flag"),
        pl.col("category").str.split("/").list.get(0, null_on_oob=True).alias("category_l1"),
        pl.col("category").str.split("/").list.get(1, null_on_oob=True).alias("category_l2"),
    )
    # the reader explodes xfr into one row per petitioner; the case itself is one record
    # an xfr entry is a petitioner when it gives a name, an ID or a phone (any of them may be missing)
    someone = pl.any_horizontal(fr.clean_text(pl.col(c)).is_not_null() for c in ("name", "id_number", "phone"))
    listed = good.group_by("record_no").agg(someone.sum().alias("petitioners_listed"))
    cases = good.filter(pl.col("member_no") == 1).join(listed, on="record_no", how="left")
    cases = cases.with_columns(
        (
            pl.max_horizontal(pl.col("petitioner_count").fill_null(0), pl.col("petitioners_listed").cast(pl.Int64)) >= 5
        ).alias("is_collective"),
        pl.col("problem_address").alias("_addr"),
    )
    # wtsd.dz names a house (road + number), not a building: placement takes it when the house's buildings that
    # wtsd.sq/jd leave lie in one grid; a case still at community level may take its petitioners' home grid in dbt
    # (int_incidents_unioned, petitioner_home)
    cases = _place(
        cases,
        ctx,
        address="problem_address",
        lon=None,
        lat=None,
        community="problem_community",
        street="problem_street",
        at="registered_at",
    )
    people = good.filter(someone)
    people = _person(
        people.with_columns(pl.col("address").alias("_address_raw")),
        ctx,
        id_col="id_number",
        name_col="name",
        phone_col="phone",
    )
    people = _place(people, ctx, address="address", lon=None, lat=None, community=None, street=None, at="registered_at")
    records = _person_records(people, role="petitioner", source_key="case_id", record_at=pl.col("registered_at"))
    return Normalised(conform(cases, SCHEMAS["petitions"]), records, q)


def _involved(frame: pl.DataFrame) -> pl.DataFrame:
    """涉及人员 ``姓名:身份证号;...`` -> one row per named person with member_no."""
    pairs = (
        frame.select(
            "feed", "file", "file_md5", "sheet", "record_no", "data_date", "event_id", "_reported_at", "people_involved"
        )
        .with_columns(pl.col("people_involved").str.replace_all("；", ";").str.split(";").alias("_pair"))
        .explode("_pair")
        .with_columns(pl.col("_pair").str.strip_chars())
        .filter(pl.col("_pair").is_not_null() & (pl.col("_pair") != ""))
        .with_columns((pl.int_range(pl.len()).over("record_no") + 1).cast(pl.Int32).alias("member_no"))
        .with_columns(
            pl.col("_pair")
            .str.replace("：", ":")
            .str.split_exact(":", 1)
            .struct.rename_fields(["_n", "_i"])
            .alias("_s")
        )
        .unnest("_s")
    )
    return pairs


def normalise_grid_events(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    text = [n for n in spec.all_names if n not in ("people_involved", "description")]
    f = raw.with_columns(*_text(*text))
    f = f.with_columns(
        fr.parse_datetime(pl.col("reported_at")).alias("_reported_at"),
        fr.parse_datetime(pl.col("status_at")).alias("_status_at"),
        fr.clean_text(pl.col("people_involved")).alias("people_involved"),
    )
    checks = _required(f, spec)
    checks["bad_datetime:reported_at"] = _unparsed("reported_at", "_reported_at", "上报时间")
    checks["bad_datetime:status_at"] = _unparsed("status_at", "_status_at", "状态时间")
    good, q = _split_bad(f, checks)
    people = _involved(good)
    counts = people.group_by("record_no").agg(pl.len().cast(pl.Int64).alias("people_count"))
    good = good.join(counts, on="record_no", how="left").with_columns(
        pl.col("_reported_at").alias("reported_at"),
        pl.col("_status_at").alias("status_at"),
        fr.parse_datetime(pl.col("resolved_at")).alias("resolved_at"),
        pl.col("people_count").fill_null(0),
    )
    good = good.with_columns(_community_named(pl.col("address")).alias("_community"))
    good = _place(
        good,
        ctx,
        address="address",
        lon="lon",
        lat="lat",
        community="_community",
        street=None,
        at="reported_at",
        grid_hint="grid_code_reported",
    )
    people = _person(people, ctx, id_col="_i", name_col="_n", phone_col=None)
    records = _person_records(people, role="involved", source_key="event_id", record_at=pl.col("_reported_at"))
    return Normalised(conform(good, SCHEMAS["grid_events"]), records, q)


_HOTLINE_GD_NAMES = tuple(
    next(t for t in FEEDS["hotline_orders"].tables if t.pattern.match("GD_20240101.csv")).all_names
)


def _open311_as_gd(raw: pl.DataFrame) -> pl.DataFrame:
    """Open311 requests in GD's terms (hotline_orders.md): ``closed`` is 已办结 at ``updated_datetime``, or
    已撤销 when its notes say so (the time is then the cancellation's, not a close); ``open`` is still being
    handled (办理中). Nothing the format lacks is made up: urgency, caller, steps and follow-up stay empty."""
    status = fr.clean_text(pl.col("open311_status")).str.to_lowercase()
    cancelled = (status == "closed") & fr.clean_text(pl.col("status_notes")).fill_null("").str.contains("撤销")
    return raw.with_columns(
        pl.when(cancelled)
        .then(pl.lit("已撤销"))
        .when(status == "closed")
        .then(pl.lit("已办结"))
        .when(status == "open")
        .then(pl.lit("办理中"))
        .alias("status"),
        pl.when((status == "closed") & ~cancelled).then(pl.col("updated_at")).alias("closed_at"),
    )


_URGENCIES = ("紧急", "一般", "复杂")
#: 延期批准 notes state the new deadline (hotline_orders.md): ``延期至2024-11-20 18:00``
_EXTENDED_TO = r"延期至\s*(\d{4}[-/年.]\d{1,2}[-/月.]\d{1,2}日?\s*\d{1,2}:\d{2}(?::\d{2})?)"


def normalise_hotline_orders(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    """GD rows (one per order per day it changed) and Open311 requests alike: the order as it stood then.

    An empty 办理时限 stays null here (``is_due_printed`` false): the platform's default is counted in
    the warehouse from the working-day calendar, where the order's dispatch history is known."""
    open311 = "open311_status" in spec.all_names
    if open311:
        raw = _open311_as_gd(raw)
    text = [n for n in _HOTLINE_GD_NAMES if n not in ("id_number", "name", "phone", "content")]
    f = raw.with_columns(pl.lit(None, pl.String).alias(n) for n in _HOTLINE_GD_NAMES if n not in raw.columns)
    f = f.with_columns(*_text(*text))
    f = _person(f, ctx, id_col="id_number", name_col="name", phone_col="phone")
    times = ("called_at", "dispatched_at", "signed_at", "due_at", "closed_at", "followed_up_at", "updated_at")
    f = f.with_columns(fr.parse_datetime(pl.col(c), excel_serial=False).alias(f"_{c}") for c in times)
    urgency = pl.col("urgency")
    f = f.with_columns(
        (
            pl.col("_name_status").is_in(["anonymous", "empty"]) & pl.col("_id_status").is_in(["empty", "placeholder"])
        ).alias("is_anonymous"),
        pl.col("content").str.len_chars().cast(pl.Int64).alias("content_chars"),
        pl.col("address").alias("_address_raw"),
        # empty 紧急程度 is 一般 (hotline_orders.md); an unknown word is kept as written for the gate to report
        pl.coalesce(urgency, pl.lit("一般")).alias("urgency"),
        urgency.is_null().alias("is_urgency_defaulted"),
        pl.col("category").str.split("/").list.get(0, null_on_oob=True).alias("category_l1"),
        pl.col("category").str.split("/").list.get(1, null_on_oob=True).alias("category_l2"),
        pl.col("reopened_flag").eq("是").fill_null(False).alias("is_reopened"),
        pl.col("due_at").is_not_null().alias("is_due_printed"),
        pl.lit("open311" if open311 else "gd").alias("source_format"),
    )
    checks = _required(f, spec)
    for c, header in (("called_at", "来电时间"), ("updated_at", "更新时间")):
        checks[f"bad_datetime:{c}"] = _unparsed(c, f"_{c}", header)
    good, q = _split_bad(f, checks)
    good = good.with_columns(pl.col(f"_{c}").alias(c) for c in times)
    good = good.with_columns(pl.coalesce("community_name", _community_named(pl.col("address"))).alias("_community"))
    good = _place(
        good, ctx, address="address", lon="lon", lat="lat", community="_community", street="street_name", at="called_at"
    )
    callers = good.filter(~pl.col("is_anonymous"))
    records = _person_records(callers, role="caller", source_key="order_id", record_at=pl.col("called_at"))
    return Normalised(conform(good, SCHEMAS["hotline_orders"]), records, q)


def normalise_hotline_steps(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    """GDLZ rows: one process step each. 处理人 is staff (masked, never a person record); 说明 is free text
    that may name people, so only its length and a 延期批准's new deadline are kept."""
    f = raw.with_columns(*_text("order_id", "step_no", "step", "step_at", "unit", "staff_name"))
    f = f.with_columns(
        fr.parse_datetime(pl.col("step_at"), excel_serial=False).alias("_step_at"),
        fr.parse_int(pl.col("step_no")).alias("_step_no"),
        fr.mask_name(pl.col("staff_name")).alias("staff_name_masked"),
        pl.col("note").str.len_chars().cast(pl.Int64).alias("note_chars"),
        fr.parse_datetime(pl.col("note").str.extract(_EXTENDED_TO, 1), excel_serial=False).alias("extended_to"),
    )
    checks = _required(f, spec)
    checks["bad_datetime:step_at"] = _unparsed("step_at", "_step_at", "环节时间")
    checks["bad_number:step_no"] = (
        pl.col("_step_no").is_null() | (pl.col("_step_no") < 1),
        "环节序号 is not a step number from 1",
    )
    good, q = _split_bad(f, checks)
    good = good.with_columns(pl.col("_step_at").alias("step_at"), pl.col("_step_no").alias("step_no"))
    return Normalised(conform(good, SCHEMAS["hotline_steps"]), pl.DataFrame(schema=PERSON_RECORDS), q)


# --- grid_visits (grid_visits.md) -------------------------------------------------------------------

#: 发现问题 as the app writes it
_YES_NO = {"是": True, "否": False, "1": True, "0": False, "y": True, "n": False, "有": True, "无": False}


def normalise_grid_visits(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    """One row per submitted visit (a visit submitted twice is two rows: the page says so); the visited
    resident is a person record (role ``visited``). The visit is placed by its address, not by the phone's
    position: a visit typed in at the desk is far from where it happened, which is what the warehouse
    measures with the coordinates kept beside."""
    text = [n for n in spec.all_names if n not in ("id_number", "name", "phone", "remark")]
    f = raw.with_columns(*_text(*text))
    f = _person(f, ctx, id_col="id_number", name_col="name", phone_col="phone")
    f = f.with_columns(
        fr.parse_datetime(pl.col("visited_at")).alias("_visited_at"),
        pl.col("found_problem").replace_strict(_YES_NO, default=None, return_dtype=pl.Boolean).alias("has_problem"),
        person_key(pl.concat_str(pl.lit("户编号:"), pl.col("community_household_no")), ctx.key).alias(
            "community_household_key"
        ),
        pl.col("lon").cast(pl.Float64, strict=False),
        pl.col("lat").cast(pl.Float64, strict=False),
        pl.col("address").alias("_address_raw"),
    )
    checks = _required(f, spec)
    checks["bad_datetime:visited_at"] = _unparsed("visited_at", "_visited_at", "走访时间")
    good, q = _split_bad(f, checks)
    good = good.with_columns(pl.col("_visited_at").alias("visited_at"))
    good = good.with_columns(_community_named(pl.col("address")).alias("_community"))
    good = _place(
        good, ctx, address="address", lon="lon", lat="lat", community="_community", street=None, at="visited_at"
    )
    records = _person_records(good, role="visited", source_key="visit_id", record_at=pl.col("visited_at"))
    return Normalised(conform(good, SCHEMAS["grid_visits"]), records, q)


def normalise_grid_workers(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    """The roster: staff, whose identifiers are personal data (masked here, never person records)."""
    f = raw.with_columns(*_text(*spec.all_names))
    ids = fr.normalise_id(pl.col("id_number")).struct.field("id_number")
    f = f.with_columns(
        fr.mask_name(fr.normalise_name(pl.col("name")).struct.field("name")).alias("worker_name_masked"),
        fr.mask_id(pl.coalesce(ids, pl.col("id_number"))).alias("worker_id_masked"),
        fr.mask_phone(fr.normalise_phones(pl.col("phone")).struct.field("phone")).alias("worker_phone_masked"),
        fr.parse_int(pl.col("pay_step")).alias("pay_step"),
        fr.parse_date(pl.col("hired_date")).alias("hired_date"),
        fr.parse_date(pl.col("left_date")).alias("left_date"),
        fr.parse_date(pl.col("moved_date")).alias("moved_date"),
        pl.col("data_date").alias("roster_month"),
    )
    good, q = _split_bad(f, _required(f, spec))
    return Normalised(conform(good, SCHEMAS["grid_workers"]), pl.DataFrame(schema=PERSON_RECORDS), q)


NORMALISERS: dict[str, Callable[[pl.DataFrame, TableSpec, Context], Normalised]] = {
    "grid_units": normalise_grid_units,
    "address_points": normalise_address_points,
    "grid_boundaries": normalise_grid_boundaries,
    "police_population": normalise_police_population,
    "police_incidents": normalise_police_incidents,
    "civil_affairs": normalise_civil_affairs,
    "petitions": normalise_petitions,
    "grid_events": normalise_grid_events,
    "hotline_orders": normalise_hotline_orders,
    "hotline_steps": normalise_hotline_steps,
    "grid_visits": normalise_grid_visits,
    "grid_workers": normalise_grid_workers,
}


# --- credit_points (credit_points.md): items, entries and redemptions of one workbook ---------------

#: the sheet each kind of record comes in, and what it stands on (its key and the time that dates it)
CREDIT_KINDS: dict[str, tuple[str, tuple[str, str]]] = {
    "积分项目": ("item", ("item_code", "valid_from_month")),
    "积分明细": ("entry", ("entry_id", "occurred_date")),
    "兑换记录": ("redemption", ("redemption_id", "redeemed_date")),
}
CREDIT_REVIEW = ("已审核", "待审核", "已驳回")
_CREDIT_LABELS = {
    "item_code": "项目编码",
    "valid_from_month": "启用月份",
    "entry_id": "流水号",
    "occurred_date": "发生日期",
    "redemption_id": "兑换单号",
    "redeemed_date": "兑换日期",
}


def parse_month(expr: pl.Expr) -> pl.Expr:
    """``yyyymm`` (also ``yyyy-mm``, ``yyyy/m``, ``yyyy年m月``, an Excel number ``202411.0``) -> the month's
    first day; anything else (a month 13, free text) -> null."""
    s = fr.clean_text(expr, fold_punctuation=True).str.replace(r"^(\d{6})\.0+$", "${1}")
    parts = s.str.extract_groups(r"^(\d{4})(?:[-/.年]?)(\d{1,2})月?$")
    year = parts.struct.field("1").cast(pl.Int32, strict=False)
    month = parts.struct.field("2").cast(pl.Int32, strict=False)
    ok = month.is_between(1, 12) & year.is_between(1900, 2200)
    return pl.when(ok).then(pl.date(year, month, 1))


def _credit_person(frame: pl.DataFrame, ctx: Context, who: str) -> pl.DataFrame:
    """``who``'s (head or member) person fields, prefixed, and the underscore fields ``_person_records`` reads."""
    p = _person(frame, ctx, id_col=f"{who}_id_number", name_col=f"{who}_name", phone_col=None)
    return p.with_columns(
        pl.col("person_key").alias(f"{who}_person_key"),
        pl.col("id_status").alias(f"{who}_id_status"),
        pl.col("id_masked").alias(f"{who}_id_masked"),
        pl.col("name_masked").alias(f"{who}_name_masked"),
    )


def normalise_credit_points(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    """One row per item version, entry or redemption (``record_kind`` from the sheet). A row stands on its
    own sheet's key and date (项目编码 + 启用月份, 流水号 + 发生日期, 兑换单号 + 兑换日期); everything else is
    kept as it came, so the warehouse can say what is wrong with it (an unknown 审核状态 stays text, an
    unreadable 分值 is null). The household head of an entry or redemption is a person record (role
    ``household_head``, member_no 1), the entry's member another (role ``credit_member``, member_no 2);
    审核人 is staff: masked, never a person record."""
    personal = ("head_id_number", "head_name", "member_id_number", "member_name", "reviewer_name", "reason")
    text = [n for n in spec.all_names if n not in personal]
    f = raw.with_columns(*_text(*text))
    kind = pl.col("sheet").replace_strict({k: v[0] for k, v in CREDIT_KINDS.items()}, default=None)
    f = f.with_columns(
        kind.alias("record_kind"),
        fr.parse_int(pl.col("points")).alias("_points"),
        fr.parse_int(pl.col("monthly_limit")).alias("monthly_limit"),
        fr.parse_int(pl.col("points_used")).alias("_points_used"),
        parse_month(pl.col("valid_from_month")).alias("_valid_from_month"),
        parse_month(pl.col("valid_to_month")).alias("valid_to_month"),
        fr.parse_date(pl.col("occurred_date")).alias("_occurred_date"),
        fr.parse_date(pl.col("redeemed_date")).alias("_redeemed_date"),
        fr.parse_datetime(pl.col("reviewed_at")).alias("_reviewed_at"),
        person_key(pl.concat_str(pl.lit("户编号:"), pl.col("household_no")), ctx.key).alias("community_household_key"),
        pl.col("household_no").str.extract(r"^H(\d{12})\d{4}$", 1).alias("household_community_code"),
        fr.clean_text(pl.col("reason")).str.len_chars().cast(pl.Int64).alias("reason_chars"),
        pl.col("proof")
        .replace_strict({"有": True, "无": False}, default=None, return_dtype=pl.Boolean)
        .alias("has_proof"),
        fr.mask_name(fr.normalise_name(pl.col("reviewer_name")).struct.field("name")).alias("reviewer_name_masked"),
    )
    # each sheet asks for its own key and date; a row of another sheet has them empty by nature
    checks: dict[str, tuple[pl.Expr, str]] = {}
    for sheet, (_kind, names) in CREDIT_KINDS.items():
        on = pl.col("sheet") == sheet
        for n in names:
            checks[f"missing_required_field:{n}"] = (
                on & pl.col(n).is_null(),
                f"required field {_CREDIT_LABELS[n]} ({n}) is empty",
            )
    checks["bad_month:valid_from_month"] = (
        pl.col("valid_from_month").is_not_null() & pl.col("_valid_from_month").is_null(),
        "启用月份 is not a month (yyyymm)",
    )
    checks["bad_date:occurred_date"] = (
        pl.col("occurred_date").is_not_null() & pl.col("_occurred_date").is_null(),
        "发生日期 is not a date in any known form",
    )
    checks["bad_date:redeemed_date"] = (
        pl.col("redeemed_date").is_not_null() & pl.col("_redeemed_date").is_null(),
        "兑换日期 is not a date in any known form",
    )
    good, q = _split_bad(f, checks)
    good = good.with_columns(
        pl.col("_points").alias("points"),
        pl.col("_points_used").alias("points_used"),
        pl.col("_valid_from_month").alias("valid_from_month"),
        pl.col("_occurred_date").alias("occurred_date"),
        pl.col("_redeemed_date").alias("redeemed_date"),
        pl.col("_reviewed_at").alias("reviewed_at"),
    )
    member = _credit_person(good, ctx, "member")
    member_named = member.filter(
        (pl.col("record_kind") == "entry")
        & (pl.col("_id_raw").is_not_null() | pl.col("_name_status").is_in(["ok", "odd"]))
    )
    member_at = _as_ts(pl.coalesce("occurred_date", "redeemed_date"))
    members = _person_records(member_named, role="credit_member", source_key="entry_id", record_at=member_at)
    members = members.with_columns(pl.lit(2, pl.Int32).alias("member_no"))
    good = good.with_columns(member.select(pl.col("^member_.*$")).drop("member_name", "member_id_number"))
    head = _credit_person(good, ctx, "head")
    head_named = head.filter(
        pl.col("record_kind").is_in(["entry", "redemption"])
        & (pl.col("_id_raw").is_not_null() | pl.col("_name_status").is_in(["ok", "odd"]))
    )
    heads = _person_records(
        head_named.with_columns(pl.coalesce("entry_id", "redemption_id").alias("_source")),
        role="household_head",
        source_key="_source",
        record_at=member_at,
    )
    records = pl.concat([heads, members]).sort("sheet", "record_no", "member_no", maintain_order=True)
    return Normalised(conform(head, SCHEMAS["credit_points"]), records, q)


NORMALISERS["credit_points"] = normalise_credit_points


# --- service_lists (service_lists.md) -------------------------------------------------------------------

_SERVICE_KIND = {"需求清单": "need", "资源清单": "resource", "项目清单": "project"}
_PERSON_RESOURCES = ("在职党员", "志愿者")


def normalise_service_lists(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    """三张清单: every version of a need, resource or project as delivered (latest wins in dbt). Who counts as a
    person (the page): a need's 提出人 (role ``service_requester``) and a resource whose 资源类型 is 在职党员 or
    志愿者 (role ``service_provider``); a unit keeps its name and checked 统一社会信用代码 instead."""
    from ingestion.feeds import SERVICE_KEYS

    personal = ("id_number", "name", "phone", "resource_name", "description")
    f = raw.with_columns(*_text(*[n for n in spec.all_names if n not in personal]))
    f = f.with_columns(fr.clean_text(pl.col("resource_name")).alias("resource_name"))
    need, resource = pl.col("sheet") == "需求清单", pl.col("sheet") == "资源清单"
    is_person_resource = resource & pl.col("resource_type").is_in(_PERSON_RESOURCES)
    who = need | is_person_resource
    f = f.with_columns(
        pl.when(need).then(pl.col("name")).when(is_person_resource).then(pl.col("resource_name")).alias("_p_name"),
        pl.when(who).then(pl.col("id_number")).alias("_p_id"),
        pl.when(who).then(pl.col("phone")).alias("_p_phone"),
        pl.when(resource & ~is_person_resource).then(fr.clean_text(pl.col("id_number"))).alias("unit_credit_code"),
        pl.when(resource & ~is_person_resource).then(pl.col("resource_name")).alias("unit_name"),
        pl.when(resource).then(is_person_resource).alias("is_person_resource"),
    )
    f = _person(f, ctx, id_col="_p_id", name_col="_p_name", phone_col="_p_phone")
    key = pl.coalesce(
        *[pl.when(pl.col("sheet") == sheet).then(pl.col(col)) for sheet, col in SERVICE_KEYS.items()]
    ).alias("record_id")
    f = f.with_columns(
        key,
        pl.col("sheet").replace_strict(_SERVICE_KIND, default=None).alias("list_kind"),
        fr.parse_datetime(pl.col("status_at")).alias("_status_at"),
        fr.parse_datetime(pl.col("posted_at")).alias("posted_at"),
        fr.parse_datetime(pl.col("dispatched_at")).alias("dispatched_at"),
        fr.parse_datetime(pl.col("accepted_at")).alias("accepted_at"),
        fr.parse_datetime(pl.col("closed_at")).alias("closed_at"),
        pl.col("wish_flag").replace_strict(_YES_NO, default=None, return_dtype=pl.Boolean).alias("is_wish"),
        pl.col("description").str.len_chars().cast(pl.Int64).alias("description_chars"),
        pl.when(resource & ~is_person_resource)
        .then(fr.credit_code_status(pl.col("unit_credit_code")))
        .alias("credit_code_status"),
        fr.parse_date(pl.col("registered_date")).alias("registered_date"),
        fr.parse_date(pl.col("started_date")).alias("started_date"),
        fr.parse_date(pl.col("planned_date")).alias("planned_date"),
        fr.parse_date(pl.col("completed_date")).alias("completed_date"),
        fr.parse_int(pl.col("beneficiaries")).alias("beneficiaries"),
        fr.parse_money(pl.col("funds")).cast(pl.Float64).alias("funds"),
        pl.col("address").alias("_address_raw"),
    )
    headers = {"need_id": "需求编号", "resource_id": "资源编号", "project_id": "项目编号"}
    checks = {
        f"missing_required_field:{col}": (
            (pl.col("sheet") == sheet) & pl.col(col).is_null(),
            f"required field {headers[col]} ({col}) is empty",
        )
        for sheet, col in SERVICE_KEYS.items()
    }
    checks["missing_required_field:status_at"] = (
        pl.col("status_at").is_null(),
        "required field 状态时间 (status_at) is empty",
    )
    checks["bad_datetime:status_at"] = _unparsed("status_at", "_status_at", "状态时间")
    good, q = _split_bad(f, checks)
    good = good.with_columns(pl.col("_status_at").alias("status_at"))
    # a need is placed by its resident's address; resources and projects are the community's, by their key
    good = good.with_columns(_community_named(pl.col("address")).alias("_community"))
    good = _place(good, ctx, address="address", lon=None, lat=None, community="_community", street=None, at="status_at")
    requesters = good.filter(pl.col("list_kind") == "need")
    providers = good.filter(pl.col("is_person_resource").fill_null(False))
    records = pl.concat(
        [
            _person_records(requesters, role="service_requester", source_key="need_id", record_at=pl.col("status_at")),
            _person_records(
                providers, role="service_provider", source_key="resource_id", record_at=pl.col("status_at")
            ),
        ]
    )
    return Normalised(conform(good, SCHEMAS["service_lists"]), records, q)


NORMALISERS["service_lists"] = normalise_service_lists


@dataclass(frozen=True)
class _Incremental:
    """How a snapshot table re-derives, for a repeated row, what depends on more than its cells."""

    #: raw columns the placement step reads, cleaned as the normaliser cleans them; placement must
    #: read only these, the snapshot date and the index's tables (not its polygons or coordinates)
    place_inputs: tuple[str, ...]
    place: Callable[[pl.DataFrame, Context], pl.DataFrame]
    record_at: Callable[[Context], pl.Expr]


#: Full snapshots normalised incrementally (see the module docstring).
INCREMENTAL: dict[str, _Incremental] = {
    "police_population": _Incremental(("address",), _place_residents, _resident_record_at),
}

_STAMP = (*LOCATOR, "data_date")
_PLACED = ("address_canonical", "address_code", "grid_code", "community_code", "street_code", "placement_method")
#: ID statuses that can change with the calendar (a birth date "in the future" stops being one): never reused
_DATED_ID_STATUSES = ("bad_date", "bad_check")


def placement_fingerprint(ctx: Context) -> str:
    """A digest of what address placement reads besides the row and its date: the index's tables and prefixes."""
    index = ctx.grid_index
    if index is None:
        return "no grid index"
    digest = hashlib.sha256(pl.__version__.encode())
    for frame in (index.grids, index.points, index.point_grids):
        digest.update(repr(frame.schema).encode())
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    digest.update(repr((index.prefixes, index.roads, index.max_distance_m)).encode())
    return digest.hexdigest()


def _same_grids_on(ctx: Context, before: date) -> bool:
    """Placement is the same on both dates: no grid starts or ends, no address point is reassigned and no
    boundary is redrawn between them (``valid_from <= at < valid_to``)."""
    lo, hi = sorted((before, ctx.data_date))
    if ctx.grid_index is None or lo == hi:
        return True
    grids = ctx.grid_index.grids
    bounds = pl.concat([grids["valid_from"].cast(pl.Date), grids["valid_to"].cast(pl.Date)]).drop_nulls()
    change_dates = getattr(ctx.grid_index, "change_dates", None)  # a GridIndex: reassignments and boundaries too
    if change_dates is not None:
        bounds = pl.concat([bounds, change_dates()])
    return not ((bounds > lo) & (bounds <= hi)).any()


def normalise(raw: pl.DataFrame, spec: TableSpec, ctx: Context, *, previous: Previous | None = None) -> Normalised:
    """Normalise one file's raw frame (every cell text, with the locator).

    ``previous``: an earlier snapshot of a table in :data:`INCREMENTAL`; rows
    it already normalised are reused (same output as without it).
    """
    raw = raw.with_columns(pl.lit(ctx.data_date).cast(pl.Date).alias("data_date"))
    for name in spec.all_names:
        if name not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.String).alias(name))
    if previous is not None and spec.table in INCREMENTAL:
        return _normalise_changed(raw, spec, ctx, previous)
    return NORMALISERS[spec.table](raw, spec, ctx)


def _normalise_changed(raw: pl.DataFrame, spec: TableSpec, ctx: Context, previous: Previous) -> Normalised:
    """Field rules for the rows the previous snapshot did not hold; its values for the rows it did."""
    how = INCREMENTAL[spec.table]
    before = previous.raw
    # Compare what the normaliser reads: the contract's columns. A column neither contract knows (an
    # unannounced addition) changes no normalised value; a contract column one snapshot lacks reads as empty
    # there, so a row is the same when its value is empty in the other (a week without 户号 repeats the
    # rows that had none, and only those).
    known = set(spec.all_names)
    cells = sorted(c for c in {*raw.columns, *before.columns} if c in known and c not in _STAMP)
    if any(c in raw.columns and c in before.columns and before.schema[c] != raw.schema[c] for c in cells):
        return NORMALISERS[spec.table](raw, spec, ctx)  # the types changed: nothing to compare against

    # and an empty cell is empty whether the department wrote "" or nothing (one export quotes every empty field)
    def padded(frame: pl.DataFrame, other: pl.DataFrame) -> pl.DataFrame:
        frame = frame.with_columns(pl.lit(None, other.schema[c]).alias(c) for c in cells if c not in frame.columns)
        return frame.with_columns(
            pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in cells if frame.schema[c] == pl.String
        )

    raw_cells, before_cells = padded(raw, before), padded(before, raw)
    # previous rows that were normalised (not quarantined), once per distinct content (by a hash of the cells)
    reusable = previous.frame.filter(~pl.col("id_status").is_in(_DATED_ID_STATUSES)).select(
        pl.col("record_no").alias("_prev_no")
    )
    row_hash = pl.struct(cells).hash(seed=0).alias("_hash")
    seen = (
        before_cells.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("_prev_at"), pl.col("record_no").alias("_prev_no"), row_hash
        )
        .join(reusable, on="_prev_no", how="semi")
        .unique(subset="_hash", keep="first", maintain_order=True)
    )
    match = raw_cells.select(row_hash).join(seen, on="_hash", how="left", maintain_order="left")
    if match.height != raw.height:
        raise AssertionError("joining unique previous hashes changed the row count")
    # a hash match is a candidate: the cells themselves must be equal (a collision is normalised afresh)
    hit = match["_prev_at"].is_not_null()
    at = match["_prev_at"].filter(hit)
    equal = pl.Series([True] * at.len(), dtype=pl.Boolean)
    for c in cells:
        equal &= raw_cells[c].filter(hit).eq_missing(before_cells[c].gather(at))
    confirmed = pl.Series("_prev_no", [None] * raw.height, dtype=pl.Int64).scatter(
        hit.arg_true().filter(equal), match["_prev_no"].filter(hit).filter(equal)
    )
    raw = raw.with_columns(confirmed)
    changed = raw.filter(pl.col("_prev_no").is_null()).drop("_prev_no")
    repeated = raw.filter(pl.col("_prev_no").is_not_null()).select(*_STAMP, "_prev_no", *_text(*how.place_inputs))
    if repeated.height == 0:
        return NORMALISERS[spec.table](changed, spec, ctx)

    schema = SCHEMAS[spec.table]
    prev_date = previous.frame["data_date"].drop_nulls().unique()
    placed_alike = (
        previous.placement is not None
        and previous.placement == placement_fingerprint(ctx)
        and prev_date.len() == 1
        and _same_grids_on(ctx, prev_date[0])
    )
    values = previous.frame.select(
        pl.col("record_no").alias("_prev_no"), pl.exclude(*_STAMP, *(() if placed_alike else _PLACED))
    )
    reused = repeated.join(values, on="_prev_no", how="left", maintain_order="left")
    reused = conform(reused if placed_alike else how.place(reused, ctx), schema)
    people = previous.person_records.select(
        pl.col("record_no").alias("_prev_no"), pl.exclude(*_STAMP, "record_at", *_PLACED)
    )
    people = (
        repeated.select(*_STAMP, "_prev_no")
        .join(people, on="_prev_no", how="inner", maintain_order="left")
        .join(reused.select("record_no", *_PLACED), on="record_no", how="left", maintain_order="left")
        .with_columns(how.record_at(ctx).alias("record_at"))
    )
    people = conform(people, PERSON_RECORDS)

    if changed.height:
        fresh = NORMALISERS[spec.table](changed, spec, ctx)
        frame = pl.concat([fresh.frame, reused])
        records = pl.concat([fresh.person_records, people])
        quarantine = fresh.quarantine
    else:
        frame, records, quarantine = reused, people, _empty_quarantine()
    # the order a full pass gives: the file's own record order
    order = ["sheet", "record_no", "member_no"]
    return Normalised(
        frame.sort(order, maintain_order=True), records.sort(order, maintain_order=True), quarantine, repeated.height
    )


def skipped_json(skipped: dict[str, int]) -> str:
    return json.dumps(dict(sorted(skipped.items())), ensure_ascii=False)
