"""Features the linkage compares: per-record, vectorised, computed once per unique value."""

from __future__ import annotations

from functools import lru_cache

import polars as pl

from ingestion import fields as fr

__all__ = [
    "HOME_ROLES",
    "LOCATOR",
    "VALID_ID_STATUSES",
    "clean_id_raw",
    "name_pinyin",
    "phone_keys",
    "prepare",
    "record_locator",
]

LOCATOR = ["feed", "file", "file_md5", "sheet", "record_no", "member_no"]
VALID_ID_STATUSES = fr.USABLE_ID_STATUSES


def record_locator() -> pl.Expr:
    """The same text as dbt's ``record_locator()`` macro: feed|file_md5|sheet|record_no|member_no."""
    return pl.concat_str(
        pl.col("feed"),
        pl.col("file_md5"),
        pl.col("sheet").fill_null(""),
        pl.col("record_no").cast(pl.String),
        pl.col("member_no").fill_null(1).cast(pl.String),
        separator="|",
    )


@lru_cache(maxsize=1)
def _pinyin():
    from pypinyin import Style, lazy_pinyin

    return lambda s: "".join(p for p in lazy_pinyin(s, style=Style.NORMAL, errors="ignore") if p.isascii()).lower()


def _pinyin_batch(s: pl.Series, known: dict[str, str | None] | None = None) -> pl.Series:
    to_py = _pinyin()
    uniques = s.drop_nulls().unique().to_list()
    if known is None:
        known = {}
    # pypinyin is most of the cost of preparing profiles: a name seen on an earlier day is not converted again
    for v in uniques:
        if v not in known:
            known[v] = to_py(v) or None
    lookup = pl.DataFrame({"v": uniques, "p": [known[v] for v in uniques]}, schema={"v": pl.String, "p": pl.String})
    return s.to_frame("v").join(lookup, on="v", how="left", maintain_order="left")["p"]


def name_pinyin(expr: pl.Expr, known: dict[str, str | None] | None = None) -> pl.Expr:
    """Tone-less pinyin of a normalised name, letters only (张伟 and 张玮 → ``zhangwei``).

    Names are normalised first (``fields.normalise_name``: middle dots unified,
    traditional → simplified), so 陳/陈 and 买买提•艾力/买买提·艾力 agree too. ``known``: name -> pinyin
    already converted (a memo the caller keeps between runs); names converted here are added to it.
    """
    return expr.map_batches(lambda s: _pinyin_batch(s, known), return_dtype=pl.String)


def clean_id_raw(expr: pl.Expr) -> pl.Expr:
    """Raw ID text folded (full-width, spaces, lower-case x) for candidate repair; not validated."""
    return fr.clean_text(expr, fold_punctuation=True).str.replace_all(r"\s", "").str.to_uppercase()


#: Roles whose address is where the person lives; a caller's or an involved person's address is the event's.
HOME_ROLES = ("resident", "beneficiary", "petitioner")


def _local_area_code(phones: pl.Series) -> str | None:
    """The area code most landlines in the records carry: the district's own, estimated from the data."""
    areas = phones.explode().drop_nulls()
    areas = areas.filter(areas.str.contains("-")).str.extract(r"^(\d+)-", 1)
    if areas.is_empty():
        return None
    return areas.value_counts(sort=True).row(0)[0]


def phone_keys(phones: pl.Expr, area: str | None) -> pl.Expr:
    """Every number of a field as a comparison key, sorted and distinct: mobiles as they are, landlines as
    ``area-local``, and a bare local number (``5231234``) under the district's own area code, so the caller
    who gave ``5231234`` and the register's ``0856-5231234`` agree."""
    e = pl.element()
    local = e.str.contains(r"^[1-9]\d{6,7}$")
    key = pl.when(local).then(pl.lit(f"{area}-") + e).otherwise(e) if area else e
    keys = phones.list.eval(key).list.unique().list.sort()
    return pl.when(keys.list.len() > 0).then(keys)


