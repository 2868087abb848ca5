"""Field rules shared by every feed, as vectorised Polars expressions.

Every public function takes a Polars expression (a column of raw text; other
dtypes are cast to ``String`` first) and returns an expression, so a feed's
normaliser composes them inside one ``select``/``with_columns`` and Polars runs
them in parallel over millions of rows. Nothing here calls Python per row: the
only Python callback (traditional → simplified names via OpenCC) runs once per
*unique* value of a batch.

The raw value is never overwritten here; callers keep the original column
beside the normalised one.

Citizen ID (``normalise_id``) returns a Struct
``{id_number: str, id_status: str, birth_date: date, sex: str}``.
``id_number``, ``birth_date`` and ``sex`` are filled only when ``id_status`` is
``valid``, ``upgraded_15`` or ``foreign_valid``. ``id_status`` is one of, in
order of precedence:

``empty``         null or blank after cleaning.
``placeholder``   a stand-in for "no ID": 无, 不详, 未知, 暂无, 空, ``-``, ``/``,
                  ``0``/all zeros, ``NULL``, ``NONE``, ``N/A``.
``foreign_doc``   ``doc_type`` names a document other than the resident ID card
                  (passport, 港澳通行证, …); the number is not checked.
``foreign_valid`` ``doc_type`` is the foreign permanent residence card (or no
                  ``doc_type`` was given and the number starts with ``9``) and
                  the 18 characters pass the MOD 11-2 check.
``excel_damage``  the value went through an Excel number cell: scientific
                  notation (``1.10105E+17``), a trailing ``.0``, any value
                  when ``numeric_cell`` is true, or 18 digits ending in ``000``
                  that fail the check (Excel keeps 15 significant digits).
                  Never repaired.
``bad_chars``     characters other than digits and a final ``X``.
``wrong_length``  not 15 or 18 characters.
``bad_check``     18 characters whose check character is wrong (a typo).
``bad_date``      the birth date is not a calendar date in 1900-01-01..today.
``bad_region``    the 6-digit address code is in no edition of GB/T 2260
                  (python-stdnum's historical table, plus 810000/820000/830000
                  for Hong Kong, Macao and Taiwan residence permits).
``upgraded_15``   a valid 1989 15-digit number, upgraded to 18 characters.
``valid``         an 18-character number that passes every check.

Names (``normalise_name``): Struct ``{name, name_status}`` with ``name_status``
in ``ok`` / ``empty`` / ``anonymous`` / ``odd`` (digits or Latin letters; the
cleaned name is kept). ``name`` is null for ``empty`` and ``anonymous``.

Phones (``normalise_phones``): Struct ``{phone, phone_kind, phones}`` with
``phone_kind`` in ``mobile`` / ``landline`` / ``local`` / ``invalid`` /
``empty``.

Dates (``parse_date``, ``parse_datetime``): unparseable non-empty text gives
null; flag it with ``is_unparsed(raw, parsed)``.

Masks (``mask_id``, ``mask_phone``, ``mask_name``) are for display only, never
join keys.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

import polars as pl

__all__ = [
    "HOUSEHOLD_RELATIONS",
    "CITIZEN_DOC_TYPES",
    "FOREIGN_PR_DOC_TYPES",
    "ID_STATUSES",
    "USABLE_ID_STATUSES",
    "NAME_STATUSES",
    "PHONE_KINDS",
    "clean_text",
    "disability_cert_id",
    "is_unparsed",
    "mask_id",
    "mask_name",
    "mask_phone",
    "normalise_code",
    "normalise_household_no",
    "normalise_relation",
    "normalise_id",
    "normalise_name",
    "normalise_phones",
    "normalise_sex",
    "parse_date",
    "parse_datetime",
    "parse_int",
    "parse_money",
    "region_codes",
    "sex_conflict",
]

ID_STATUSES = (
    "valid",
    "upgraded_15",
    "foreign_valid",
    "empty",
    "placeholder",
    "foreign_doc",
    "excel_damage",
    "bad_chars",
    "wrong_length",
    "bad_check",
    "bad_date",
    "bad_region",
)
#: The ID statuses a person key can stand on: a number valid as delivered or upgraded, a foreign permanent
#: residence card, or one rescued from a certificate number (``rescued_cert``, set in ingestion.normalise).
#: Linkage keys on them, the GX suites and the ledger's ``id_valid_share`` count them.
USABLE_ID_STATUSES = ("valid", "upgraded_15", "foreign_valid", "rescued_cert")
NAME_STATUSES = ("ok", "empty", "anonymous", "odd")
PHONE_KINDS = ("mobile", "landline", "local", "invalid", "empty")

# 证件类型 values (text or GA/T 517 code) meaning the number is a citizen ID.
CITIZEN_DOC_TYPES = frozenset(
    {"111", "112", "居民身份证", "身份证", "二代身份证", "第二代居民身份证", "临时居民身份证"}
)
# The 2023 foreign permanent residence card: 18 characters, starts with 9,
# same MOD 11-2 check as the citizen ID.
FOREIGN_PR_DOC_TYPES = frozenset(
    {"外国人永久居留身份证", "外国人永久居留证", "永久居留身份证", "外国人永久居留身份证件"}
)

_TZ = "Asia/Shanghai"

# --------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------

_ZERO_WIDTH = {"\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "", "\u2060": ""}
# Full-width digits and letters only: full-width punctuation （），： is
# meaningful to other rules (headers, separators) and is folded on request.
_FULLWIDTH_ALNUM = {
    chr(c): chr(c - 0xFEE0) for c in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]
}
_FULLWIDTH_PUNCT = {
    chr(c): chr(c - 0xFEE0)
    for c in [*range(0xFF01, 0xFF10), *range(0xFF1A, 0xFF21), *range(0xFF3B, 0xFF41), *range(0xFF5B, 0xFF5F)]
}
_CLEAN_MAP = {**_ZERO_WIDTH, **_FULLWIDTH_ALNUM, "\u3000": " "}
_CLEAN_MAP_PUNCT = {**_CLEAN_MAP, **_FULLWIDTH_PUNCT}


def clean_text(expr: pl.Expr, *, fold_punctuation: bool = False) -> pl.Expr:
    """Fold full-width digits/letters and U+3000, drop zero-width characters,
    trim, collapse inner whitespace runs to one space; empty → null.

    With ``fold_punctuation=True`` full-width ASCII punctuation
    (``＋－．，／：（）`` …) is folded as well; the number rules use it.
    """
    mapping = _CLEAN_MAP_PUNCT if fold_punctuation else _CLEAN_MAP
    out = (
        expr.cast(pl.String)
        .str.replace_many(list(mapping), list(mapping.values()))
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    return pl.when(out.str.len_bytes() > 0).then(out)


def _per_unique(values: pl.Series, rule) -> pl.Series:
    """``rule`` (a Series -> Series function whose value at each row depends on that row alone) once per
    distinct value of ``values``, then back onto the rows: a day's file repeats its dates, names and phones."""
    uniques = values.unique()
    if uniques.len() == values.len():
        return rule(values).alias(values.name)
    table = pl.DataFrame([uniques.alias("v"), rule(uniques).alias("out")])
    joined = values.to_frame("v").join(table, on="v", how="left", nulls_equal=True, maintain_order="left")
    return joined.get_column("out").alias(values.name)


