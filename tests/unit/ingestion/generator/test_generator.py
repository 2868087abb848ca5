"""The sample-feed generator: flags, encodings, IDs, truth coverage, fault rates, determinism, corruption."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import fastexcel
import polars as pl
import pytest

from ingestion.generator import corrupt_landing, generate
from ingestion.generator._ids import check_char, is_valid_id

FEEDS = [
    "grid_registry",
    "police_population",
    "police_incidents",
    "civil_affairs",
    "petitions",
    "grid_events",
    "hotline_orders",
    "grid_visits",
    "credit_points",
    "service_lists",
]
GB18030 = {"police_population", "police_incidents"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    summary = generate(out, residents=2000, days=14, seed=11)
    return out, summary


def _flag(path: Path) -> dict[str, str]:
    text = path.with_name(path.name + ".ok").read_bytes().decode("utf-8")
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def _data_files(landing: Path) -> list[Path]:
    return sorted(p for p in landing.glob("*/*/*") if not p.name.endswith(".ok"))


def _switched(out: Path) -> dict[str, str]:
    """file name -> the truth's note on its encoding switch (``utf-8 with BOM instead of gb18030``)."""
    f = pl.read_parquet(out / "truth" / "faults.parquet").filter(pl.col("kind") == "encoding_switch")
    return dict(zip(f["file"], f["detail"]))


def _decode(path: Path, feed: str, switched: dict[str, str]) -> str:
    """The file's text in the encoding its feed page states, or in the one the truth says it switched to."""
    data = path.read_bytes()
    if feed in ("grid_registry", "hotline_orders"):  # both state UTF-8 with BOM
        assert data.startswith(b"\xef\xbb\xbf"), path
        return data[3:].decode("utf-8")
    # grid_visits' roster (WGY_) comes from another system than its visit log, in GB18030
    stated = "gb18030" if feed in GB18030 or path.name.startswith("WGY_") else "utf-8"
    note = switched.get(path.name)
    if note is None:
        assert not data.startswith(b"\xef\xbb\xbf"), path
        return data.decode(stated)
    enc = note.split()[0]
    assert enc != stated.lower() and ("with BOM" in note) == data.startswith(b"\xef\xbb\xbf"), (path, note)
    return data.removeprefix(b"\xef\xbb\xbf").decode(enc)


def _header(name: str) -> str:
    """A header cell as the contract reads it: stray (full-width, zero-width) spaces gone, （） as ()."""
    return name.strip(" \u3000\u200b\ufeff").replace("（", "(").replace("）", ")")


def _csv_records(text: str) -> list[dict[str, str]]:
    return [{_header(k): v for k, v in r.items()} for r in csv.DictReader(io.StringIO(text, newline=""))]


def _workbook_rows(path: Path) -> dict[str, list[tuple[int, list]]]:
    """Data rows per sheet as (Excel row number, values): rows whose 序号 cell holds a counter."""
    reader = fastexcel.read_excel(path.read_bytes())
    out = {}
    for name in reader.sheet_names:
        df = reader.load_sheet(name, header_row=None).to_polars()
        rows = [list(r) for r in df.iter_rows()]
        out[name] = [
            (i + 1, r) for i, r in enumerate(rows) if r[0] is not None and str(r[0]).removesuffix(".0").isdigit()
        ]
    return out


def _machine_workbook_rows(path: Path) -> dict[str, list[list]]:
    """A machine-made workbook's data rows per sheet (credit_points: the header on row 1, then data)."""
    reader = fastexcel.read_excel(path.read_bytes())
    return {
        name: [list(r) for r in reader.load_sheet(name, header_row=None).to_polars().iter_rows()][1:]
        for name in reader.sheet_names
    }


def _credit_persons(path: Path) -> int:
    """Person records a points workbook names: the head of every entry and redemption, the member of an entry."""
    sheets = _machine_workbook_rows(path)
    return len(sheets["积分明细"]) + len(sheets["兑换记录"]) + sum(1 for r in sheets["积分明细"] if r[6] is not None)


