"""Readers: one delivered file in, a raw all-text frame plus a quarantine frame out.

All file I/O of ingestion sits here; normalisers downstream are pure functions
of the frames returned. Every kept row and every quarantined record carries
the record locator (``feed, file, file_md5, sheet, record_no, member_no``,
../shared/feeds/README.md). ``ReadResult.records`` counts data records exactly
as a flag's ``rows`` does, so the caller can check the file against its flag
before loading anything.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl

from ingestion.errors import FeedEncodingError, FeedFormatError, FeedSchemaError
from ingestion.feeds import LOCATOR, TableSpec, normalise_header
from ingestion.fields import _per_unique

__all__ = [
    "MAX_FIELD_BYTES",
    "RAW_TEXT_CHARS",
    "QUARANTINE_SCHEMA",
    "ReadResult",
    "read_file",
    "detect_encoding",
    "excel_number_text",
]

log = logging.getLogger(__name__)

#: a field longer than this (UTF-8 bytes) quarantines its record
MAX_FIELD_BYTES = 1 << 20
#: quarantined raw text is cut to this many characters
RAW_TEXT_CHARS = 2000

_LOCATOR_SCHEMA: dict[str, pl.DataType] = {
    "feed": pl.String,
    "file": pl.String,
    "file_md5": pl.String,
    "sheet": pl.String,
    "record_no": pl.Int64,
    "member_no": pl.Int32,
}
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    **_LOCATOR_SCHEMA,
    "raw_text": pl.String,
    "reason": pl.String,
    "message": pl.String,
}
assert tuple(_LOCATOR_SCHEMA) == LOCATOR

_BOM = b"\xef\xbb\xbf"
_UTF8_FAMILY = {"utf-8", "utf-8-sig", "utf8"}


@dataclass
class ReadResult:
    frame: pl.DataFrame
    quarantine: pl.DataFrame
    records: int
    skipped: dict[str, int] = field(default_factory=dict)
    encoding: str | None = None
    encoding_switched: bool = False
    unknown_columns: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)
    failed_sheets: dict[str, str] = field(default_factory=dict)
    unknown_sheets: list[str] = field(default_factory=list)
    #: the spec's columns (snake_case) a CSV's header lacks, those added later included: not stated by the
    #: file (ingestion.versions carries a register's previous values for them), unlike a present empty one
    absent_columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Ctx:
    feed: str
    file: str
    file_md5: str

    def locator(self, sheet: str = "") -> dict[str, object]:
        return {"feed": self.feed, "file": self.file, "file_md5": self.file_md5, "sheet": sheet}


def read_file(path: Path, spec: TableSpec, *, file_md5: str, file_name: str | None = None) -> ReadResult:
    """Read one delivered file of ``spec``'s table. Raises a :class:`~ingestion.errors.FeedError` subclass
    when the file as a whole cannot be taken; bad single records go to ``quarantine``."""
    path = Path(path)
    ctx = _Ctx(spec.feed, file_name or path.name, file_md5)
    readers = {
        "csv": _read_csv,
        "xlsx": _read_xlsx,
        "jsonl": _read_jsonl,
        "json": _read_json_array,
        "geojson": _read_geojson,
    }
    try:
        reader = readers[spec.format]
    except KeyError:
        raise ValueError(
            f"{spec.table}: format={spec.format!r} has no reader; expected one of {sorted(readers)}"
        ) from None
    result = reader(path, spec, ctx)
    log.info(
        "read %s/%s: %d records, %d rows kept, %d quarantined",
        ctx.feed,
        ctx.file,
        result.records,
        result.frame.height,
        result.quarantine.height,
    )
    return result


# --------------------------------------------------------------------------- helpers


def _family(encoding: str | None) -> str | None:
    if encoding is None:
        return None
    return "utf-8" if encoding.lower() in _UTF8_FAMILY else encoding.lower()


def _switched(detected: str, declared: str | None, raw: bytes) -> bool:
    # Pure ASCII reads the same in every accepted encoding: nothing switched.
    if declared is None or _family(detected) == _family(declared):
        return False
    return not (detected == "utf-8" and raw.isascii())


def detect_encoding(raw: bytes, *, feed: str, file: str, declared: str | None = None) -> tuple[str, bytes]:
    """``(encoding, utf-8 bytes without BOM)``: BOM → utf-8-sig; strict UTF-8; strict GB18030; else error.

    Never replaces a byte: bytes that decode in neither raise :class:`FeedEncodingError` with the offset.
    """
    if raw.startswith(_BOM):
        body = raw[len(_BOM) :]
        bad = _utf8_bad_offset(body)
        if bad is not None:
            raise _undecodable(feed, file, bad + len(_BOM), "it starts with a UTF-8 BOM but is not UTF-8")
        return "utf-8-sig", body
    utf8_bad = _utf8_bad_offset(raw)
    if utf8_bad is None:
        return "utf-8", raw
    try:
        return "gb18030", _gb18030_to_utf8(raw)
    except _BadBytes as err:
        # Lead with the offset in the encoding the feed declares: that is where the department should look.
        if _family(declared) == "gb18030":
            offset, why = err.offset, f"it is not GB18030 (nor UTF-8: first bad byte at offset {utf8_bad})"
        else:
            offset, why = utf8_bad, f"it is not UTF-8 (nor GB18030: first bad byte at offset {err.offset})"
        raise _undecodable(feed, file, offset, why) from err


def _line_chunks(raw: bytes, chunk: int = 8 << 20):
    """``(start, end)`` spans ending just after a b"\\n": 0x0A is never inside a multi-byte UTF-8 or
    GB18030 sequence, so each span decodes on its own; no str of the whole file is ever built."""
    start, size = 0, len(raw)
    while start < size:
        end = raw.find(b"\n", min(start + chunk, size))
        end = size if end < 0 else end + 1
        yield start, end
        start = end


def _utf8_bad_offset(raw: bytes) -> int | None:
    for start, end in _line_chunks(raw):
        try:
            raw[start:end].decode("utf-8")
        except UnicodeDecodeError as err:
            return start + err.start
    return None


def _gb18030_to_utf8(raw: bytes) -> bytes:
    """Transcode chunk by chunk; raises :class:`_BadBytes` with the absolute offset of a bad sequence."""
    out: list[bytes] = []
    for start, end in _line_chunks(raw):
        try:
            out.append(raw[start:end].decode("gb18030").encode("utf-8"))
        except UnicodeDecodeError as err:
            raise _BadBytes(start + err.start) from err
    return b"".join(out)


class _BadBytes(ValueError):
    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def _undecodable(
    feed: str, file: str, offset: int, why: str, expected: str = "UTF-8 (with or without BOM) or GB18030"
) -> FeedEncodingError:
    return FeedEncodingError(
        f"{feed}/{file}: bytes at offset {offset} cannot be decoded: {why}; expected {expected} "
        "— ask the department to re-export the file; nothing was loaded",
        feed=feed,
        file=file,
        reason="undecodable",
    )


def _raw_text(text: str) -> str:
    return text.replace("\x00", "\\x00")[:RAW_TEXT_CHARS]


def _csv_line(fields: list[str | None]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(["" if f is None else f for f in fields])
    return buf.getvalue()


def _quarantine(rows: list[dict[str, object]]) -> pl.DataFrame:
    return (
        pl.DataFrame(rows, schema=QUARANTINE_SCHEMA, orient="row") if rows else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    )


def _column_names(headers: list[str], spec: TableSpec, sheet: str | None) -> tuple[list[str], list[str]]:
    """Frame column names for the given headers (snake_case when known) and the unknown ones."""
    known = spec.header_map(sheet)
    names: list[str] = []
    unknown: list[str] = []
    for i, header in enumerate(headers):
        norm = normalise_header(header or "")
        name = known.get(norm) or norm or f"column_{i + 1}"
        if name not in known.values():
            unknown.append(name)
        while name in names:  # a duplicated header keeps both columns
            name = f"{name}_{i + 1}"
        names.append(name)
    return names, unknown


def _missing(headers: list[str], spec: TableSpec, sheet: str | None) -> tuple[list[str], list[str]]:
    present = {normalise_header(h or "") for h in headers}
    required = [h for h in spec.required(sheet) if normalise_header(h) not in present]
    optional = [h for h in spec.optional_expected(sheet) if normalise_header(h) not in present]
    return required, optional


def _finish(frame: pl.DataFrame, spec: TableSpec, sheet: str | None, extra: list[str]) -> pl.DataFrame:
    """Locator first, the spec's columns in spec order (missing optional ones as null), then unknown ones."""
    spec_names = [c.name for c in spec.columns_for(sheet)]
    add = [pl.lit(None, dtype=pl.String).alias(n) for n in spec_names if n not in frame.columns]
    if add:
        frame = frame.with_columns(add)
    rest = [c for c in frame.columns if c not in _LOCATOR_SCHEMA and c not in spec_names and c not in extra]
    frame = frame.select([*LOCATOR, *spec_names, *rest, *extra])
    return frame.cast({"record_no": pl.Int64, "member_no": pl.Int32})