def _compact(expr: pl.Expr) -> pl.Expr:
    """clean_text with punctuation folded and every whitespace removed."""
    out = clean_text(expr, fold_punctuation=True).str.replace_all(r"\s", "")
    return pl.when(out.str.len_bytes() > 0).then(out)


# --------------------------------------------------------------------------
# citizen ID
# --------------------------------------------------------------------------

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_PLACEHOLDER_RE = r"^(?:无|不详|未知|暂无|空|无证|没有|-+|—+|/+|\\+|\?+|？+|0+|NULL|NONE|NAN|N/?A)$"
_EXCEL_RE = r"^\d(?:\.\d+)?E\+?\d+$|^\d+\.0*$"


@lru_cache(maxsize=1)
def region_codes() -> frozenset[str]:
    """Every 6-digit address code in python-stdnum's historical GB/T 2260
    table (abolished codes included), plus 810000/820000/830000."""
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    codes: set[str] = {"810000", "820000", "830000"}
    province = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line[0].isdigit():
            province = line.split()[0]
            codes.add(province + "0000")
        elif line.startswith(" ") and province:
            codes.add(province + line.split()[0])
    return frozenset(codes)


_ID_DTYPE = pl.Struct({"id_number": pl.String, "id_status": pl.String, "birth_date": pl.Date, "sex": pl.String})


@lru_cache(maxsize=1)
def _region_series() -> pl.Series:
    return pl.Series("region", sorted(region_codes()), dtype=pl.String)