def test_every_file_has_a_flag_with_right_rows_and_md5(run):
    out, _ = run
    switched = _switched(out)
    files = _data_files(out / "landing")
    assert {p.parts[-3] for p in files} == set(FEEDS)
    for p in files:
        feed = p.parts[-3]
        flag = _flag(p)
        if "md5" in flag:
            assert flag["md5"] == hashlib.md5(p.read_bytes()).hexdigest(), p
        if feed == "credit_points":
            n = sum(len(v) for v in _machine_workbook_rows(p).values())
        elif p.name.startswith("QD_"):  # service_lists: machine-made, header on row 1, every other row a record
            reader = fastexcel.read_excel(p.read_bytes())
            n = sum(reader.load_sheet(s, header_row=0).height for s in reader.sheet_names)
        elif p.suffix == ".xlsx":
            n = sum(len(v) for v in _workbook_rows(p).values())
        elif p.suffix == ".jsonl":
            n = p.read_bytes().count(b"\n")
        elif p.suffix == ".geojson":
            n = len(json.loads(_decode(p, feed, switched))["features"])
        else:
            n = len(_csv_records(_decode(p, feed, switched)))
        assert int(flag["rows"]) == n, p


def test_daily_feeds_cover_every_day_and_registry_is_redelivered(run):
    out, _ = run
    landing = out / "landing"
    for feed, prefix in (("police_incidents", "JQ_"), ("petitions", "XF_"), ("grid_events", "SB_")):
        names = {p.name for p in landing.glob(f"{feed}/*/{prefix}*") if not p.name.endswith(".ok")}
        assert len(names) == 14
    assert len(list(landing.glob("grid_registry/*/grid_units.csv"))) == 2
    units = _csv_records(_decode(sorted(landing.glob("grid_registry/*/grid_units.csv"))[-1], "grid_registry", {}))
    retired = [u for u in units if u["停用日期"]]
    assert len(retired) >= 3 and all(u["并入网格编码"] for u in retired)


def test_ids_are_valid_exactly_when_no_fault_was_injected(run):
    out, _ = run
    switched = _switched(out)
    truth = pl.read_parquet(out / "truth" / "person_records.parquet")
    for p in _data_files(out / "landing"):
        feed = p.parts[-3]
        if feed not in ("police_population", "police_incidents"):
            continue
        recs = _csv_records(_decode(p, feed, switched))
        col = "证件号码" if feed == "police_population" else "报警人证件号码"
        faults = dict(truth.filter(pl.col("file") == p.name).select("record_no", "id_fault").iter_rows())
        for i, r in enumerate(recs, start=1):
            fault = faults[i]
            if fault == "foreign":
                continue
            assert is_valid_id(r[col]) == (fault == "none"), (p.name, i, fault)


def test_truth_covers_every_personal_record(run):
    out, _ = run
    switched = _switched(out)
    truth = pl.read_parquet(out / "truth" / "person_records.parquet")
    assert truth.select("feed", "file", "sheet", "record_no", "member_no").is_duplicated().sum() == 0
    got = Counter()
    seen = set()
    for p in _data_files(out / "landing"):
        feed = p.parts[-3]
        if p.name in seen or feed == "grid_registry" or p.name.startswith(("GDLZ_", "WGY_")):
            continue  # resends repeat a file name; the locator is the same. 12345 steps and the roster name staff only
        seen.add(p.name)
        if feed == "civil_affairs":
            got[(feed, p.name)] = sum(len(v) for v in _workbook_rows(p).values())
        elif feed == "credit_points":
            got[(feed, p.name)] = _credit_persons(p)
        elif feed == "service_lists":
            # who counts as a person: every need's 提出人, a 在职党员 or 志愿者 resource (not units, not projects)
            reader = fastexcel.read_excel(p.read_bytes())
            for sheet in reader.sheet_names:
                rows = reader.load_sheet(sheet, header_row=0, dtypes="string").to_polars()
                if sheet == "需求清单":
                    got[(feed, p.name)] += rows.height
                elif sheet == "资源清单":
                    got[(feed, p.name)] += rows.filter(pl.col("资源类型").is_in(["在职党员", "志愿者"])).height
        elif feed == "petitions":
            for line in _decode(p, feed, switched).splitlines():
                try:
                    got[(feed, p.name)] += len(json.loads(line)["xfr"])
                except json.JSONDecodeError:
                    pass  # broken lines carry no readable person
        elif feed == "grid_events":
            got[(feed, p.name)] = sum(
                len([x for x in r["涉及人员"].split(";") if x]) for r in _csv_records(_decode(p, feed, switched))
            )
        else:
            got[(feed, p.name)] = len(_csv_records(_decode(p, feed, switched)))
    want = (
        Counter({k: v for k, v in truth.group_by("feed", "file").len().iter_rows() for k in [(k, v)]})
        if False
        else Counter({(f, n): c for f, n, c in truth.group_by("feed", "file").len().iter_rows()})
    )
    assert +got == +want
    persons = pl.read_parquet(out / "truth" / "persons.parquet")
    assert truth["person_id"].drop_nulls().is_in(persons["person_id"].implode()).all()