def _empty_frame(spec: TableSpec) -> pl.DataFrame:
    return pl.DataFrame(schema={**_LOCATOR_SCHEMA, **{n: pl.String for n in spec.all_names}})


# --------------------------------------------------------------------------- CSV


def _read_csv(path: Path, spec: TableSpec, ctx: _Ctx) -> ReadResult:
    raw = path.read_bytes()
    encoding, data = detect_encoding(raw, feed=ctx.feed, file=ctx.file, declared=spec.encoding)
    switched = _switched(encoding, spec.encoding, raw)
    del raw

    header = _csv_header(data)
    missing_required, missing_optional = _missing(header, spec, None)
    if missing_required:
        raise FeedSchemaError(
            f"{ctx.feed}/{ctx.file}: missing required columns {missing_required}; the header has {len(header)} columns. "
            f"Expected every one of {spec.required()} (matched after trimming spaces, full-width brackets and "
            "units) — ask the department to resend the file with the full header",
            feed=ctx.feed,
            file=ctx.file,
            reason="missing_required_columns",
        )
    n = len(header)
    names, unknown = _column_names(header, spec, None)

    body = _csv_body_fast(data, header)
    bad: list[tuple[int, list[str]]] = []
    blank = 0
    if body is None:
        body, bad, blank = _csv_body_exact(data, n, ctx)
    quarantine = [
        {
            **ctx.locator(),
            "record_no": no,
            "member_no": 1,
            "raw_text": _raw_text(_csv_line(row)),
            "reason": "wrong_field_count",
            "message": f"{ctx.feed}/{ctx.file} record {no}: {len(row)} fields, expected {n} as in the header; "
            "quarantined, the rest of the file goes on",
        }
        for no, row in bad
    ]
    # NUL bytes and oversized fields: rare, found vectorised, handled row by row.
    checks: list[pl.Expr] = []
    if b"\x00" in data:
        checks.append(
            pl.any_horizontal([pl.col(c).str.contains("\x00", literal=True) for c in body.columns if c != "record_no"])
            .fill_null(False)
            .alias("_nul")
        )
    if len(data) > MAX_FIELD_BYTES:
        checks.append(
            pl.any_horizontal([pl.col(c).str.len_bytes() > MAX_FIELD_BYTES for c in body.columns if c != "record_no"])
            .fill_null(False)
            .alias("_long")
        )
    if checks:
        flags = body.select(checks)
        hit = pl.any_horizontal(pl.all()).fill_null(False)
        mask = flags.select(hit).to_series()
        if mask.any():
            bad_rows = body.filter(mask)
            bad_flags = flags.filter(mask)
            for row, flag in zip(bad_rows.iter_rows(), bad_flags.iter_rows(named=True)):
                record_no, fields = row[0], list(row[1:])
                reason = "nul_byte" if flag.get("_nul") else "field_too_long"
                quarantine.append(_csv_bad(ctx, record_no, fields, reason, names))
            body = body.filter(~mask)

    frame = body.rename({f"_c{i}": names[i] for i in range(n)}).with_columns(
        pl.lit(ctx.feed).alias("feed"),
        pl.lit(ctx.file).alias("file"),
        pl.lit(ctx.file_md5).alias("file_md5"),
        pl.lit("").alias("sheet"),
        pl.lit(1, dtype=pl.Int32).alias("member_no"),
    )
    q = _quarantine(sorted(quarantine, key=lambda r: r["record_no"]))
    return ReadResult(
        frame=_finish(frame, spec, None, []),
        quarantine=q,
        records=frame.height + q.height,
        skipped={"empty": blank} if blank else {},
        encoding=encoding,
        encoding_switched=switched,
        unknown_columns=unknown,
        missing_optional=missing_optional,
        absent_columns=[c for c in spec.all_names if c not in names],
    )