def _check_char(first17: str) -> pl.Expr:
    """ISO 7064 MOD 11-2 check character of the 17-digit string column
    ``first17`` (null if it is not 17 digits)."""
    n = pl.col(first17).str.to_integer(strict=False)
    total = pl.sum_horizontal(((n // (10 ** (16 - i))) % 10) * w for i, w in enumerate(_WEIGHTS))
    return (total % 11).replace_strict(dict(enumerate(_CHECK_CHARS)), return_dtype=pl.String)


def _normalise_id_batch(batch: pl.Series) -> pl.Series:
    # Staged over a frame so every intermediate is computed once; one big
    # expression would repeat the check-digit subtree in every status branch
    # and cost seconds of planning per call.
    frame = batch.struct.unnest() if batch.dtype == pl.Struct else batch.to_frame("raw")
    if "doc" not in frame.columns:
        frame = frame.with_columns(doc=pl.lit(None, dtype=pl.String))
    if "num" not in frame.columns:
        frame = frame.with_columns(num=pl.lit(False))
    s, length, c = pl.col("s"), pl.col("len"), pl.col("candidate")
    out = (
        frame.lazy()
        .select(
            s=_compact(pl.col("raw")).str.to_uppercase(),
            doc=_compact(pl.col("doc")),
            num=pl.col("num").cast(pl.Boolean).fill_null(False),
        )
        .with_columns(len=s.str.len_chars())
        .with_columns(
            first17=pl.when(length == 15)
            .then(s.str.slice(0, 6) + "19" + s.str.slice(6, 9))
            .otherwise(s.str.slice(0, 17))
        )
        .with_columns(check=_check_char("first17"))
        .with_columns(
            candidate=pl.when(length == 15).then(pl.col("first17") + pl.col("check")).otherwise(s),
            check_ok=((length == 18) & (pl.col("check") == s.str.slice(17, 1))).fill_null(False),
            well_formed18=s.str.contains(r"^\d{17}[\dX]$"),
            foreign_pr=pl.col("doc").is_in(list(FOREIGN_PR_DOC_TYPES)).fill_null(False)
            | (pl.col("doc").is_null() & s.str.contains(r"^9\d{16}[\dX]$")),
            foreign_doc=pl.col("doc").is_not_null() & ~pl.col("doc").is_in([*CITIZEN_DOC_TYPES, *FOREIGN_PR_DOC_TYPES]),
        )
        .with_columns(
            birth=c.str.slice(6, 8).str.to_date("%Y%m%d", strict=False),
            region_ok=c.str.slice(0, 6).is_in(_region_series().implode()),
            damaged=pl.col("num")
            | s.str.contains(_EXCEL_RE)
            | (pl.col("well_formed18") & s.str.ends_with("000") & ~pl.col("check_ok")),
        )
        .with_columns(date_ok=pl.col("birth").is_between(_dt.date(1900, 1, 1), _dt.date.today()).fill_null(False))
        .with_columns(
            status=pl.when(s.is_null())
            .then(pl.lit("empty"))
            .when(s.str.contains(_PLACEHOLDER_RE))
            .then(pl.lit("placeholder"))
            .when(pl.col("foreign_doc"))
            .then(pl.lit("foreign_doc"))
            .when(pl.col("foreign_pr") & pl.col("check_ok") & pl.col("date_ok") & ~pl.col("num"))
            .then(pl.lit("foreign_valid"))
            .when(pl.col("foreign_pr") & ~pl.col("damaged"))
            .then(pl.lit("bad_check"))
            .when(pl.col("damaged"))
            .then(pl.lit("excel_damage"))
            .when(~s.str.contains(r"^\d+X?$"))
            .then(pl.lit("bad_chars"))
            .when((length != 15) & (length != 18))
            .then(pl.lit("wrong_length"))
            .when((length == 15) & ~s.str.contains(r"^\d{15}$"))
            .then(pl.lit("bad_chars"))
            .when((length == 18) & ~pl.col("check_ok"))
            .then(pl.lit("bad_check"))
            .when(~pl.col("date_ok"))
            .then(pl.lit("bad_date"))
            .when(~pl.col("region_ok"))
            .then(pl.lit("bad_region"))
            .when(length == 15)
            .then(pl.lit("upgraded_15"))
            .otherwise(pl.lit("valid"))
        )
        .with_columns(good=pl.col("status").is_in(["valid", "upgraded_15", "foreign_valid"]))
        .select(
            pl.struct(
                pl.when("good").then(c).alias("id_number"),
                pl.col("status").alias("id_status"),
                pl.when("good").then("birth").alias("birth_date"),
                pl.when("good")
                .then(
                    pl.when(c.str.slice(16, 1).str.to_integer(strict=False) % 2 == 1)
                    .then(pl.lit("男"))
                    .otherwise(pl.lit("女"))
                )
                .alias("sex"),
            ).alias(batch.name)
        )
        .collect()
    )
    return out.to_series()


def normalise_id(
    expr: pl.Expr,
    *,
    doc_type: pl.Expr | None = None,
    numeric_cell: pl.Expr | None = None,
) -> pl.Expr:
    """Validate and normalise a citizen ID (GB 11643-1999) column.

    Returns Struct ``{id_number, id_status, birth_date, sex}``; see the
    module docstring for the status vocabulary. ``doc_type`` is the record's
    证件类型 (text or code; null means 居民身份证). ``numeric_cell`` is true for
    rows read from a numeric workbook cell: such a value is ``excel_damage``.

    The work runs as Polars operations over each whole batch (no per-row
    Python), staged so that each intermediate is computed once.
    """
    parts = [expr.cast(pl.String).alias("raw")]
    if doc_type is not None:
        parts.append(doc_type.cast(pl.String).alias("doc"))
    if numeric_cell is not None:
        parts.append(numeric_cell.alias("num"))
    packed = parts[0] if len(parts) == 1 else pl.struct(parts)
    return packed.map_batches(_normalise_id_batch, return_dtype=_ID_DTYPE, is_elementwise=True)


_DISABILITY_CATEGORIES = {
    1: "视力",
    2: "听力",
    3: "言语",
    4: "肢体",
    5: "智力",
    6: "精神",
    7: "多重",
}


def disability_cert_id(expr: pl.Expr) -> pl.Expr:
    """Split a 残疾人证号 (18-character ID + category digit + grade digit).

    Returns Struct ``{id_number, category, category_name, grade}``:
    ``id_number`` is the first 18 characters, cleaned and upper-cased but not
    validated (pass it to ``normalise_id``); ``category`` (1–7) and ``grade``
    (1–4) are Int8, null when the suffix is missing or out of range. A bare
    18-character value gives the ID with null category and grade.
    """
    s = _compact(expr).str.to_uppercase()
    length = s.str.len_chars()
    category = s.str.slice(18, 1).str.to_integer(strict=False, dtype=pl.Int8)
    grade = s.str.slice(19, 1).str.to_integer(strict=False, dtype=pl.Int8)
    has_suffix = (length == 20) & category.is_between(1, 7) & grade.is_between(1, 4)
    return pl.struct(
        pl.when((length == 18) | (length == 20)).then(s.str.slice(0, 18)).alias("id_number"),
        pl.when(has_suffix).then(category).alias("category"),
        pl.when(has_suffix)
        .then(category.replace_strict(_DISABILITY_CATEGORIES, default=None, return_dtype=pl.String))
        .alias("category_name"),
        pl.when(has_suffix).then(grade).alias("grade"),
    )


# --------------------------------------------------------------------------
# masks (display only)
# --------------------------------------------------------------------------

_STARS = "*" * 64


def _stars(n: pl.Expr) -> pl.Expr:
    return pl.lit(_STARS).str.slice(0, n.clip(lower_bound=0))


def mask_id(expr: pl.Expr) -> pl.Expr:
    """``110105********002X``: first 6 and last 4 characters kept."""
    s = expr.cast(pl.String)
    n = s.str.len_chars()
    return pl.when(n > 10).then(s.str.slice(0, 6) + _stars(n - 10) + s.str.slice(-4)).when(n > 0).then(_stars(n))


def mask_phone(expr: pl.Expr) -> pl.Expr:
    """``138****5678``: first 3 and last 4 characters kept."""
    s = expr.cast(pl.String)
    n = s.str.len_chars()
    return pl.when(n > 7).then(s.str.slice(0, 3) + _stars(n - 7) + s.str.slice(-4)).when(n > 0).then(_stars(n))


def mask_name(expr: pl.Expr) -> pl.Expr:
    """``张*`` (2 characters), ``张*三`` / ``欧**娜`` (3+: first + stars + last)."""
    s = expr.cast(pl.String)
    n = s.str.len_chars()
    return (
        pl.when(n >= 3)
        .then(s.str.slice(0, 1) + _stars(n - 2) + s.str.slice(-1))
        .when(n == 2)
        .then(s.str.slice(0, 1) + "*")
        .when(n == 1)
        .then(pl.lit("*"))
    )


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------

_DOTS = {
    "\u2022": "·",  # • bullet
    "\u30fb": "·",  # ・ katakana middle dot
    "\uff65": "·",  # ･ half-width katakana middle dot
    "\u2027": "·",  # ‧ hyphenation point
    "\u2219": "·",  # ∙ bullet operator
    "\u22c5": "·",  # ⋅ dot operator
    "\uff0e": "·",  # ． full-width full stop
    ".": "·",
}
_ANONYMOUS = ["匿名", "不详", "无名氏", "未知", "佚名", "无名", "无"]


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def _to_simplified(s: pl.Series) -> pl.Series:
    # One OpenCC call per distinct value, then a hash join back onto the rows.
    converter = _t2s()
    uniques = s.drop_nulls().unique()
    mapping = {v: converter.convert(v) for v in uniques if not v.isascii()}
    if not mapping:
        return s
    return s.replace(mapping)


def _name_rule(s: pl.Expr) -> pl.Expr:
    """The cleaned name before traditional → simplified (see :func:`normalise_name`)."""
    s = clean_text(s).str.replace_many(list(_DOTS), list(_DOTS.values()))
    s = s.str.replace_all(r"\s*·\s*", "·").str.strip_chars("·")
    for _ in range(2):  # two passes close every gap between single Han chars
        s = s.str.replace_all(r"(\p{Han})\s+(\p{Han})", "${1}${2}")
    return s


def _name_status(s: pl.Expr) -> pl.Expr:
    return (
        pl.when(s.is_null())
        .then(pl.lit("empty"))
        .when(s.is_in(_ANONYMOUS))
        .then(pl.lit("anonymous"))
        .when(s.str.contains(r"[0-9A-Za-z]"))
        .then(pl.lit("odd"))
        .otherwise(pl.lit("ok"))
    )


_NAME_DTYPE = pl.Struct({"name": pl.String, "name_status": pl.String})


def _names_batch(values: pl.Series) -> pl.Series:
    # Staged over a frame: as one expression the OpenCC callback blocked Polars' common-subexpression
    # elimination, and the cleaned name was recomputed (with the callback) for each use in the status
    # (~10 us a row); the rules and the status are the same.
    frame = values.cast(pl.String).to_frame("raw").select(_name_rule(pl.col("raw")).alias("s"))
    frame = frame.with_columns(_to_simplified(frame["s"]).alias("s"))
    frame = frame.with_columns(pl.when(pl.col("s").str.len_bytes() > 0).then(pl.col("s")).alias("s"))
    frame = frame.with_columns(_name_status(pl.col("s")).alias("status"))
    return frame.select(
        pl.struct(
            pl.when(pl.col("status").is_in(["ok", "odd"])).then(pl.col("s")).alias("name"),
            pl.col("status").alias("name_status"),
        ).alias(values.name)
    ).to_series()


def normalise_name(expr: pl.Expr) -> pl.Expr:
    """Struct ``{name, name_status}``: width-folded, middle dots unified to
    U+00B7, spaces between Han characters removed, traditional → simplified.

    Evaluated once per distinct value of a batch, in steps (:func:`_names_batch`)."""
    return expr.map_batches(lambda v: _per_unique(v, _names_batch), return_dtype=_NAME_DTYPE, is_elementwise=True)


# --------------------------------------------------------------------------
# phones
# --------------------------------------------------------------------------

_PHONE_SEP = r"[/;,、|]"


def _one_phone(e: pl.Expr) -> pl.Expr:
    """Normalise one phone number; null when it is none of the known forms."""
    raw = e.str.strip_chars()
    intl = raw.str.contains(r"^(?:\+|00)?86[\s\-]*[(]?\d")
    d = raw.str.replace_all(r"[\s\-()（）.]", "")
    d = d.str.replace(r"^(?:\+86|0086|86)(\d{9,12})$", "${1}")
    # +86 856 5231234, +86 10 62345678: the international form drops the trunk 0 of the area code.
    d = pl.when(intl & d.str.contains(r"^[2-9]\d{8,10}$|^10\d{7,8}$")).then("0" + d).otherwise(d)
    d = d.str.replace(r"^0(1[3-9]\d{9})$", "${1}")
    area = pl.when(d.str.contains(r"^0(?:10|2\d)")).then(d.str.slice(0, 3)).otherwise(d.str.slice(0, 4))
    return (
        pl.when(d.str.contains(r"^1[3-9]\d{9}$"))
        .then(d)
        .when(d.str.contains(r"^0(?:10|2\d)\d{7,8}$|^0[3-9]\d{2}\d{7,8}$"))
        .then(area + "-" + d.str.slice(area.str.len_chars()))
        .when(d.str.contains(r"^[1-9]\d{6,7}$"))
        .then(d)
    )


def normalise_phones(expr: pl.Expr) -> pl.Expr:
    """Struct ``{phone, phone_kind, phones}``.

    ``phones`` lists every recognised number (mobile ``13812345678``, landline
    ``0856-5231234``, local ``5231234``) of a field that may hold several
    separated by ``/ ; ， , 、``; ``phone`` is the first of them and
    ``phone_kind`` its kind, ``invalid`` when the field holds none, ``empty``
    when it is blank.
    """
    # Evaluated in steps over a materialised batch: as one expression the list
    # evaluation was recomputed for every use of ``phone`` (40 us a row).
    return expr.map_batches(lambda v: _per_unique(v, _phones_batch), return_dtype=_PHONES_DTYPE, is_elementwise=True)


_PHONES_DTYPE = pl.Struct({"phone": pl.String, "phone_kind": pl.String, "phones": pl.List(pl.String)})


def _phones_batch(values: pl.Series) -> pl.Series:
    frame = values.cast(pl.String).to_frame("raw").select(clean_text(pl.col("raw"), fold_punctuation=True).alias("s"))
    # each number of a field on a row of its own (a field's numbers in order; an empty field one null row),
    # each distinct number normalised once, then the field's numbers back into its list
    numbers = (
        frame.with_row_index("_row")
        .select("_row", pl.col("s").str.replace_all(_PHONE_SEP, "/").str.split("/").alias("_number"))
        .explode("_number", empty_as_null=True, keep_nulls=True)
    )
    one = _per_unique(numbers["_number"], lambda u: u.to_frame().select(_one_phone(pl.col(u.name))).to_series())
    phones = (
        numbers.with_columns(one.alias("_one"))
        .group_by("_row", maintain_order=True)
        .agg(pl.col("_one").drop_nulls().alias("phones"))
    )
    if phones.height != frame.height:
        raise AssertionError("a field's phone numbers lost their row")
    frame = frame.with_columns(phones["phones"])
    frame = frame.with_columns(pl.col("phones").list.first().alias("phone"))
    phone = pl.col("phone")
    kind = (
        pl.when(pl.col("s").is_null())
        .then(pl.lit("empty"))
        .when(phone.is_null())
        .then(pl.lit("invalid"))
        .when(phone.str.contains("-"))
        .then(pl.lit("landline"))
        .when(phone.str.len_chars() == 11)
        .then(pl.lit("mobile"))
        .otherwise(pl.lit("local"))
    )
    return frame.select(
        pl.struct(
            phone.alias("phone"),
            kind.alias("phone_kind"),
            pl.when(pl.col("s").is_not_null()).then(pl.col("phones")).alias("phones"),
        ).alias(values.name)
    ).to_series()


# --------------------------------------------------------------------------
# sex
# --------------------------------------------------------------------------

_SEX = {
    "男": "男",
    "男性": "男",
    "1": "男",
    "m": "男",
    "male": "男",
    "女": "女",
    "女性": "女",
    "2": "女",
    "f": "女",
    "female": "女",
}


def _sex_value(expr: pl.Expr) -> pl.Expr:
    s = _compact(expr).str.to_lowercase().str.replace(r"^(\d)\.0+$", "${1}")
    return s.replace_strict(_SEX, default=None, return_dtype=pl.String)


def normalise_sex(expr: pl.Expr, *, id_sex: pl.Expr | None = None) -> pl.Expr:
    """'男'/'女'/null from 男/女, GB/T 2261.1 codes 1/2 (0 unknown and 9
    unstated give null), M/F, male/female. A non-null ``id_sex`` (the sex
    read from a valid ID number) wins."""
    sex = _sex_value(expr)
    return sex if id_sex is None else pl.coalesce(id_sex, sex)


def sex_conflict(expr: pl.Expr, *, id_sex: pl.Expr) -> pl.Expr:
    """True where the stated sex and the ID's sex are both known and differ."""
    sex = _sex_value(expr)
    return (sex.is_not_null() & id_sex.is_not_null() & (sex != id_sex)).fill_null(False)


# --------------------------------------------------------------------------
# dates and times
# --------------------------------------------------------------------------

_DATETIME_RE = (
    r"^(?P<y>\d{4})(?:\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?|(?P<m2>\d{2})(?P<d2>\d{2}))"
    r"(?:(?:\s+|T|\s*日\s*)(?P<H>\d{1,2})\s*[:时]\s*(?P<M>\d{1,2})"
    r"(?:\s*[:分]\s*(?P<S>\d{1,2})(?:\.(?P<f>\d{1,9}))?\s*秒?)?\s*分?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_SERIAL_RE = r"^\d{1,5}(?:\.\d+)?$"
_SERIAL_MAX = 80_000


def _z2(e: pl.Expr) -> pl.Expr:
    return e.str.zfill(2)


def _components(expr: pl.Expr, *, excel_serial: bool) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(naive datetime as written, UTC offset in minutes or null, Excel serial)."""
    s = clean_text(expr, fold_punctuation=True)
    return _components_of(s, s.str.extract_groups(_DATETIME_RE), excel_serial=excel_serial)


def _components_of(s: pl.Expr, g: pl.Expr, *, excel_serial: bool) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """:func:`_components` from the cleaned text ``s`` and its ``_DATETIME_RE`` groups ``g``."""
    month = pl.coalesce(g.struct.field("m"), g.struct.field("m2"))
    day = pl.coalesce(g.struct.field("d"), g.struct.field("d2"))
    text = pl.concat_str(
        g.struct.field("y"),
        pl.lit("-"),
        _z2(month),
        pl.lit("-"),
        _z2(day),
        pl.lit(" "),
        _z2(g.struct.field("H").fill_null("0")),
        pl.lit(":"),
        _z2(g.struct.field("M").fill_null("0")),
        pl.lit(":"),
        _z2(g.struct.field("S").fill_null("0")),
        pl.lit("."),
        g.struct.field("f").fill_null("0"),
    )
    naive = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False)
    tz = g.struct.field("tz")
    tz_digits = tz.str.replace_all(r"[^\d]", "").str.pad_end(4, "0")
    tz_minutes = (
        tz_digits.str.slice(0, 2).str.to_integer(strict=False) * 60
        + tz_digits.str.slice(2, 2).str.to_integer(strict=False)
    ) * pl.when(tz.str.starts_with("-")).then(-1).otherwise(1)
    offset = pl.when(tz == "Z").then(0).otherwise(tz_minutes)
    serial = pl.when(s.str.contains(_SERIAL_RE)).then(s.cast(pl.Float64, strict=False))
    serial = pl.when(serial.is_between(1, _SERIAL_MAX) & pl.lit(excel_serial)).then(serial)
    return naive, offset, serial


def _serial_to_naive(serial: pl.Expr) -> pl.Expr:
    # Excel's 1900 system counts 1900-02-29, which never existed: serials from
    # 61 on are days since 1899-12-30, earlier ones days since 1899-12-31.
    base = pl.when(serial >= 61).then(pl.lit(_dt.datetime(1899, 12, 30))).otherwise(pl.lit(_dt.datetime(1899, 12, 31)))
    micros = (serial * 86_400_000_000).round(0).cast(pl.Int64)
    return pl.when(serial.floor() != 60).then(base.dt.cast_time_unit("us") + pl.duration(microseconds=micros))


def _in_china(naive: pl.Expr, offset: pl.Expr, serial: pl.Expr) -> pl.Expr:
    local = pl.coalesce(naive, _serial_to_naive(serial))
    as_local = local.dt.replace_time_zone(_TZ, ambiguous="earliest", non_existent="null")
    as_offset = (naive - pl.duration(minutes=offset)).dt.replace_time_zone("UTC").dt.convert_time_zone(_TZ)
    return pl.when(offset.is_not_null()).then(as_offset).otherwise(as_local)


def _written_date(naive: pl.Expr, offset: pl.Expr, serial: pl.Expr, in_china: pl.Expr) -> pl.Expr:
    written = pl.coalesce(naive, _serial_to_naive(serial.floor())).dt.date()
    return pl.when(offset.is_not_null()).then(in_china.dt.date()).otherwise(written)


_DATETIME_DTYPE = pl.Datetime("us", _TZ)


def _times_batch(values: pl.Series, *, excel_serial: bool, as_date: bool) -> pl.Series:
    # Staged over a frame so the regex, the parsed parts and the time zone are computed once: as one
    # expression the groups and the naive time were recomputed for each use (~5 us a value).
    frame = (
        values.to_frame("raw")
        .lazy()
        .select(s=clean_text(pl.col("raw"), fold_punctuation=True))
        .with_columns(g=pl.col("s").str.extract_groups(_DATETIME_RE))
    )
    naive, offset, serial = _components_of(pl.col("s"), pl.col("g"), excel_serial=excel_serial)
    frame = frame.select(naive=naive, offset=offset, serial=serial)
    parts = pl.col("naive"), pl.col("offset"), pl.col("serial")
    frame = frame.with_columns(in_china=_in_china(*parts))
    out = _written_date(*parts, pl.col("in_china")) if as_date else pl.col("in_china")
    return frame.select(out.alias(values.name)).collect().to_series()


def parse_datetime(expr: pl.Expr, *, excel_serial: bool = True) -> pl.Expr:
    """Parse to ``Datetime("us", "Asia/Shanghai")``.

    Accepts ``2024-06-12 14:22:53``, ``2024/6/12 14:22``, ``2024年6月12日``,
    ``2024.06.12``, ``20240612``, ISO-8601 with ``T``, fractions, ``Z`` or an
    offset (converted to China time), date only (midnight) and Excel serial
    numbers with a fraction (1900 system, 1..80000). Text without an offset is
    China time. Anything else → null. ``excel_serial=False`` turns serial
    numbers off for feeds that never come from a workbook (a bare ``12``
    would otherwise read as 1900-01-12).

    Evaluated once per distinct value of a batch, in steps (:func:`_times_batch`).
    """
    return expr.cast(pl.String).map_batches(
        lambda v: _per_unique(v, lambda u: _times_batch(u, excel_serial=excel_serial, as_date=False)),
        return_dtype=_DATETIME_DTYPE,
        is_elementwise=True,
    )


def parse_date(expr: pl.Expr, *, excel_serial: bool = True) -> pl.Expr:
    """Parse to ``Date``: the forms of ``parse_datetime``; a date-time gives
    its date (China date when the text carries an offset). Excel serials are
    floored to the day."""
    return expr.cast(pl.String).map_batches(
        lambda v: _per_unique(v, lambda u: _times_batch(u, excel_serial=excel_serial, as_date=True)),
        return_dtype=pl.Date,
        is_elementwise=True,
    )


def _parse_datetime_expr(expr: pl.Expr, *, excel_serial: bool = True) -> pl.Expr:
    """:func:`parse_datetime` as one expression (the reference the tests hold the batches to)."""
    return _in_china(*_components(expr, excel_serial=excel_serial))


def _parse_date_expr(expr: pl.Expr, *, excel_serial: bool = True) -> pl.Expr:
    """:func:`parse_date` as one expression (the reference the tests hold the batches to)."""
    naive, offset, serial = _components(expr, excel_serial=excel_serial)
    return _written_date(naive, offset, serial, _parse_datetime_expr(expr, excel_serial=excel_serial))


def is_unparsed(raw: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """True where the raw value is non-blank but parsing gave null — the rows a
    normaliser quarantines or flags."""
    return clean_text(raw).is_not_null() & parsed.is_null()


# --------------------------------------------------------------------------
# numbers and codes
# --------------------------------------------------------------------------


def _number_text(expr: pl.Expr) -> pl.Expr:
    return clean_text(expr, fold_punctuation=True).str.replace_all(r"[\s,￥¥元]|RMB|人民币", "").str.replace(r"^\+", "")


def parse_money(expr: pl.Expr) -> pl.Expr:
    """Parse ``1,234.50``, ``￥1234``, ``1234元``, full-width digits and
    ``1.2万`` to ``Decimal(12, 2)`` (half-up rounding of extra decimals is not
    attempted: more than 2 decimals → null). Anything else → null."""
    s = _number_text(expr)
    wan = s.str.ends_with("万")
    s = s.str.strip_suffix("万")
    ok = s.str.contains(r"^-?(?:\d+(?:\.\d{0,2})?|\.\d{1,2})$")
    plain = pl.when(ok).then(s).cast(pl.Decimal(12, 2), strict=False)
    ten_k = pl.when(s.str.contains(r"^-?\d+(?:\.\d{1,6})?$")).then(s).cast(pl.Decimal(18, 6), strict=False) * 10_000
    return pl.when(wan).then(ten_k.cast(pl.Decimal(12, 2), strict=False)).otherwise(plain)


def parse_int(expr: pl.Expr) -> pl.Expr:
    """Parse ``12``, ``12.0``, ``１２``, ``12人`` (any trailing unit) to Int64."""
    s = _number_text(expr).str.replace(r"[^\d.]+$", "")
    s = s.str.replace(r"^(-?\d+)\.0*$", "${1}")
    return s.str.to_integer(strict=False)


def _code_key(value: str) -> str:
    v = value.strip()
    if v.replace(".", "", 1).isdigit() and v.count(".") <= 1:
        whole, _, frac = v.partition(".")
        if not frac.strip("0"):
            return str(int(whole))
    return v.casefold()


def normalise_code(expr: pl.Expr, mapping: Mapping[str, str]) -> pl.Expr:
    """Map text/number variants onto a code table; unknown → null.

    ``mapping`` maps each variant to its canonical value, for example
    ``{"01": "汉族", "汉": "汉族"}``. Keys and input match after cleaning,
    case folding and numeric normalisation (``"01"``, ``"1"``, ``1.0`` all
    match key ``"01"``); canonical values also map to themselves.
    """
    lookup: dict[str, str] = {}
    for key, value in [*mapping.items(), *((v, v) for v in mapping.values())]:
        k = _code_key(str(key))
        if lookup.get(k, value) != value:
            raise ValueError(
                f"mapping key {key!r} collides with another key after normalisation "
                f"({k!r} → {lookup[k]!r} and {value!r}); keep one of them"
            )
        lookup[k] = value
    s = clean_text(expr, fold_punctuation=True).str.to_lowercase()
    s = s.str.replace(r"^0*(\d+)(?:\.0*)?$", "${1}")
    return s.replace_strict(lookup, default=None, return_dtype=pl.String)


# --- households (户口簿) ---------------------------------------------------------------------------

#: 与户主关系 as the register's code list has it (police_population.md)
HOUSEHOLD_RELATIONS: tuple[str, ...] = ("户主", "配偶", "子", "女", "父母", "孙子女", "兄弟姐妹", "其他")

# the forms a 户口簿 and GB/T 4761 (家庭关系代码) use for the same relations; a clerk types either
_RELATION_VARIANTS: dict[str, str] = {
    "本人": "户主",
    "01": "户主",
    "02": "户主",
    "妻": "配偶",
    "妻子": "配偶",
    "夫": "配偶",
    "丈夫": "配偶",
    "10": "配偶",
    "儿子": "子",
    "长子": "子",
    "次子": "子",
    "之子": "子",
    "20": "子",
    "女儿": "女",
    "长女": "女",
    "次女": "女",
    "之女": "女",
    "30": "女",
    "孙子": "孙子女",
    "孙女": "孙子女",
    "外孙子": "孙子女",
    "外孙女": "孙子女",
    "40": "孙子女",
    "父亲": "父母",
    "母亲": "父母",
    "父": "父母",
    "母": "父母",
    "50": "父母",
    "哥哥": "兄弟姐妹",
    "弟弟": "兄弟姐妹",
    "姐姐": "兄弟姐妹",
    "妹妹": "兄弟姐妹",
    "兄": "兄弟姐妹",
    "弟": "兄弟姐妹",
    "姐": "兄弟姐妹",
    "妹": "兄弟姐妹",
    "70": "兄弟姐妹",
    "99": "其他",
}


def normalise_relation(expr: pl.Expr) -> pl.Expr:
    """与户主关系 -> Struct ``{relation, is_known}``.

    A value on the code list (or one of its usual variants: ``本人``, ``长子``, GB/T 4761 codes) becomes the
    code; anything else is kept as cleaned text with ``is_known`` false, never dropped: the person is in
    the household whatever the clerk typed. Empty gives nulls.
    """
    mapped = normalise_code(expr, {**_RELATION_VARIANTS, **{r: r for r in HOUSEHOLD_RELATIONS}})
    cleaned = clean_text(expr)
    return pl.struct(
        pl.coalesce(mapped, cleaned).alias("relation"),
        pl.when(cleaned.is_not_null()).then(mapped.is_not_null()).alias("is_known"),
    )


def normalise_household_no(expr: pl.Expr) -> pl.Expr:
    """户号 -> Struct ``{household_no, household_no_status}``: the cleaned text (full-width digits folded,
    spaces inside dropped, a trailing ``.0`` of an Excel number cell removed) and ``valid`` (9 digits),
    ``malformed`` (anything else, kept) or ``empty``."""
    s = clean_text(expr, fold_punctuation=True).str.replace_all(" ", "").str.replace(r"^(\d+)\.0+$", "${1}")
    s = pl.when(s != "").then(s)
    status = (
        pl.when(s.is_null())
        .then(pl.lit("empty"))
        .when(s.str.contains(r"^\d{9}$"))
        .then(pl.lit("valid"))
        .otherwise(pl.lit("malformed"))
    )
    return pl.struct(s.alias("household_no"), status.alias("household_no_status"))


# --- 统一社会信用代码 (GB 32100): a unit's code, not personal data ----------------------------------------

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check(code: str | None) -> str:
    """The status of a 统一社会信用代码: ``valid``, ``bad_check`` (18 characters from the code's alphabet whose
    last does not match GB 32100's check), ``wrong_form`` or ``empty``.

    >>> credit_code_check("91350100M000100Y43")
    'valid'
    >>> credit_code_check("91350100M000100Y44")
    'bad_check'
    """
    if code is None or not code.strip():
        return "empty"
    c = code.strip().upper()
    if len(c) != 18 or any(ch not in _USCC_CHARS for ch in c):
        return "wrong_form"
    s = 31 - sum(_USCC_CHARS.index(ch) * w for ch, w in zip(c[:17], _USCC_WEIGHTS)) % 31
    return "valid" if _USCC_CHARS[0 if s == 31 else s] == c[17] else "bad_check"


def credit_code_status(expr: pl.Expr) -> pl.Expr:
    """:func:`credit_code_check` over a text column (null reads as ``empty``), once per distinct code."""

    def checked(codes: pl.Series) -> pl.Series:
        return pl.Series(codes.name, [credit_code_check(c) for c in codes.to_list()], dtype=pl.String)

    return expr.cast(pl.String).map_batches(
        lambda v: _per_unique(v, checked), return_dtype=pl.String, is_elementwise=True
    )
