"""Per-seed variation (params): deterministic per seed, different across seeds, every listed form producible;
small districts generate; a failed generate leaves --out as it was."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import polars as pl
import pytest

from ingestion.generator import generate
from ingestion.generator.params import COUNTIES, ID_RANGES, NAME_RANGES, PHONE_FORMS, REGISTER_OPTIONAL, draw_params

SEEDS = [1, 2, 3, 4, 5, 6]


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _clean(h: str) -> str:
    return h.strip(" \u3000\u200b\ufeff").replace("（", "(").replace("）", ")")


def _csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(_text(path.read_bytes()), newline="")))
    header = rows[0]
    return header, [dict(zip(map(_clean, header), r)) for r in rows[1:]]


@pytest.fixture(scope="module")
def landings(tmp_path_factory):
    """Six seeds' small districts, three weeks each (so the register has several snapshots)."""
    out = {}
    for seed in SEEDS:
        d = tmp_path_factory.mktemp(f"seed{seed}")
        generate(d, residents=1200, days=21, seed=seed)
        out[seed] = d
    return out


@pytest.mark.parametrize("residents,days,seed", [(100, 2, 1), (200, 3, 2), (300, 9, 3)])
def test_same_seed_gives_identical_bytes_at_small_sizes(tmp_path, residents, days, seed):
    generate(tmp_path / "a", residents=residents, days=days, seed=seed)
    generate(tmp_path / "b", residents=residents, days=days, seed=seed)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert json.loads((tmp_path / "a" / "truth" / "params.json").read_text("utf-8")) == json.loads(
        draw_params(seed, days).to_json()
    )