def _csv_header(data: bytes) -> list[str]:
    # The header is the first record; 64 KiB holds any real header, even with quoted line breaks.
    head = data[: 1 << 16].decode("utf-8", "ignore")
    for row in csv.reader(io.StringIO(head, newline="")):
        return row if any(v.strip() for v in row) else []
    return []


def _csv_options(n: int) -> dict:
    return dict(
        has_header=False,
        skip_rows=1,
        schema={f"_c{i}": pl.String for i in range(n + 1)},  # one spare column catches surplus fields
        truncate_ragged_lines=True,
        missing_columns="insert",
        quote_char='"',
        comment_prefix=None,
        raise_if_empty=False,
    )


def _csv_body_fast(data: bytes, header: list[str]) -> pl.DataFrame | None:
    """Parse with Polars; None when the field counts may be off (then the exact path decides)."""
    n = len(header)
    try:
        body = pl.read_csv(data, **_csv_options(n))
    except pl.exceptions.PolarsError as err:
        # e.g. a stray quote inside an unquoted field: the csv module reads such records literally
        log.info("polars could not split the records (%s); reading record by record", type(err).__name__)
        return None
    # Every record has exactly n-1 separating commas iff the commas outside field values add up.
    inside = (
        body.select(
            pl.sum_horizontal([pl.col(c).str.count_matches(",", literal=True).sum() for c in body.columns])
        ).item()
        or 0
    )
    header_inside = sum(h.count(",") for h in header)
    if body[f"_c{n}"].null_count() != body.height or data.count(b",") - inside - header_inside != (n - 1) * (
        body.height + 1
    ):
        return None
    return body.drop(f"_c{n}").with_row_index("record_no", offset=1).with_columns(pl.col("record_no").cast(pl.Int64))


