"""Per-feed normalisers: raw frame (every cell text) -> typed frame + person records + quarantine.

Each normaliser is a pure function of the raw frame and a :class:`Context`;
all file I/O is in the readers and the pipeline. The field rules come from
``ingestion.fields`` and address placement from ``ingestion.placement``, so
each rule is written once for every feed.

A row is quarantined only when it cannot stand as a record: a required field
is empty, or the timestamp that dates the record cannot be read. Everything
else (an invalid ID, an unplaceable address) is kept and flagged, because a
record with a bad ID is still an incident that happened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Callable

import polars as pl

from ingestion import fields as fr
from ingestion.feeds import LOCATOR, PROGRAMMES, TableSpec
from ingestion.pseudonym import person_key
from ingestion.schemas import PERSON_RECORDS, QUARANTINE, SCHEMAS, TZ, conform

__all__ = ["Context", "Normalised", "normalise", "NORMALISERS"]

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


def _required(frame: pl.DataFrame, spec: TableSpec, names: list[str], sheet: str | None = None) -> dict:
    headers = {c.name: c.header for c in spec.columns_for(sheet)} if spec.sheets else {c.name: c.header for c in spec.columns}
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
    out = out.rename({c: c.replace("_id_id_", "_id_").replace("_nm_name", "_name").replace("_ph_phone", "_phone") for c in out.columns if c.startswith(("_id_", "_nm_", "_ph_"))})
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


def _person_records(frame: pl.DataFrame, *, role: str, source_key: str, record_at: pl.Expr, doc_type: pl.Expr | None = None) -> pl.DataFrame:
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
        "address_raw": pl.col("_address_raw") if "_address_raw" in frame.columns else pl.lit(None, pl.String),
    }
    return conform(frame.with_columns(**cols), PERSON_RECORDS)


def _place(frame: pl.DataFrame, ctx: Context, **kw) -> pl.DataFrame:
    if ctx.grid_index is None:
        return frame.with_columns(placement_method=pl.lit("unplaced"))
    placed = ctx.grid_index.place(frame, **kw)
    if "lon_fixed" in placed.columns:
        placed = placed.drop([c for c in ("lon", "lat") if c in placed.columns]).rename({"lon_fixed": "lon", "lat_fixed": "lat"})
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
        fr.mask_phone(fr.normalise_phones(pl.col("grid_worker_phone")).struct.field("phone")).alias("grid_worker_phone_masked"),
    )
    checks = _required(f, spec, ["grid_code", "grid_name", "community_code", "street_code", "county_code", "valid_from"])
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
    good, q = _split_bad(f, _required(f, spec, ["address_code", "standard_address", "grid_code"]))
    return Normalised(conform(good, SCHEMAS["address_points"]), pl.DataFrame(schema=PERSON_RECORDS), q)


def normalise_grid_boundaries(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    f = raw.with_columns(*_text("grid_code"))
    good, q = _split_bad(f, _required(f, spec, ["grid_code", "geometry"]))
    return Normalised(conform(good, SCHEMAS["grid_boundaries"]), pl.DataFrame(schema=PERSON_RECORDS), q)


# --- person and event feeds ------------------------------------------------------------------


def normalise_police_population(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    text = [n for n in spec.all_names if n not in ("id_number", "name", "phone")]
    f = raw.with_columns(*_text(*text))
    f = _person(f, ctx, id_col="id_number", name_col="name", phone_col="phone", sex_col="sex", birth_col="birth_date", doc_type=pl.col("doc_type"))
    f = f.with_columns(
        fr.parse_date(pl.col("status_changed_date")).alias("status_changed_date"),
        fr.parse_date(pl.col("registered_date")).alias("registered_date"),
        pl.col("address").alias("_address_raw"),
    )
    checks = _required(f, spec, ["source_person_id", "doc_type", "person_status"])
    good, q = _split_bad(f, checks)
    good = _place(good, ctx, address="address", lon=None, lat=None, community=None, street=None, at="data_date")
    records = _person_records(good, role="resident", source_key="source_person_id", record_at=_as_ts(_at_date(ctx.data_date)), doc_type=pl.col("doc_type"))
    return Normalised(conform(good, SCHEMAS["police_population"]), records, q)


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
    checks = _required(f, spec, ["incident_id", "received_at", "category", "outcome", "feedback_at"])
    checks["bad_datetime:received_at"] = _unparsed("received_at", "_received_at", "接警时间")
    checks["bad_datetime:feedback_at"] = _unparsed("feedback_at", "_feedback_at", "反馈时间")
    good, q = _split_bad(f, checks)
    good = good.with_columns(pl.col("_received_at").alias("received_at"), pl.col("_feedback_at").alias("feedback_at"))
    good = good.with_columns(_community_named(pl.col("address")).alias("_community"))
    good = _place(good, ctx, address="address", lon="lon", lat="lat", community="_community", street=None, at="received_at")
    callers = good.filter(pl.col("_id_raw").is_not_null() | (pl.col("_name_status").is_in(["ok", "odd"])))
    records = _person_records(callers, role="caller", source_key="incident_id", record_at=pl.col("received_at"))
    return Normalised(conform(good, SCHEMAS["police_incidents"]), records, q)


def normalise_civil_affairs(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    text = [n for n in spec.all_names if n not in ("id_number", "name", "phone") and n in raw.columns]
    f = raw.with_columns(*_text(*text))
    if "programme" not in f.columns:
        f = f.with_columns(pl.col("sheet").replace_strict(PROGRAMMES, default=None).alias("programme"))
    numeric = pl.col("_numeric_cells").fill_null("").str.contains(r"(^|,)id_number(,|$)") if "_numeric_cells" in f.columns else None
    # 残疾证号 = ID + category + grade: it can stand in for a damaged ID on the same row when they agree
    f = _person(f, ctx, id_col="id_number", name_col="name", phone_col="phone", sex_col="sex", birth_col="birth_date", numeric_cell=numeric)
    if "disability_cert_no" in f.columns:
        cert = fr.normalise_id(fr.disability_cert_id(pl.col("disability_cert_no")).struct.field("id_number"))
        f = f.with_columns(cert.alias("_cert")).with_columns(
            pl.when(pl.col("_id_status").is_in(["excel_damage", "bad_check", "wrong_length"]) & pl.col("_cert").struct.field("id_status").is_in(_VALID_IDS)
                    & (pl.col("_id_raw").fill_null("").str.slice(0, 12) == pl.col("_cert").struct.field("id_number").str.slice(0, 12)))
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
        fr.parse_int(pl.col("household_size")).alias("household_size") if "household_size" in f.columns else pl.lit(None, pl.Int64).alias("household_size"),
        fr.parse_money(pl.col("monthly_amount")).cast(pl.Float64).alias("monthly_amount") if "monthly_amount" in f.columns else pl.lit(None, pl.Float64).alias("monthly_amount"),
        fr.parse_date(pl.col("start_date")).alias("start_date") if "start_date" in f.columns else pl.lit(None, pl.Date).alias("start_date"),
        fr.parse_date(pl.col("last_visit_date")).alias("last_visit_date") if "last_visit_date" in f.columns else pl.lit(None, pl.Date).alias("last_visit_date"),
        pl.col("address").alias("_address_raw") if "address" in f.columns else pl.lit(None, pl.String).alias("_address_raw"),
    )
    checks = {
        "missing_required_field:name": (pl.col("_name_raw").is_null(), "required field 姓名 (name) is empty"),
        "missing_required_field:id_number": (pl.col("_id_raw").is_null(), "required field 身份证号码 (id_number) is empty"),
    }
    good, q = _split_bad(f, checks)
    good = _place(good, ctx, address="address" if "address" in good.columns else None, lon=None, lat=None,
                  community="community_name" if "community_name" in good.columns else None,
                  street="street_name" if "street_name" in good.columns else None, at="data_date")
    records = _person_records(good, role="beneficiary", source_key="programme", record_at=_as_ts(_at_date(ctx.data_date)))
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
    text = [n for n in spec.all_names if n not in ("id_number", "name", "phone", "history", "address") and n in raw.columns]
    f = raw.with_columns(*_text(*text))
    f = f.with_columns(fr.parse_datetime(pl.col("registered_at")).alias("_registered_at"))
    checks = _required(f, spec, ["case_id", "registered_at", "status"])
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
    listed = good.group_by("record_no").agg(pl.col("name").is_not_null().or_(pl.col("id_number").is_not_null()).sum().alias("petitioners_listed"))
    cases = good.filter(pl.col("member_no") == 1).join(listed, on="record_no", how="left")
    cases = cases.with_columns(
        (pl.max_horizontal(pl.col("petitioner_count").fill_null(0), pl.col("petitioners_listed").cast(pl.Int64)) >= 5).alias("is_collective"),
        pl.col("problem_address").alias("_addr"),
    )
    cases = _place(cases, ctx, address="problem_address", lon=None, lat=None, community="problem_community", street="problem_street", at="registered_at")
    people = good.filter(pl.col("name").is_not_null() | pl.col("id_number").is_not_null())
    people = _person(people.with_columns(pl.col("address").alias("_address_raw")), ctx, id_col="id_number", name_col="name", phone_col="phone")
    people = _place(people, ctx, address="address", lon=None, lat=None, community=None, street=None, at="registered_at")
    records = _person_records(people, role="petitioner", source_key="case_id", record_at=pl.col("registered_at"))
    return Normalised(conform(cases, SCHEMAS["petitions"]), records, q)


def _involved(frame: pl.DataFrame) -> pl.DataFrame:
    """涉及人员 ``姓名:身份证号;...`` -> one row per named person with member_no."""
    pairs = (
        frame.select("feed", "file", "file_md5", "sheet", "record_no", "data_date", "event_id", "_reported_at", "people_involved")
        .with_columns(pl.col("people_involved").str.replace_all("；", ";").str.split(";").alias("_pair"))
        .explode("_pair")
        .with_columns(pl.col("_pair").str.strip_chars())
        .filter(pl.col("_pair").is_not_null() & (pl.col("_pair") != ""))
        .with_columns((pl.int_range(pl.len()).over("record_no") + 1).cast(pl.Int32).alias("member_no"))
        .with_columns(
            pl.col("_pair").str.replace("：", ":").str.split_exact(":", 1).struct.rename_fields(["_n", "_i"]).alias("_s")
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
    checks = _required(f, spec, ["event_id", "reported_at", "grid_code_reported", "category", "status", "status_at"])
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
    good = _place(good, ctx, address="address", lon="lon", lat="lat", community="_community", street=None, at="reported_at", grid_hint="grid_code_reported")
    people = _person(people, ctx, id_col="_i", name_col="_n", phone_col=None)
    records = _person_records(people, role="involved", source_key="event_id", record_at=pl.col("_reported_at"))
    return Normalised(conform(good, SCHEMAS["grid_events"]), records, q)


NORMALISERS: dict[str, Callable[[pl.DataFrame, TableSpec, Context], Normalised]] = {
    "grid_units": normalise_grid_units,
    "address_points": normalise_address_points,
    "grid_boundaries": normalise_grid_boundaries,
    "police_population": normalise_police_population,
    "police_incidents": normalise_police_incidents,
    "civil_affairs": normalise_civil_affairs,
    "petitions": normalise_petitions,
    "grid_events": normalise_grid_events,
}


def normalise(raw: pl.DataFrame, spec: TableSpec, ctx: Context) -> Normalised:
    """Normalise one file's raw frame (every cell text, with the locator)."""
    raw = raw.with_columns(pl.lit(ctx.data_date).cast(pl.Date).alias("data_date"))
    for name in spec.all_names:
        if name not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.String).alias(name))
    out = NORMALISERS[spec.table](raw, spec, ctx)
    return out


def skipped_json(skipped: dict[str, int]) -> str:
    return json.dumps(dict(sorted(skipped.items())), ensure_ascii=False)