def test_fault_rates_follow_the_seeds_params(run):
    """Observed ID and name fault shares in the register are the seed's drawn rates (truth/params.json), within
    binomial noise; a quirk drawn at zero never appears."""
    out, s = run
    params = json.loads((out / "truth" / "params.json").read_text("utf-8"))
    truth = pl.read_parquet(out / "truth" / "person_records.parquet").filter(pl.col("feed") == "police_population")
    files = sorted(set(truth["file"]))
    first = truth.filter(pl.col("file") == files[0])  # one snapshot: the register spells a record the same every week
    n = first.height
    # a person's duplicate entry (about 1%) is spelled by its own rates; lower_x/old_15 apply to some IDs only
    for label, col, rates in (
        ("id", "id_fault", params["id_rates"]["police_population"]),
        ("name", "name_fault", params["name_rates"]["police_population"]),
    ):
        counts = dict(first.group_by(col).len().iter_rows())
        for kind, rate in rates.items():
            got = counts.get(kind, 0)
            if rate == 0 and kind not in ("spaces", "homophone", "traditional", "bad_check", "old_15", "lower_x"):
                assert got == 0, (label, kind, got)
            expect = rate * n
            slack = 4 * (expect**0.5) + 0.03 * n + 3  # dup entries (~1% of rows) use their own heavier rates
            assert got <= expect + slack, (label, kind, got, expect)
            if kind not in (
                "lower_x",
                "old_15",
                "traditional",
                "homophone",
                "anonymous",
            ):  # not every value can take these
                assert got >= expect - 4 * (expect**0.5) - 3, (label, kind, got, expect)
    assert s.file_faults.get("numeric_id_sheet") == 1
    assert any("police_population" in line for line in s.as_lines())


def test_events_truth_names_grids_that_were_active(run):
    out, _ = run
    ev = pl.read_parquet(out / "truth" / "events.parquet")
    grids = pl.read_parquet(out / "truth" / "grids.parquet")
    j = ev.join(grids, on="grid_code", how="left")
    assert j["valid_from"].null_count() == 0
    d = j["occurred_at"].dt.date()
    assert ((d >= j["valid_from"]) & (j["valid_to"].is_null() | (d < j["valid_to"]))).all()
    assert set(ev["feed"]) == {"police_incidents", "petitions", "grid_events", "hotline_orders"}


def test_population_has_duplicates_rare_surnames_and_foreign_cards(tmp_path):
    # one snapshot, larger population: properties that need numbers to show up
    generate(tmp_path, residents=20000, days=1, seed=3)
    snap = next(tmp_path.glob("landing/police_population/*/SYRK_*.csv"))
    df = pl.read_csv(snap.read_bytes().decode("gb18030").encode(), infer_schema=False)
    truth = pl.read_parquet(tmp_path / "truth" / "person_records.parquet").filter(pl.col("file") == snap.name)
    dup_share = 1 - truth["person_id"].n_unique() / truth.height
    assert 0.005 < dup_share < 0.02
    cards = df.filter(pl.col("证件类型") == "外国人永久居留身份证")["证件号码"]
    assert cards.len() > 0 and all(c.startswith("9") and len(c) == 18 and check_char(c[:17]) == c[17] for c in cards)
    assert df["姓名"].str.contains("𠇔|䶮").any()