def _csv_body_exact(data: bytes, n: int, ctx: _Ctx) -> tuple[pl.DataFrame, list, int]:
    """Record by record with the csv module: only when some record has the wrong number of fields
    (or Polars could not split the records). Blank lines are not records: they are counted apart."""
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        rows = [row for row in csv.reader(io.StringIO(data.decode("utf-8"), newline=""))]
    except csv.Error as err:
        raise FeedFormatError(
            f"{ctx.feed}/{ctx.file}: not readable as RFC 4180 CSV ({err}); expected comma-separated records "
            "with double-quoted fields — ask the department to re-export the file",
            feed=ctx.feed,
            file=ctx.file,
            reason="unreadable",
        ) from err
    finally:
        csv.field_size_limit(limit)
    blank = sum(1 for row in rows[1:] if not row)
    good: list[list[str | None]] = []
    numbers: list[int] = []
    bad: list[tuple[int, list[str]]] = []
    for record_no, row in enumerate((row for row in rows[1:] if row), 1):
        if len(row) == n:
            good.append([v if v != "" else None for v in row])
            numbers.append(record_no)
        else:
            bad.append((record_no, row))
    schema = {f"_c{i}": pl.String for i in range(n)}
    body = pl.DataFrame(good, schema=schema, orient="row") if good else pl.DataFrame(schema=schema)
    body = body.with_columns(pl.Series("record_no", numbers, dtype=pl.Int64)).select(["record_no", *schema])
    return body, bad, blank


def _csv_bad(ctx: _Ctx, record_no: int, fields: list, reason: str, names: list[str]) -> dict[str, object]:
    if reason == "nul_byte":
        cols = [names[i] for i, v in enumerate(fields) if v is not None and "\x00" in v]
        message = f"{ctx.feed}/{ctx.file} record {record_no}: NUL byte in column(s) {cols}; quarantined, the rest of the file goes on"
    else:
        cols = [
            f"{names[i]} ({len(v.encode('utf-8'))} bytes)"
            for i, v in enumerate(fields)
            if v is not None and len(v.encode("utf-8")) > MAX_FIELD_BYTES
        ]
        message = (
            f"{ctx.feed}/{ctx.file} record {record_no}: field(s) {cols} longer than {MAX_FIELD_BYTES} bytes; "
            "quarantined, the rest of the file goes on"
        )
    return {
        **ctx.locator(),
        "record_no": record_no,
        "member_no": 1,
        "raw_text": _raw_text(_csv_line(fields)),
        "reason": reason,
        "message": message,
    }


# --------------------------------------------------------------------------- workbooks

_BLANK = r"[\s\u3000\u200b\u200c\u200d\ufeff]+"
_SIGNATURE = r"^(制表人|制表|审核人|审核|填报日期|填报人|制表日期|负责人|单位负责人|分管领导|经办人|复核人|联系人:|盖章|单位盖章|领导签字|签字)"
_NOTE = r"^(备注|说明|注)[:：]"
_TOTALS = ["合计", "总计", "小计"]


def _read_xlsx(path: Path, spec: TableSpec, ctx: _Ctx) -> ReadResult:
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
        sheet_names = list(reader.sheet_names)
    except Exception as err:  # fastexcel raises its own and calamine's errors for corrupt archives
        raise FeedFormatError(
            f"{ctx.feed}/{ctx.file}: cannot be opened as an Office Open XML workbook "
            f"({type(err).__name__}); expected an .xlsx file — ask the department to re-save it as .xlsx and resend it",
            feed=ctx.feed,
            file=ctx.file,
            reason="unreadable",
        ) from err

    frames: list[pl.DataFrame] = []
    quarantine: list[pl.DataFrame] = []
    skipped = {"title": 0, "note": 0, "header": 0, "empty": 0, "total": 0, "signature": 0}
    result = ReadResult(frame=_empty_frame(spec), quarantine=_quarantine([]), records=0, skipped=skipped)
    unknown_all: dict[str, None] = {}
    missing_all: dict[str, None] = {}
    for sheet in sheet_names:
        if sheet not in spec.sheets:
            result.unknown_sheets.append(sheet)
            continue
        result.sheets.append(sheet)
        try:
            strings, booleans = _sheet_views(reader, sheet)
        except Exception as err:
            raise FeedFormatError(
                f"{ctx.feed}/{ctx.file} sheet {sheet!r}: cannot be read ({type(err).__name__}); "
                "ask the department to re-save the workbook and resend it",
                feed=ctx.feed,
                file=ctx.file,
                reason="unreadable",
            ) from err
        data, q, unknown, missing = _sheet(strings, booleans, spec, sheet, ctx, skipped, result.failed_sheets)
        if data is not None:
            frames.append(data)
            unknown_all.update(dict.fromkeys(unknown))
            missing_all.update(dict.fromkeys(missing))
        if q.height:
            quarantine.append(q)

    extra = ["_numeric_cells"]
    if frames:
        result.frame = pl.concat(frames, how="diagonal_relaxed")
        spec_names = spec.all_names
        rest = [c for c in result.frame.columns if c not in _LOCATOR_SCHEMA and c not in spec_names and c not in extra]
        add = [pl.lit(None, dtype=pl.String).alias(n) for n in spec_names if n not in result.frame.columns]
        result.frame = result.frame.with_columns(add).select([*LOCATOR, *spec_names, *rest, *extra])
    else:
        result.frame = _empty_frame(spec).with_columns(pl.lit(None, dtype=pl.String).alias("_numeric_cells"))
    result.frame = result.frame.cast({"record_no": pl.Int64, "member_no": pl.Int32})
    if quarantine:
        result.quarantine = pl.concat(quarantine).cast(QUARANTINE_SCHEMA)
    result.unknown_columns = list(unknown_all)
    result.missing_optional = list(missing_all)
    result.records = result.frame.select("sheet", "record_no").n_unique() if result.frame.height else 0
    result.records += result.quarantine.height
    return result


