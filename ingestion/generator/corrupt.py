"""corrupt_landing(): a copy of a generated landing zone with every delivery fault the spec names."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xlsxwriter

log = logging.getLogger(__name__)

_CSV_FEEDS = ("grid_registry", "police_population", "police_incidents", "grid_events")
_GB18030_FEEDS = ("police_population", "police_incidents")
_REQUIRED = {
    "grid_units.csv": "网格编码",
    "address_points.csv": "网格编码",
    "SYRK": "证件号码",
    "JQ": "警情编号",
    "SB": "事件编号",
}
_TEXT_FIELD = {
    "grid_units.csv": "网格名称",
    "address_points.csv": "标准地址",
    "SYRK": "姓名",
    "JQ": "简要警情",
    "SB": "事件描述",
}


def _col(header: list, name: str) -> int:
    """Index of column ``name`` in a header whose cells may carry the seed's noise (stray spaces, （）)."""
    clean = [
        str(h).strip(" \u3000\u200b\ufeff").replace("（", "(").replace("）", ")") if h is not None else h
        for h in header
    ]
    return clean.index(name)


@dataclass(frozen=True)
class Corruption:
    """One injected fault: the file it is in, what was done and what the warehouse should do about it."""

    path: Path  # the damaged (or new) file inside dst_landing
    feed: str
    kind: str
    expected: str  # reject_file, wait_for_flag, refuse_name, load_and_report_encoding, load_and_report_drift,
    # quarantine_record, fail_sheet, flag_damaged_ids, no_change
    detail: str = ""


def _kind_key(name: str) -> str:
    return name if name in _REQUIRED else name.split("_")[0]


def _write_flag(path: Path, data: bytes, rows: int, template: Path | None) -> None:
    old = template.read_bytes() if template is not None and template.exists() else b"rows=0\nmd5=x\n"
    nl = "\r\n" if b"\r\n" in old else "\n"
    text = f"rows={rows}{nl}" + (f"md5={hashlib.md5(data).hexdigest()}{nl}" if b"md5=" in old else "")
    path.with_name(path.name + ".ok").write_bytes(text.encode("utf-8"))


def _decode(data: bytes) -> tuple[str, str, bool]:
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        return data[3 if bom else 0 :].decode("utf-8"), "utf-8", bom
    except UnicodeDecodeError:
        return data.decode("gb18030"), "gb18030", False


def _read_csv(path: Path) -> tuple[list[list[str]], str, bool, str]:
    data = path.read_bytes()
    text, enc, bom = _decode(data)
    nl = "\r\n" if "\r\n" in text[:4096] else "\n"
    return list(csv.reader(io.StringIO(text, newline=""))), enc, bom, nl