@pytest.mark.parametrize("residents,days", [(100, 2), (200, 3), (100, 1), (150, 4)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_small_districts_generate_every_feed_and_flag(tmp_path, residents, days, seed):
    """Issue 24: 100 x 2 and 200 x 3 crashed (Float64 filter predicate, Object CSV column, empty zfill)."""
    generate(tmp_path, residents=residents, days=days, seed=seed)
    landing = tmp_path / "landing"
    for feed, pattern in (("police_incidents", "JQ_*.csv"), ("petitions", "XF_*.jsonl"), ("grid_events", "SB_*.csv")):
        assert len({p.name for p in landing.glob(f"{feed}/*/{pattern}")}) == days, feed
    for p in landing.glob("*/*/*"):
        if not p.name.endswith(".ok"):
            assert p.with_name(p.name + ".ok").exists(), p
    assert not list(tmp_path.glob(".generating-*"))


def test_regenerating_replaces_the_landing_and_leaves_no_staging_folder(tmp_path):
    generate(tmp_path, residents=200, days=3, seed=1)
    generate(tmp_path, residents=100, days=2, seed=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landing", "truth"]
    assert {p.name for p in (tmp_path / "landing").glob("police_incidents/*/JQ_*.csv")} == {
        "JQ_20241101.csv",
        "JQ_20241102.csv",
    }


def test_a_failure_midway_leaves_out_as_it_was(tmp_path, monkeypatch):
    from ingestion.generator.feeds import grid_events

    generate(tmp_path, residents=100, days=2, seed=1)
    before = _digests(tmp_path)

    def broken(ctx):
        raise RuntimeError("grid events broke")

    monkeypatch.setattr(grid_events, "build", broken)
    with pytest.raises(RuntimeError, match="grid events broke"):
        generate(tmp_path, residents=200, days=3, seed=2)
    assert _digests(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landing", "truth"]


def test_cli_generate_failure_is_one_line_and_writes_no_landing(tmp_path, monkeypatch, capsys):
    from ingestion.generator.feeds import grid_events
    from orchestration.cli import EXIT_FAILED, main

    monkeypatch.setenv("ZHILI_PROGRESS", "off")
    monkeypatch.setattr(grid_events, "build", lambda ctx: (_ for _ in ()).throw(ValueError("no events today")))
    code = main(["generate", "--out", str(tmp_path / "out"), "--residents", "100", "--days", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_FAILED
    assert len(err) == 1 and err[0].startswith("zhili generate: ") and "no events today" in err[0], err
    assert "Traceback" not in err[0]
    assert not (tmp_path / "out" / "landing").exists()
    assert not list((tmp_path / "out").glob(".generating-*"))


def test_rates_and_counties_differ_across_seeds_with_zero_for_some():
    ps = [draw_params(seed, 28) for seed in range(1, 21)]
    assert len({p.county.code for p in ps}) >= 5
    assert len({json.dumps(p.id_rates, sort_keys=True) for p in ps}) == len(ps)
    for kind in ID_RANGES:
        rates = [p.id_rates["police_population"][kind] for p in ps]
        assert 0 in rates and any(r > 0 for r in rates), kind  # off for some seeds, on for others
    for kind in NAME_RANGES:
        rates = [p.name_rates["police_incidents"][kind] for p in ps]
        assert 0 in rates and any(r > 0 for r in rates), kind
    for form in PHONE_FORMS:
        assert any(p.phone_forms[form] > 0 for p in ps), form
    assert {p.encoding["police_incidents"]["mode"] for p in ps} == {"none", "single", "from"}
    assert all(c.code.isdigit() and len(c.code) == 6 for c in COUNTIES)


def test_demo_seed_keeps_its_district_and_a_given_county_wins():
    assert draw_params(20241101, 60).county.name == "碧江区"
    from ingestion.generator.core import resolve_county

    c = resolve_county("433101", None, None, None)
    assert (c.name, c.province) == ("吉首市", "湖南省")
    assert draw_params(5, 10, c).county == c
    with pytest.raises(ValueError, match="county_code='999999'.*county_name"):
        resolve_county("999999", None, None, None)


def test_every_listed_form_appears_across_a_handful_of_seeds(landings):
    """A census read from the delivered bytes (not from the generator's own labels) of the forms the feed pages list."""
    seen: set[str] = set()
    truth_faults = pl.concat([pl.read_parquet(d / "truth" / "faults.parquet") for d in landings.values()])
    records = pl.concat([pl.read_parquet(d / "truth" / "person_records.parquet") for d in landings.values()])
    seen |= {f"name:{k}" for k in records["name_fault"].unique()}
    seen |= {f"file:{k}" for k in truth_faults["kind"].unique()}
    seen |= {f"switch:{d}" for d in truth_faults.filter(pl.col("kind") == "encoding_switch")["detail"].unique()}
    counties = set()
    for d in landings.values():
        counties.add(json.loads((d / "truth" / "params.json").read_text("utf-8"))["county"]["code"])
        snaps = sorted((d / "landing" / "police_population").glob("*/SYRK_*.csv"))
        headers = []
        for snap in snaps:
            header, rows = _csv(snap)
            headers.append(header)
            clean = [_clean(h) for h in header]
            seen |= {"register:noisy_header" for h in header if h != _clean(h)}
            if any(c not in clean for c in REGISTER_OPTIONAL):
                seen.add("register:optional_missing")
            if set(clean) - {
                *REGISTER_OPTIONAL,
                "人员编号",
                "姓名",
                "证件类型",
                "证件号码",
                "现住地址",
                "人员状态",
                "户号",
                "与户主关系",
            }:
                seen.add("register:extra_column")
            seen |= {"register:household" for c in clean if c == "户号"}
            for r in rows:
                i = r["证件号码"]
                seen |= {f"id:{k}" for k, rx in ID_FORMS.items() if rx.fullmatch(i)}
                seen |= {f"phone:{k}" for k, rx in PHONE_RX.items() if rx.fullmatch(r.get("联系电话", "-"))}
                seen |= {f"sex:{v}" for v in [r.get("性别")] if v is not None}
                seen |= {f"date:{k}" for k, rx in DATE_RX.items() if rx.fullmatch(r.get("出生日期", "-"))}
                a = r.get("现住地址", "")
                seen |= {f"addr:{k}" for k, rx in ADDR_RX.items() if rx.search(a)}
        orders = {tuple(sorted(map(_clean, h))): tuple(map(_clean, h)) for h in headers}
        if len({tuple(map(_clean, h)) for h in headers}) > len(orders):
            seen.add("register:shuffled")
        for p in [
            *(d / "landing" / "police_incidents").glob("*/JQ_*.csv"),
            *(d / "landing" / "grid_events").glob("*/SB_*.csv"),
        ]:
            for r in _csv(p)[1]:
                for col in ("接警时间", "反馈时间", "上报时间", "状态时间"):
                    seen |= {f"datetime:{k}" for k, rx in DATETIME_RX.items() if rx.fullmatch(r.get(col, "-"))}
    want = (
        {f"id:{k}" for k in ID_FORMS}
        | {f"phone:{k}" for k in PHONE_RX}
        | {f"date:{k}" for k in DATE_RX}
        | {f"addr:{k}" for k in ADDR_RX}
        | {f"datetime:{k}" for k in DATETIME_RX}
        | {"sex:男", "sex:女", "sex:1", "sex:2", "sex:M", "sex:F", "sex:"}
        | {f"name:{k}" for k in ("whitespace", "spaces", "traditional", "homophone", "dot_variant")}
        | {"file:resend", "file:broken_json_line", "file:numeric_id_sheet", "file:encoding_switch"}
        | {
            "switch:utf-8 with BOM instead of gb18030",
            "switch:utf-8 instead of gb18030",
            "switch:gb18030 instead of utf-8",
        }
        | {
            "register:noisy_header",
            "register:optional_missing",
            "register:extra_column",
            "register:household",
            "register:shuffled",
        }
    )
    assert want - seen == set()
    assert len(counties) >= 3


ID_FORMS = {
    "valid18": re.compile(r"\d{17}[\dX]"),
    "lower_x": re.compile(r"\d{17}x"),
    "fullwidth": re.compile(r"[０-９]{17}[０-９Ｘ]"),
    "spaces": re.compile(r"\d[\d ]{17,19}[\dX]"),
    "old_15": re.compile(r"\d{15}"),
    "empty": re.compile(r""),
    "placeholder": re.compile(r"无"),
    "excel_float": re.compile(r"\d\.\d+E\+17"),
    "excel_000": re.compile(r"\d{15}000"),
}
PHONE_RX = {
    "mobile": re.compile(r"1\d{10}"),
    "+86": re.compile(r"\+861\d{10}"),
    "86": re.compile(r"861\d{10}"),
    "+86-": re.compile(r"\+86-1\d{10}"),
    "spaced": re.compile(r"1\d\d \d{4} \d{4}"),
    "dashed": re.compile(r"1\d\d-\d{4}-\d{4}"),
    "landline_dash": re.compile(r"0\d{2,3}-\d{7}"),
    "landline_paren": re.compile(r"\(0\d{2,3}\)\d{7}"),
    "landline_local": re.compile(r"\d{7}"),
    "two": re.compile(r"1\d{10}[/;，]0\d{2,3}-\d{7}"),
    "fullwidth": re.compile(r"[０-９]{11}"),
    "empty": re.compile(r""),
}
DATE_RX = {
    "iso": re.compile(r"\d{4}-\d\d-\d\d"),
    "slash": re.compile(r"\d{4}/\d{1,2}/\d{1,2}"),
    "compact": re.compile(r"\d{8}"),
    "chinese": re.compile(r"\d{4}年\d{1,2}月\d{1,2}日"),
    "dotted": re.compile(r"\d{4}\.\d\d\.\d\d"),
    "empty": re.compile(r""),
}
DATETIME_RX = {
    "iso": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
    "slash": re.compile(r"\d{4}/\d{1,2}/\d{1,2} \d\d:\d\d"),
}
ADDR_RX = {
    "栋": re.compile(r"\d栋"),
    "幢": re.compile(r"\d幢"),
    "号楼": re.compile(r"\d号楼"),
    "三栋": re.compile(r"[一二三四五六七八九十]栋"),
    "二单元": re.compile(r"[一二三四]单元"),
    "室": re.compile(r"\d室"),
    "5-01": re.compile(r"单元\d+-\d\d$"),
    "fullwidth": re.compile(r"[０-９]"),
    "province": re.compile(r"^(贵州省|湖南省|湖北省|重庆市|四川省|云南省|广西|江西省|浙江省|北京市)"),
    "city_first": re.compile(r"^[^省]{2,12}(市|州)[^市]{1,4}(区|市)"),
    "trailing_space": re.compile(r"[\s\u200b\ufeff]$"),
}