def test_same_arguments_give_identical_bytes(run, tmp_path):
    out, _ = run
    generate(tmp_path, residents=2000, days=14, seed=11)

    def digests(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digests(out / "landing") == digests(tmp_path / "landing")
    assert digests(out / "truth") == digests(tmp_path / "truth")


def test_corrupt_landing_produces_every_kind(run, tmp_path):
    out, _ = run
    dst = tmp_path / "landing"
    done = corrupt_landing(out / "landing", dst, seed=5)
    kinds = {(c.feed, c.kind) for c in done}
    for feed in FEEDS:
        for kind in ("md5_mismatch", "rows_mismatch", "missing_flag", "unsafe_name", "resend_renamed"):
            assert (feed, kind) in kinds, (feed, kind)
    for feed in ("grid_registry", "police_population", "police_incidents", "grid_events", "petitions"):
        for kind in ("undecodable_bytes", "required_column_missing", "extra_column", "nul_in_field", "field_over_1mib"):
            assert (feed, kind) in kinds, (feed, kind)
    assert ("police_population", "utf8_with_bom") in kinds and ("police_incidents", "utf8_with_bom") in kinds
    assert ("petitions", "broken_json_line") in kinds
    assert ("civil_affairs", "sheet_missing_required_column") in kinds and ("civil_affairs", "numeric_ids") in kinds
    for c in done:
        assert c.path.exists(), c
        flag = c.path.with_name(c.path.name + ".ok")
        if c.kind == "missing_flag":
            assert not flag.exists()
            continue
        f = _flag(c.path)
        data = c.path.read_bytes()
        if c.kind == "md5_mismatch":
            assert f["md5"] != hashlib.md5(data).hexdigest()
        elif "md5" in f:
            assert f["md5"] == hashlib.md5(data).hexdigest(), c
        if c.kind == "undecodable_bytes":
            for enc in ("utf-8", "gb18030"):
                with pytest.raises(UnicodeDecodeError):
                    data.decode(enc)
        if c.kind == "field_over_1mib":
            assert len(data) > 1024 * 1024
        if c.kind == "nul_in_field" and c.feed != "petitions":
            assert b"\x00" in data
        if c.kind == "unsafe_name" and c.detail == "too_long":
            assert len(c.path.name.encode()) > 200
    assert corrupt_landing(out / "landing", tmp_path / "again", seed=5) != []


def test_check_character_agrees_with_python_stdnum():
    import numpy as np
    from stdnum.cn import ric

    from ingestion.generator._ids import make_ids

    rng = np.random.default_rng(1)
    birth = np.array(["1950-01-01", "1988-02-29", "2004-12-31", "1931-07-15"], dtype="datetime64[D]")
    ids = make_ids(np.array(["520602", "110105", "440106", "433101"]), birth, np.array([True, False, True, False]), rng)
    for i in map(str, ids):
        assert ric.calc_check_digit(i) == i[17], i  # stdnum takes the number with its check digit
        assert is_valid_id(i)
    # stdnum's place table does not know every county code (520602 is missing), so only the checksum is compared
    assert ric.is_valid(str(ids[1]))
    assert not is_valid_id(str(ids[0])[:17] + ("0" if str(ids[0])[17] != "0" else "1"))


@pytest.mark.parametrize("days", [3, 4])
def test_short_periods_where_no_incident_is_still_pending(tmp_path, days):
    """A period too short for any 110 case to be updated later once crashed the CSV writer (object column)."""
    generate(tmp_path / "g", residents=1000, days=days, seed=1)
    files = list((tmp_path / "g" / "landing" / "police_incidents").rglob("JQ_*.csv"))
    assert len(files) == days