#: The text fastexcel gives a number cell (Rust's ``{:.9}`` of the double with trailing zeros cut, or the integer)
#: always matches this; a text cell may too ("0012", a 流水号 of digits) and only the typed view tells them apart.
_NUMBER_TEXT = r"^-?(?:\d+(?:\.\d+)?|inf)$|^NaN$"


def _sheet_views(reader, sheet: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A sheet's cells as text, and as booleans where that tells a number cell from a text cell: the second
    frame holds only the columns that may have number cells (none of the others has one).

    fastexcel (0.21) types a column, not a cell, and fixes the types when it loads a sheet: one load cannot
    give both views, so the sheet is parsed twice. The second, typed load is limited to the columns where
    some cell's text could be a number's (a number cell read as a boolean is never null, a text or date cell
    always is), and skipped for a sheet with none. Phones, IDs and 流水号 typed as text look like numbers,
    so most sheets still need it. Both loads are eager: fastexcel then reads the cells by reference into the
    shared strings rather than copying them into a sheet object first.
    """
    load = {"header_row": None, "skip_rows": 0, "eager": True}
    # pl.DataFrame takes the record batch through the Arrow C interface: pl.from_arrow (via pyarrow) made
    # loading a day's small sheets 2.6 times as long (3.7 against 1.4 ms a service list, CPU)
    strings = pl.DataFrame(reader.load_sheet(sheet, dtypes="string", **load))
    maybe = (
        strings.select(pl.col(pl.String).str.contains(_NUMBER_TEXT).any()).row(0, named=True) if strings.height else {}
    )
    typed = [c for c in strings.columns if maybe.get(c)]
    if not typed:
        return strings, pl.DataFrame()
    # the plain Arrow conversion, not to_arrow_with_errors: that also builds a Python error object for every
    # text cell, which was a third of reading a day's service list (the values are the same)
    booleans = pl.DataFrame(reader.load_sheet(sheet, dtypes="boolean", use_columns=typed, **load))
    if booleans.columns != typed or booleans.height != strings.height:
        raise ValueError(f"sheet {sheet!r}: the typed load has columns {booleans.columns}, {booleans.height} rows")
    return strings, booleans


#: Excel stores and shows a number with at most 15 significant digits
_EXCEL_DIGITS = 15
_PLAIN_NUMBER = r"^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$"


def excel_number_text(text: str) -> str:
    """A number cell's text as Excel shows it: 15 significant digits, no exponent.

    fastexcel renders a float cell as the exact value of its binary double, so
    an ID Excel stored as ``5.2260119900314E+17`` comes out as
    ``522601199003139968`` rather than ``522601199003140000``: the lost digits
    borrow into the birth date (the 14th of the month becomes the 13th). Only
    the digits Excel kept are the department's.

    >>> excel_number_text("522601199003139968")
    '522601199003140000'
    >>> excel_number_text("0.30000000000000004")
    '0.3'
    """
    return format(Decimal(f"{float(text):.{_EXCEL_DIGITS}g}"), "f")


def _as_excel_shows(values: pl.Series, numeric: pl.Series) -> pl.Series:
    """Number cells whose text has more digits than Excel keeps, re-rendered with the digits it keeps."""
    # 15 characters hold at most 15 significant digits: such text is already what Excel shows
    long = (
        numeric.is_not_null() & (values.str.len_chars() > _EXCEL_DIGITS) & values.str.contains(_PLAIN_NUMBER)
    ).fill_null(False)
    if not long.any():
        return values
    mapping = {v: excel_number_text(v) for v in values.filter(long).unique().to_list()}
    return pl.select(pl.when(long).then(values.replace(mapping)).otherwise(values)).to_series().alias(values.name)


def _clean(col: str) -> pl.Expr:
    text = pl.col(col).str.normalize("NFKC").str.replace_all(_BLANK, "")
    return pl.when(text == "").then(None).otherwise(text)


#: Printable ASCII without a space: NFKC leaves it as it is and it holds no blank, so :func:`_clean` would too
_CLEAN_ALREADY = r"^[!-~]+$"
#: ... which pays from this many distinct values of a column on (below, finding them costs more than it saves)
_CLEAN_SKIP_FROM = 512


def _clean_each(col: str) -> pl.Expr:
    """:func:`_clean` once per distinct value of the column: a sheet's statuses, categories, communities and
    dates repeat, and NFKC over every cell was a fifth of reading a day's service list. Values of printable
    ASCII (IDs, 流水号, codes, phones, numbers, ISO dates: most of a workbook's unique values) are clean as
    they are and skip it, a tenth of reading a month's credit workbook."""

    def rule(values: pl.Series) -> pl.Series:
        if values.len() < _CLEAN_SKIP_FROM:
            return values.to_frame().select(_clean(values.name)).to_series()
        ready = values.str.contains(_CLEAN_ALREADY).fill_null(False)
        if ready.all():
            return values
        todo = (~ready).arg_true()
        cleaned = values.gather(todo).to_frame().select(_clean(values.name)).to_series()
        return values.clone().scatter(todo, cleaned)

    return pl.col(col).map_batches(lambda v: _per_unique(v, rule), return_dtype=pl.String, is_elementwise=True)


def _sheet(strings, booleans, spec, sheet, ctx, skipped, failed):
    """One sheet: (data frame or None when the sheet failed, quarantine, unknown columns, missing optional)."""
    if strings.width == 0 or strings.height == 0:
        return None, _quarantine([]), [], []
    cols = [f"_c{i}" for i in range(strings.width)]
    loaded = dict(zip(strings.columns, cols))
    strings = strings.rename(loaded)
    booleans = booleans.rename(loaded, strict=False)  # only the columns typed
    required = [normalise_header(h) for h in spec.required(sheet)]
    known = list(spec.header_map(sheet))
    clean = strings.select([_clean_each(c).alias(c) for c in cols])  # once: NFKC + no blanks, "" as null
    cleaned = [pl.col(c) for c in cols]
    header_like = pl.all_horizontal([pl.any_horizontal([(e == h).fill_null(False) for e in cleaned]) for h in required])
    known_hits = pl.sum_horizontal([e.is_in(known).fill_null(False).cast(pl.Int32) for e in cleaned])
    marks = clean.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
        pl.coalesce(cleaned).alias("_first"),
        pl.sum_horizontal([e.is_not_null().cast(pl.Int32) for e in cleaned]).alias("_filled"),
        header_like.alias("_is_header"),
        known_hits.alias("_known"),
        pl.any_horizontal([e.is_in(_TOTALS).fill_null(False) for e in cleaned]).alias("_is_total"),
    )
    header_rows = marks.filter(pl.col("_is_header"))["_row"]
    header_idx = header_rows[0] if header_rows.len() else None
    message = None
    if header_idx is None:
        # Fail this sheet alone; still find its header (the row naming most known columns) to keep the data rows.
        best = marks.filter(pl.col("_known") >= 2).sort("_known", "_row", descending=[True, False]).head(1)
        header_idx = best["_row"][0] if best.height else None
        head = [] if header_idx is None else [v or "" for v in strings.row(header_idx)]
        missing_req, _ = _missing(head, spec, sheet)
        message = (
            f"{ctx.feed}/{ctx.file} sheet {sheet!r}: missing required columns {missing_req}; expected "
            f"{spec.required(sheet)} in the header row — the other sheets were loaded; ask the department to "
            "fix this sheet's header and resend the workbook"
        )
        failed[sheet] = message
        if header_idx is not None:
            marks = marks.with_columns((pl.col("_row") == header_idx).alias("_is_header"))
    if header_idx is None:
        header_idx = -1
    row = pl.col("_row")
    before = row < header_idx
    first_filled = marks.filter(before & (pl.col("_filled") > 0))["_row"]
    title_row = first_filled[0] if first_filled.len() else -1
    kind = (
        pl.when(pl.col("_filled") == 0)
        .then(pl.lit("empty"))
        .when(before & (row == title_row))
        .then(pl.lit("title"))
        .when(before)
        .then(pl.lit("note"))
        .when(pl.col("_is_header") | (row == header_idx))
        .then(pl.lit("header"))
        .when(pl.col("_is_total") | pl.col("_first").str.starts_with("合计"))
        .then(pl.lit("total"))
        .when(pl.col("_first").str.contains(_SIGNATURE))
        .then(pl.lit("signature"))
        .when((pl.col("_filled") == 1) & pl.col("_first").str.contains(_NOTE))
        .then(pl.lit("note"))
        .otherwise(pl.lit("data"))
    )
    marks = marks.with_columns(kind.alias("_kind"))
    for k, count in marks.group_by("_kind").len().iter_rows():
        if k != "data":
            skipped[k] += count
    data_mask = marks["_kind"] == "data"
    record_no = (marks["_row"].filter(data_mask) + 1).cast(pl.Int64)
    locator = [
        pl.lit(ctx.feed).alias("feed"),
        pl.lit(ctx.file).alias("file"),
        pl.lit(ctx.file_md5).alias("file_md5"),
        pl.lit(sheet).alias("sheet"),
        pl.lit(1, dtype=pl.Int32).alias("member_no"),
    ]
    if message is not None:
        rows = strings.filter(data_mask)
        q = (
            rows.select(
                pl.concat_str([pl.col(c).fill_null("") for c in cols], separator="\t")
                .str.replace_all("\x00", "\\x00", literal=True)
                .str.slice(0, RAW_TEXT_CHARS)
                .alias("raw_text")
            )
            .with_columns(
                *locator,
                pl.Series("record_no", record_no),
                pl.lit("sheet_missing_required_columns").alias("reason"),
                pl.lit(message).alias("message"),
            )
            .select(list(QUARANTINE_SCHEMA))
        )
        return None, q, [], []

    header = [v or "" for v in strings.row(header_idx)]
    names, unknown = _column_names(header, spec, sheet)
    _, missing_optional = _missing(header, spec, sheet)
    numeric = booleans.filter(data_mask) if booleans.width else booleans
    data = strings.filter(data_mask)
    data = data.with_columns(_as_excel_shows(data[c], numeric[c]) for c in cols if c in numeric.columns)
    # A header-less column with nothing in it is layout, not data.
    keep = [i for i, c in enumerate(cols) if header[i].strip() or data[c].null_count() < data.height]
    unknown = [u for u in unknown if u in {names[i] for i in keep}]
    numeric_flag = [
        pl.when(numeric[cols[i]].is_not_null() & ~data[cols[i]].is_in(["true", "false"]).fill_null(False)).then(
            pl.lit(names[i])
        )
        for i in keep
        if cols[i] in numeric.columns
    ]
    numeric_cells = (
        data.select(pl.concat_str(numeric_flag, separator=",", ignore_nulls=True).fill_null("").alias("_numeric_cells"))
        if numeric_flag
        else pl.DataFrame({"_numeric_cells": [""] * data.height})
    )
    frame = data.select([pl.col(cols[i]).alias(names[i]) for i in keep]).with_columns(
        *locator, pl.Series("record_no", record_no), numeric_cells["_numeric_cells"]
    )
    return frame, _quarantine([]), unknown, missing_optional


# --------------------------------------------------------------------------- JSON Lines


def _read_jsonl(path: Path, spec: TableSpec, ctx: _Ctx) -> ReadResult:
    raw = path.read_bytes()
    # The contract states UTF-8, but a department that switches systems may send GB18030: read it all the
    # same and report the switch, as for CSV.
    encoding, data = detect_encoding(raw, feed=ctx.feed, file=ctx.file, declared=spec.encoding)
    lines = data.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return _json_records(lines, spec, ctx, encoding=encoding, raw=raw, unit="line")


def _read_json_array(path: Path, spec: TableSpec, ctx: _Ctx) -> ReadResult:
    """A JSON array of objects (an Open311 GeoReport v2 export): element n is record n, as line n of JSON
    Lines is; a file that is not one array is unreadable as a whole (nothing in it can be trusted)."""
    raw = path.read_bytes()
    encoding, data = detect_encoding(raw, feed=ctx.feed, file=ctx.file, declared=spec.encoding)
    try:
        doc = json.loads(data.decode("utf-8"))
    except json.JSONDecodeError as err:
        raise FeedFormatError(
            f"{ctx.feed}/{ctx.file}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); expected one "
            "JSON array of service requests — ask the department to re-export the file; nothing was loaded",
            feed=ctx.feed,
            file=ctx.file,
            reason="unreadable",
        ) from err
    if not isinstance(doc, list):
        raise FeedFormatError(
            f"{ctx.feed}/{ctx.file}: a JSON {type(doc).__name__} at the top, expected an array of service requests "
            "— ask the department to re-export the file; nothing was loaded",
            feed=ctx.feed,
            file=ctx.file,
            reason="unreadable",
        )
    lines = [json.dumps(element, ensure_ascii=False) for element in doc]
    return _json_records(lines, spec, ctx, encoding=encoding, raw=raw, unit="element")


def _json_records(lines: list[str], spec: TableSpec, ctx: _Ctx, *, encoding: str, raw: bytes, unit: str) -> ReadResult:
    """One JSON object per entry of ``lines`` (its 1-based position is the record number)."""
    declared = set(spec.header_map())
    prefixes = {k.split(".", 1)[0] for k in declared if "." in k}
    required = spec.required()
    rows: list[dict[str, str | None]] = []
    bad: list[dict[str, object]] = []
    keys: dict[str, None] = {}
    for line_no, line in enumerate(lines, 1):
        line = line.removesuffix("\r")
        where = f"{ctx.feed}/{ctx.file} {unit} {line_no}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            bad.append(
                _json_bad(
                    ctx,
                    line_no,
                    line,
                    "broken_json",
                    f"{where}: not valid JSON ({err.msg} at column {err.colno}); quarantined, the next line goes on",
                )
            )
            continue
        if not isinstance(obj, dict):
            bad.append(
                _json_bad(
                    ctx,
                    line_no,
                    line,
                    "broken_json",
                    f"{where}: a JSON {type(obj).__name__}, expected an object; quarantined",
                )
            )
            continue
        absent = [k for k in required if obj.get(k) in (None, "")]
        if absent:
            bad.append(
                _json_bad(
                    ctx, line_no, line, "missing_required_keys", f"{where}: missing required keys {absent}; quarantined"
                )
            )
            continue
        base: dict[str, str | None] = {}
        _flatten(obj, "", prefixes, base)
        people = obj.get("xfr")
        members: list[dict[str, str | None]] = []
        if isinstance(people, list) and people:
            for person in people:
                member: dict[str, str | None] = {}
                if isinstance(person, dict):
                    _flatten(person, "xfr.", {"xfr"}, member)
                else:
                    member["xfr"] = _json_text(person)
                members.append(member)
        else:
            if people not in (None, []):
                base["xfr"] = _json_text(people)
            members.append({})
        cells = [(k, v) for part in (base, *members) for k, v in part.items() if v]
        nul = sorted({k for k, v in cells if "\x00" in v})
        long = sorted(
            {
                f"{k} ({len(v.encode('utf-8'))} bytes)"
                for k, v in cells
                if len(v) > MAX_FIELD_BYTES // 4 and len(v.encode("utf-8")) > MAX_FIELD_BYTES
            }
        )
        if nul or long:  # as a CSV row with such a cell: the record is quarantined, the file goes on
            what = f"NUL byte in key(s) {nul}" if nul else f"key(s) {long} longer than {MAX_FIELD_BYTES} bytes"
            bad.append(
                _json_bad(
                    ctx,
                    line_no,
                    line,
                    "nul_byte" if nul else "field_too_long",
                    f"{where}: {what}; quarantined, the next line goes on",
                )
            )
            continue
        for member_no, member in enumerate(members, 1):
            row = {"record_no": line_no, "member_no": member_no, **base, **member}
            keys.update(dict.fromkeys(row))
            rows.append(row)
    known = spec.header_map()
    names = {k: known.get(normalise_header(k), k) for k in keys if k not in ("record_no", "member_no")}
    schema = {"record_no": pl.Int64, "member_no": pl.Int32, **{k: pl.String for k in names}}
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    frame = frame.rename(names).with_columns(
        pl.lit(ctx.feed).alias("feed"),
        pl.lit(ctx.file).alias("file"),
        pl.lit(ctx.file_md5).alias("file_md5"),
        pl.lit("").alias("sheet"),
    )
    unknown = [v for v in names.values() if v not in known.values()]
    q = _quarantine(bad)
    return ReadResult(
        frame=_finish(frame, spec, None, []),
        quarantine=q,
        records=(frame["record_no"].n_unique() if frame.height else 0) + q.height,
        encoding=encoding,
        encoding_switched=_switched(encoding, spec.encoding, raw),
        unknown_columns=unknown,
        # a key no line carries; an empty file says nothing about its keys
        missing_optional=[
            c.header for c in spec.columns if not c.required and not c.added_later and c.name not in frame.columns
        ]
        if rows
        else [],
    )


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _flatten(obj: dict, prefix: str, nested: set[str], out: dict[str, str | None]) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if name == "xfr":
            continue  # exploded by the caller
        if isinstance(value, dict) and not prefix and key in nested:
            _flatten(value, f"{name}.", set(), out)
        else:
            out[name] = _json_text(value)