def prepare(records: pl.DataFrame, *, known_pinyin: dict[str, str | None] | None = None) -> pl.DataFrame:
    """Add ``rid`` (row order by locator), ``record_locator`` (unless present) and the compared features.
    ``known_pinyin``: the memo ``name_pinyin`` reads and extends."""
    if "phones" not in records.columns:  # records written before every number of a field was kept
        records = records.with_columns(phones=pl.lit(None, pl.List(pl.String)))
    # the field's first number is all older records kept: it stands for the list there
    records = records.with_columns(
        phones=pl.when(pl.col("phones").list.len() > 0)
        .then(pl.col("phones"))
        .when(pl.col("phone").is_not_null())
        .then(pl.concat_list(pl.col("phone")))
    )
    area = _local_area_code(records["phones"])
    home = pl.col("role").is_in(HOME_ROLES)
    raw18 = clean_id_raw(pl.col("id_raw"))
    # The birth date inside an ID that failed some other check (a typo in the
    # check character, Excel's trailing 000) is still what the person wrote:
    # evidence for comparison, never a key.
    well_formed = raw18.str.contains(r"^\d{17}[\dX]$")
    # An ID that failed a later check (a typo in any digit, Excel's lost last
    # three digits — Excel keeps 15 significant digits) still carries what the
    # person wrote in its first 15 characters: region, birth date, first
    # sequence digit. Evidence for comparison, never a key.
    # An ID read back from an Excel number cell is the double nearest its first 15 digits x 1000
    # (520602198706050000 comes back as 520602198706049984): rounding to thousands gives those digits back.
    excel = (pl.col("id_status") == "excel_damage") & raw18.str.contains(r"^\d{18}$")
    from_excel = ((raw18.cast(pl.Int64, strict=False) + 500) // 1000).cast(pl.String).str.zfill(15) + "000"
    raw18 = pl.when(excel).then(from_excel).otherwise(raw18)
    head = pl.when(well_formed & pl.col("id_status").is_in(["bad_check", "excel_damage", *VALID_ID_STATUSES])).then(
        raw18.str.slice(0, 15)
    )
    partial_birth = pl.when(well_formed).then(raw18.str.slice(6, 8).str.to_date("%Y%m%d", strict=False))
    if "record_locator" not in records.columns:  # profiles (core.collapse) carry their own
        records = records.with_columns(record_locator=record_locator())
    out = (
        records.sort("record_locator")
        .with_row_index("rid")
        .with_columns(
            id_key=pl.when(pl.col("id_status").is_in(VALID_ID_STATUSES)).then(pl.col("id_number")),
            id_clean=raw18,
            id_head=pl.when(pl.col("id_status").is_in(VALID_ID_STATUSES))
            .then(pl.col("id_number").str.slice(0, 15))
            .otherwise(head),
            name_n=pl.when(pl.col("name_status").is_in(["ok", "odd"])).then(pl.col("name")),
            # Excel keeps the first 15 digits intact, and workbook date cells of the same rows have been seen a
            # day off (reported upstream): the ID's own digits win there; elsewhere the stated date does.
            birth=pl.when(pl.col("id_status") == "excel_damage")
            .then(pl.coalesce(partial_birth, pl.col("birth_date")))
            .otherwise(pl.coalesce(pl.col("birth_date"), partial_birth)),
            phone_n=pl.when(pl.col("phone_kind").is_in(["mobile", "landline", "local"])).then(pl.col("phone")),
            phone_keys=phone_keys(pl.col("phones"), area),
            # the household's address to the room: only where the record says where the person lives
            home_address=pl.when(home & pl.col("address_code").is_not_null()).then(pl.col("address_canonical")),
            # an involved person's place is where the grid event happened, unrelated to them
            place_address=pl.when(pl.col("role") != "involved").then(pl.col("address_code")),
            place_grid=pl.when(pl.col("role") != "involved").then(pl.col("grid_code")),
            place_community=pl.when(pl.col("role") != "involved").then(pl.col("community_code")),
        )
        .with_columns(name_py=name_pinyin(pl.col("name_n"), known_pinyin))
    )
    return out