def _write_csv(path: Path, rows: list[list[str]], enc: str, bom: bool, nl: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=nl).writerows(rows)
    data = (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode(enc)
    path.write_bytes(data)
    return data


class _Picker:
    """Hands out distinct undamaged files of a feed; clones one into a new folder when they run out."""

    def __init__(self, root: Path, feed: str, rng: np.random.Generator) -> None:
        self.root, self.feed, self.rng = root, feed, rng
        files = sorted(p for p in (root / feed).glob("*/*") if not p.name.endswith(".ok"))
        digests = [hashlib.md5(p.read_bytes()).hexdigest() for p in files]
        # a file delivered twice stays untouched so that resends remain identical
        self.pool = [
            p for p, d in zip(files, digests) if digests.count(d) == 1 and (p.parent / (p.name + ".ok")).exists()
        ]
        self.pool = [self.pool[i] for i in rng.permutation(len(self.pool))]
        self.used: list[Path] = []
        self.clones = 0

    def take(self, suffix: str) -> Path | None:
        for i, p in enumerate(self.pool):
            if p.name.endswith(suffix):
                self.used.append(self.pool.pop(i))
                return p
        src = next((p for p in self.used if p.name.endswith(suffix)), None)
        if src is None:
            return None
        self.clones += 1
        folder = dt.date.fromisoformat(src.parent.name) + dt.timedelta(days=400 + self.clones)
        dst = self.root / self.feed / folder.isoformat() / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        original = self._original.get(src, src)
        shutil.copyfile(original, dst)
        shutil.copyfile(original.with_name(original.name + ".ok"), dst.with_name(dst.name + ".ok"))
        return dst

    _original: dict[Path, Path] = {}


def _rows_in_flag(flag: Path) -> int:
    for line in flag.read_text("utf-8").splitlines():
        if line.startswith("rows="):
            return int(line[5:])
    raise ValueError(f"flag {flag} has no rows= line")


def corrupt_landing(src_landing: Path, dst_landing: Path, *, seed: int) -> list[Corruption]:
    """Copy ``src_landing`` to ``dst_landing`` and damage files of every feed in every way the spec names."""
    src_landing, dst_landing = Path(src_landing), Path(dst_landing)
    if not src_landing.is_dir():
        raise FileNotFoundError(f"src_landing={str(src_landing)!r} is not a directory")
    if dst_landing.exists():
        shutil.rmtree(dst_landing)
    shutil.copytree(src_landing, dst_landing)
    # keep a pristine copy to clone from (files are damaged in place)
    pristine = dst_landing.parent / (dst_landing.name + ".pristine")
    if pristine.exists():
        shutil.rmtree(pristine)
    shutil.copytree(src_landing, pristine)
    rng = np.random.default_rng([seed, 900])
    out: list[Corruption] = []
    feeds = sorted(p.name for p in dst_landing.iterdir() if p.is_dir())
    try:
        for feed in feeds:
            pick = _Picker(dst_landing, feed, rng)
            _Picker._original = {p: pristine / p.relative_to(dst_landing) for p in pick.pool}
            out += _flag_faults(pick, feed)
            out += _name_faults(pick, feed)
            if feed in _CSV_FEEDS:
                out += _csv_faults(pick, feed, rng)
            if feed == "petitions":
                out += _jsonl_faults(pick, feed)
            if feed == "civil_affairs":
                out += _workbook_faults(pick, feed)
            out += _renamed_resend(pick, feed)
    finally:
        shutil.rmtree(pristine)
    log.info("corrupted %d files under %s", len(out), dst_landing)
    return sorted(out, key=lambda c: (c.feed, c.kind, str(c.path)))


def _flag_faults(pick: _Picker, feed: str) -> list[Corruption]:
    out = []
    p = pick.take("")
    if p is not None:
        flag = p.with_name(p.name + ".ok")
        nl = "\r\n" if b"\r\n" in flag.read_bytes() else "\n"
        flag.write_bytes(f"rows={_rows_in_flag(flag)}{nl}md5={'0' * 32}{nl}".encode())
        out.append(Corruption(p, feed, "md5_mismatch", "reject_file"))
    p = pick.take("")
    if p is not None:
        flag = p.with_name(p.name + ".ok")
        text = flag.read_text("utf-8")
        n = _rows_in_flag(flag)
        flag.write_text(text.replace(f"rows={n}", f"rows={n + 1}", 1), "utf-8", newline="")
        out.append(Corruption(p, feed, "rows_mismatch", "reject_file", f"flag says {n + 1}, file has {n}"))
    p = pick.take("")
    if p is not None:
        p.with_name(p.name + ".ok").unlink()
        out.append(Corruption(p, feed, "missing_flag", "wait_for_flag", "still being transferred"))
    return out


def _name_faults(pick: _Picker, feed: str) -> list[Corruption]:
    src = pick.take("")
    if src is None:
        return []
    data = src.read_bytes()
    flag = src.with_name(src.name + ".ok").read_bytes()
    ext = "".join(src.suffixes[-1:])
    bad = {
        "leading_dash": f"-{src.name}",
        "leading_dot": f".{src.name}",
        "dot_dot": f"a..{src.name}",
        "control_char": f"bad\x07{src.name}",
        "too_long": "长" * 70 + ext,
    }
    out = []
    for detail, name in bad.items():
        dst = src.parent / name
        dst.write_bytes(data)
        (src.parent / (name + ".ok")).write_bytes(flag)
        out.append(Corruption(dst, feed, "unsafe_name", "refuse_name", detail))
    return out


def _renamed_resend(pick: _Picker, feed: str) -> list[Corruption]:
    src = pick.take("")
    if src is None:
        return []
    stem, ext = src.name.rsplit(".", 1)
    folder = dt.date.fromisoformat(src.parent.name) + dt.timedelta(days=3)
    dst = src.parent.parent / folder.isoformat() / f"{stem}(1).{ext}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    shutil.copyfile(src.with_name(src.name + ".ok"), dst.with_name(dst.name + ".ok"))
    return [Corruption(dst, feed, "resend_renamed", "no_change", f"same bytes as {src.parent.name}/{src.name}")]


def _csv_faults(pick: _Picker, feed: str, rng: np.random.Generator) -> list[Corruption]:
    out = []
    # bytes that decode in neither UTF-8 nor GB18030
    p = pick.take(".csv")
    if p is not None:
        data = p.read_bytes()
        cut = data.index(b"\n", len(data) // 2) + 1 if b"\n" in data[len(data) // 2 :] else len(data)
        data = data[:cut] + b"\x80\xff" + data[cut:]
        p.write_bytes(data)
        _write_flag(p, data, _rows_in_flag(p.with_name(p.name + ".ok")), p.with_name(p.name + ".ok"))
        out.append(Corruption(p, feed, "undecodable_bytes", "reject_file", "b'\\x80\\xff' inserted"))
    if feed in _GB18030_FEEDS:
        p = pick.take(".csv")
        if p is not None:
            text, enc, _ = _decode(p.read_bytes())
            data = b"\xef\xbb\xbf" + text.encode("utf-8")
            p.write_bytes(data)
            _write_flag(p, data, _rows_in_flag(p.with_name(p.name + ".ok")), p.with_name(p.name + ".ok"))
            out.append(Corruption(p, feed, "utf8_with_bom", "load_and_report_encoding", f"was {enc}"))

    def rewrite(kind: str, expected: str, change) -> None:
        p = pick.take(".csv")
        if p is None:
            return
        rows, enc, bom, nl = _read_csv(p)
        detail = change(p, rows)
        data = _write_csv(p, rows, enc, bom, nl)
        _write_flag(p, data, len(rows) - 1, p.with_name(p.name + ".ok"))
        out.append(Corruption(p, feed, kind, expected, detail))

    def drop_required(p: Path, rows: list[list[str]]) -> str:
        col = _col(rows[0], _REQUIRED[_kind_key(p.name)])
        for r in rows:
            del r[col]
        return f"column {_REQUIRED[_kind_key(p.name)]} removed"

    def add_extra(p: Path, rows: list[list[str]]) -> str:
        rows[0].append("备用字段1")
        for r in rows[1:]:
            r.append("x")
        return "column 备用字段1 added"

    def target(p: Path, rows: list[list[str]]) -> tuple[int, int]:
        if len(rows) < 2:
            rows.append(list(rows[-1]) if len(rows) > 1 else [""] * len(rows[0]))
        return 1 + len(rows[1:]) // 2, _col(rows[0], _TEXT_FIELD[_kind_key(p.name)])

    def nul(p: Path, rows: list[list[str]]) -> str:
        if len(rows) < 2:
            return "file has no record to damage"
        r, c = target(p, rows)
        v = rows[r][c]
        rows[r][c] = v[: len(v) // 2] + "\x00" + v[len(v) // 2 :]
        return f"record_no={r}"

    def big(p: Path, rows: list[list[str]]) -> str:
        if len(rows) < 2:
            return "file has no record to damage"
        r, c = target(p, rows)
        rows[r][c] = rows[r][c] + "长" * 10 + "x" * (1024 * 1024 + 4096)
        return f"record_no={r}"

    rewrite("required_column_missing", "reject_file", drop_required)
    rewrite("extra_column", "load_and_report_drift", add_extra)
    rewrite("nul_in_field", "quarantine_record", nul)
    rewrite("field_over_1mib", "quarantine_record", big)
    return out


def _jsonl_faults(pick: _Picker, feed: str) -> list[Corruption]:
    out = []

    def rewrite(kind: str, expected: str, change) -> None:
        # prefer a file that has lines
        for _ in range(50):
            p = pick.take(".jsonl")
            if p is None or p.stat().st_size > 0:
                break
        if p is None or p.stat().st_size == 0:
            return
        text, enc, bom = _decode(p.read_bytes())
        lines = text.split("\n")[:-1]
        detail = change(lines)
        data = (b"\xef\xbb\xbf" if bom else b"") + "".join(line + "\n" for line in lines).encode(enc)
        p.write_bytes(data)
        _write_flag(p, data, len(lines), p.with_name(p.name + ".ok"))
        out.append(Corruption(p, feed, kind, expected, detail))

    def obj_line(lines: list[str]) -> tuple[int, dict]:
        for i, line in enumerate(lines):
            try:
                return i, json.loads(line)
            except json.JSONDecodeError:
                continue
        return 0, {"xfjbh": "XF_CORRUPT"}

    def broken(lines):
        i, _ = obj_line(lines)
        lines[i] = lines[i][: max(5, len(lines[i]) // 2)]
        return f"record_no={i + 1} cut"

    def missing_key(lines):
        i, o = obj_line(lines)
        o.pop("blzt", None)
        lines[i] = json.dumps(o, ensure_ascii=False)
        return f"record_no={i + 1} without blzt"

    def extra_key(lines):
        for i, line in enumerate(lines):
            try:
                o = json.loads(line)
            except json.JSONDecodeError:
                continue
            o["xzzd"] = "新增字段"
            lines[i] = json.dumps(o, ensure_ascii=False)
        return "key xzzd added"

    def nul(lines):
        i, o = obj_line(lines)
        o["nrzy"] = "含\x00字符"
        lines[i] = json.dumps(o, ensure_ascii=False)
        return f"record_no={i + 1}"

    def big(lines):
        i, o = obj_line(lines)
        o["nrzy"] = "长" * 10 + "x" * (1024 * 1024 + 4096)
        lines[i] = json.dumps(o, ensure_ascii=False)
        return f"record_no={i + 1}"

    def undecodable(lines):
        i, _ = obj_line(lines)
        lines[i] = lines[i][:20] + "\udcff" + lines[i][20:]
        return f"record_no={i + 1}"

    rewrite("broken_json_line", "quarantine_record", broken)
    rewrite("required_column_missing", "quarantine_record", missing_key)
    rewrite("extra_column", "load_and_report_drift", extra_key)
    rewrite("nul_in_field", "quarantine_record", nul)
    rewrite("field_over_1mib", "quarantine_record", big)
    # bytes that decode in neither encoding
    p = pick.take(".jsonl")
    if p is not None:
        data = p.read_bytes()
        cut = len(data) // 2
        data = data[:cut] + b"\x80\xff" + data[cut:]
        p.write_bytes(data)
        _write_flag(p, data, data.count(b"\n"), p.with_name(p.name + ".ok"))
        out.append(Corruption(p, feed, "undecodable_bytes", "reject_file", "b'\\x80\\xff' inserted"))
    return out


def _read_workbook(path: Path) -> dict[str, list[list[object]]]:
    import fastexcel

    reader = fastexcel.read_excel(path.read_bytes())
    sheets = {}
    for name in reader.sheet_names:
        df = reader.load_sheet(name, header_row=None).to_polars()
        sheets[name] = [list(r) for r in df.iter_rows()]
    return sheets


def _write_workbook(path: Path, sheets: dict[str, list[list[object]]], transform) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
    wb.set_properties({"created": dt.datetime(2024, 1, 1, 9, 0, 0)})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        rows = transform(name, rows)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v is None or v == "":
                    continue
                if isinstance(v, (int, float)):
                    ws.write_number(r, c, v)
                elif isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 6:
                    ws.write_number(r, c, int(v))  # counters, ages, amounts come back as text
                elif isinstance(v, (dt.date, dt.datetime)):
                    ws.write_string(r, c, v.isoformat()[:10])
                else:
                    ws.write_string(r, c, str(v))
    wb.close()
    data = buf.getvalue()
    path.write_bytes(data)
    return data


def _header_row(rows: list[list[object]]) -> int:
    def has(r: list, name: str) -> bool:
        try:
            return _col(r, name) >= 0
        except ValueError:
            return False

    return next(i for i, r in enumerate(rows) if has(r, "身份证号码") or has(r, "姓名"))


def _workbook_faults(pick: _Picker, feed: str) -> list[Corruption]:
    out = []
    p = pick.take(".xlsx")
    if p is not None:
        sheets = _read_workbook(p)
        victim = sorted(sheets)[0]

        def drop(name, rows):
            if name != victim:
                return rows
            h = _header_row(rows)
            col = _col(rows[h], "身份证号码")
            return [r[:col] + r[col + 1 :] if i >= h else r for i, r in enumerate(rows)]

        data = _write_workbook(p, sheets, drop)
        _write_flag(p, data, _rows_in_flag(p.with_name(p.name + ".ok")), p.with_name(p.name + ".ok"))
        out.append(
            Corruption(p, feed, "sheet_missing_required_column", "fail_sheet", f"sheet {victim} lacks 身份证号码")
        )
    p = pick.take(".xlsx")
    if p is not None:
        sheets = _read_workbook(p)
        victim = sorted(sheets)[-1]

        def numeric(name, rows):
            if name != victim:
                return rows
            h = _header_row(rows)
            col = _col(rows[h], "身份证号码")
            for r in rows[h + 1 :]:
                v = r[col]
                if isinstance(v, str) and len(v) == 18 and v.isdigit():
                    r[col] = float(v[:15] + "000")
            return rows

        data = _write_workbook(p, sheets, numeric)
        _write_flag(p, data, _rows_in_flag(p.with_name(p.name + ".ok")), p.with_name(p.name + ".ok"))
        out.append(Corruption(p, feed, "numeric_ids", "flag_damaged_ids", f"sheet {victim} IDs stored as numbers"))
    return out