def _json_bad(ctx: _Ctx, line_no: int, line: str, reason: str, message: str) -> dict[str, object]:
    return {
        **ctx.locator(),
        "record_no": line_no,
        "member_no": 1,
        "raw_text": _raw_text(line),
        "reason": reason,
        "message": message,
    }


# --------------------------------------------------------------------------- GeoJSON


def _read_geojson(path: Path, spec: TableSpec, ctx: _Ctx) -> ReadResult:
    raw = path.read_bytes()
    encoding, data = detect_encoding(raw, feed=ctx.feed, file=ctx.file, declared=spec.encoding)

    def unreadable(problem: str, err: Exception | None = None) -> FeedFormatError:
        return FeedFormatError(
            f"{ctx.feed}/{ctx.file}: {problem}; expected a GeoJSON FeatureCollection whose features carry "
            "property '网格编码' — ask the centre to re-export the boundaries",
            feed=ctx.feed,
            file=ctx.file,
            reason="unreadable",
        )

    try:
        doc = json.loads(data.decode("utf-8"))
    except json.JSONDecodeError as err:
        raise unreadable(f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
        raise unreadable("no 'features' list")
    rows: list[dict[str, object]] = []
    bad: list[dict[str, object]] = []
    for no, feature in enumerate(doc["features"], 1):
        props = feature.get("properties") if isinstance(feature, dict) else None
        code = _json_text(props.get("网格编码")) if isinstance(props, dict) else None
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if code in (None, "") or geometry is None:
            bad.append(
                {
                    **ctx.locator(),
                    "record_no": no,
                    "member_no": 1,
                    "raw_text": _raw_text(_json_text(feature) or ""),
                    "reason": "missing_required_keys",
                    "message": f"{ctx.feed}/{ctx.file} feature {no}: no '网格编码' property or no geometry; quarantined",
                }
            )
            continue
        rows.append({"record_no": no, "grid_code": code, "geometry": _json_text(geometry)})
    schema = {"record_no": pl.Int64, "grid_code": pl.String, "geometry": pl.String}
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    frame = frame.with_columns(
        pl.lit(ctx.feed).alias("feed"),
        pl.lit(ctx.file).alias("file"),
        pl.lit(ctx.file_md5).alias("file_md5"),
        pl.lit("").alias("sheet"),
        pl.lit(1, dtype=pl.Int32).alias("member_no"),
    )
    q = _quarantine(bad)
    return ReadResult(
        frame=_finish(frame, spec, None, []),
        quarantine=q,
        records=frame.height + q.height,
        encoding=encoding,
        encoding_switched=_switched(encoding, spec.encoding, raw),
    )
