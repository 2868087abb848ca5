"""plan_landing: the one planner every front door asks which files are due, recording the rest in the ledger."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from ingestion.ledger import FileOutcome, accounted, loaded_files, read_ledger, write_ledger
from ingestion.planner import plan_landing
from ingestion.zones import Zones

HEADER = "警情编号,接警时间,报警方式,报警人,报警人证件号码,报警电话,发生地址,经度,纬度,警情类别,警情细类,简要警情,管辖单位,处警结果,反馈时间\n"
ROW = "J52060220241102{n:05d},2024-11-02 01:00:00,110电话,张三,,,地址,,,纠纷,经济纠纷,简要,派出所,已处理,2024-11-02 02:00:00\n"


def _deliver(landing: Path, feed: str, folder: str, name: str, data: bytes, *, rows: int, flag: bool = True) -> Path:
    path = landing / feed / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if flag:
        path.with_name(name + ".ok").write_text(f"rows={rows}\nmd5={hashlib.md5(data).hexdigest()}\n")
    return path


def _incidents(n: int) -> bytes:
    return (HEADER + "".join(ROW.format(n=i) for i in range(1, n + 1))).encode("gb18030")


def _landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    _deliver(landing, "police_incidents", "2024-11-03", "JQ_20241102.csv", _incidents(1), rows=1)
    _deliver(landing, "police_incidents", "2024-11-04", "JQ_20241103.csv", _incidents(2), rows=2, flag=False)
    _deliver(landing, "grid_registry", "2024-11-01", "grid_units.csv", "网格编码,网格名称\n".encode(), rows=0)
    _deliver(landing, "police_incidents", "2024-11-03", "..hidden.csv", b"x", rows=0, flag=False)
    return landing


def test_due_files_come_grid_register_first_with_waiting_and_refused_files_recorded(tmp_path: Path) -> None:
    zones = Zones(tmp_path / "home")
    plan = plan_landing(_landing(tmp_path), zones)
    assert list(plan.due) == ["grid_registry", "police_incidents"]
    assert plan.keys("police_incidents") == ["2024-11-03/JQ_20241102.csv"]
    assert plan.due["police_incidents"][0].md5 == hashlib.md5(_incidents(1)).hexdigest()
    ledger = read_ledger(zones)
    assert sorted(ledger["status"].to_list()) == sorted(o.status for o in plan.recorded) == ["refused", "waiting"]
    assert ledger.filter(pl.col("status") == "waiting")["file"].to_list() == ["JQ_20241103.csv"]


def test_a_file_the_ledger_settles_is_not_due_again_and_recording_twice_keeps_one_row(tmp_path: Path) -> None:
    zones, landing = Zones(tmp_path / "home"), _landing(tmp_path)
    first = plan_landing(landing, zones)
    due = first.due["police_incidents"][0]
    write_ledger(
        zones,
        FileOutcome(
            feed="police_incidents",
            table_name="police_incidents",
            folder="2024-11-03",
            file="JQ_20241102.csv",
            status="loaded",
            file_md5=due.md5,
        ),
    )
    again = plan_landing(landing, zones)
    assert "police_incidents" not in again.due
    assert again.loaded == {due.md5: "police_incidents/2024-11-03/JQ_20241102.csv"}
    assert read_ledger(zones).filter(pl.col("status").is_in(["waiting", "refused"])).height == 2


def test_only_the_feeds_asked_for_are_planned_and_recorded(tmp_path: Path) -> None:
    zones = Zones(tmp_path / "home")
    plan = plan_landing(_landing(tmp_path), zones, feeds=["grid_registry"])
    assert list(plan.due) == ["grid_registry"]
    assert plan.recorded == [] and read_ledger(zones).is_empty()


def test_a_file_the_caller_knows_is_not_new_is_neither_due_nor_hashed(tmp_path: Path) -> None:
    zones, asked = Zones(tmp_path / "home"), []

    def md5_of(landed):
        asked.append(landed.name)
        return None if landed.feed == "police_incidents" else "0" * 32

    plan = plan_landing(_landing(tmp_path), zones, md5_of=md5_of)
    assert sorted(asked) == ["JQ_20241102.csv", "grid_units.csv"]
    assert list(plan.due) == ["grid_registry"] and plan.due["grid_registry"][0].md5 == "0" * 32


def test_the_ledger_accounts_for_settled_bytes_only(tmp_path: Path) -> None:
    zones = Zones(tmp_path / "home")
    for status, md5 in [("loaded", "a" * 32), ("held", "b" * 32), ("rejected", "c" * 32), ("waiting", None)]:
        write_ledger(
            zones,
            FileOutcome(
                feed="petitions",
                table_name=None,
                folder="2024-11-03",
                file=f"{status}.jsonl",
                status=status,
                file_md5=md5,
            ),
        )
    assert loaded_files(zones) == {
        "a" * 32: "petitions/2024-11-03/loaded.jsonl",
        "b" * 32: "petitions/2024-11-03/held.jsonl",
    }
    assert accounted(zones) == {
        ("petitions/2024-11-03/loaded.jsonl", "a" * 32),
        ("petitions/2024-11-03/held.jsonl", "b" * 32),
        ("petitions/2024-11-03/rejected.jsonl", "c" * 32),
    }
