"""landing_sensor: complete files only, each delivered bytes once, grid register first."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.feeds.sensors import RANGE_END, RANGE_START, landing_sensor
from orchestration.defs.resources import ZhiliResource

HEADER = "警情编号,接警时间,报警方式,报警人,报警人证件号码,报警电话,发生地址,经度,纬度,警情类别,警情细类,简要警情,管辖单位,处警结果,反馈时间\n"


def _deliver(landing: Path, feed: str, folder: str, name: str, body: str, *, flag: bool = True) -> Path:
    path = landing / feed / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = body.encode("gb18030")
    path.write_bytes(data)
    if flag:
        _flag(path, rows=body.count("\n") - 1)
    return path


def _flag(path: Path, *, rows: int) -> None:
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".ok").write_text(f"rows={rows}\nmd5={md5}\n")


def _incidents(day: str, n: int = 1) -> str:
    rows = "".join(
        f"J520602{day}{i:05d},{day[:4]}-{day[4:6]}-{day[6:]} 01:00:00,110电话,张三,,,地址,,,纠纷,经济纠纷,简要,派出所,已处理,"
        f"{day[:4]}-{day[4:6]}-{day[6:]} 02:00:00\n"
        for i in range(1, n + 1)
    )
    return HEADER + rows


class Ticks:
    """Evaluates the sensor the way the daemon does: applies partition requests, carries the cursor."""

    def __init__(self, tmp_path: Path):
        self.landing = tmp_path / "landing"
        self.landing.mkdir()
        self.instance = dg.DagsterInstance.ephemeral()
        self.resource = ZhiliResource(landing=str(self.landing), home=str(tmp_path / "home"))
        self.cursor: str | None = None

    def tick(self) -> list[dg.RunRequest]:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"zhili": self.resource}
        )
        result = landing_sensor(context)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        self.cursor = result.cursor
        return list(result.run_requests or [])

    def partitions(self, feed: str) -> list[str]:
        return self.instance.get_dynamic_partitions(f"{feed}_files")


@pytest.fixture
def ticks(tmp_path):
    return Ticks(tmp_path)


def test_file_whose_flag_arrives_later_runs_once_after_the_flag(ticks):
    path = _deliver(
        ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102.csv", _incidents("20241102"), flag=False
    )
    assert ticks.tick() == []
    assert ticks.partitions("police_incidents") == []

    _flag(path, rows=1)
    requests = ticks.tick()
    assert len(requests) == 1
    assert requests[0].partition_key == "2024-11-03/JQ_20241102.csv"
    assert set(requests[0].asset_selection) == {
        dg.AssetKey(["raw", "police_incidents"]),
        dg.AssetKey(["normalised", "police_incidents"]),
    }
    assert ticks.partitions("police_incidents") == ["2024-11-03/JQ_20241102.csv"]

    assert ticks.tick() == []


def test_identical_redelivery_under_the_same_name_launches_nothing(ticks):
    body = _incidents("20241102")
    _deliver(ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102.csv", body)
    first = ticks.tick()
    assert len(first) == 1

    path = _deliver(
        ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102.csv", body
    )  # rewritten: new mtime, same bytes
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert ticks.tick() == []


def test_changed_bytes_under_the_same_name_rerun_that_partition_only(ticks):
    _deliver(ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102.csv", _incidents("20241102", 1))
    _deliver(ticks.landing, "police_incidents", "2024-11-04", "JQ_20241103.csv", _incidents("20241103", 1))
    first = ticks.tick()
    assert len(first) == 1 and first[0].tags[RANGE_START] == "2024-11-03/JQ_20241102.csv"
    assert first[0].tags[RANGE_END] == "2024-11-04/JQ_20241103.csv"

    _deliver(ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102.csv", _incidents("20241102", 2))
    again = ticks.tick()
    assert [r.partition_key for r in again] == ["2024-11-03/JQ_20241102.csv"]
    assert again[0].run_key != first[0].run_key
    assert ticks.partitions("police_incidents") == ["2024-11-03/JQ_20241102.csv", "2024-11-04/JQ_20241103.csv"]


def test_identical_bytes_under_a_new_name_get_a_run_that_records_the_duplicate(ticks):
    body = _incidents("20241102")
    _deliver(ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102.csv", body)
    assert len(ticks.tick()) == 1
    _deliver(ticks.landing, "police_incidents", "2024-11-05", "JQ_20241102.csv", body)
    requests = ticks.tick()
    assert [r.partition_key for r in requests] == ["2024-11-05/JQ_20241102.csv"]


def test_renamed_resend_in_the_same_folder_comes_after_the_file_it_copies(ticks):
    """A copy dialog's name (JQ_x(1).csv) sorts before JQ_x.csv; staged first it would be the one loaded."""
    body = _incidents("20241102")
    _deliver(ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102.csv", body)
    _deliver(ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102(1).csv", body)
    requests = ticks.tick()
    assert len(requests) == 1
    assert requests[0].tags[RANGE_START] == "2024-11-03/JQ_20241102.csv"
    assert requests[0].tags[RANGE_END] == "2024-11-03/JQ_20241102(1).csv"
    assert ticks.partitions("police_incidents") == ["2024-11-03/JQ_20241102.csv", "2024-11-03/JQ_20241102(1).csv"]


def test_a_renamed_file_with_unknown_bytes_gets_no_run(ticks):
    _deliver(ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102(1).csv", _incidents("20241102"))
    assert ticks.tick() == []


def test_other_feeds_wait_for_the_grid_register(ticks):
    _deliver(ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102.csv", _incidents("20241102"))
    grid = ticks.landing / "grid_registry" / "2024-11-01" / "grid_units.csv"
    grid.parent.mkdir(parents=True)
    grid.write_text("网格编码,网格名称\n", encoding="utf-8")
    _flag(grid, rows=0)
    first = ticks.tick()
    assert [r.tags["zhili/feed"] for r in first] == ["grid_registry"]
    assert ticks.partitions("police_incidents") == []
    # the grid register's run is not in flight in this test instance, so the next tick releases the others
    second = ticks.tick()
    assert [r.tags["zhili/feed"] for r in second] == ["police_incidents"]
    assert json.loads(ticks.cursor).keys() >= {
        "police_incidents/2024-11-03/JQ_20241102.csv",
        "grid_registry/2024-11-01/grid_units.csv",
    }


def test_the_sensor_records_a_file_waiting_for_its_flag_in_the_ledger_as_zhili_run_does(ticks, tmp_path):
    from ingestion.ledger import read_ledger
    from ingestion.zones import Zones

    _deliver(ticks.landing, "police_incidents", "2024-11-03", "JQ_20241102.csv", _incidents("20241102"), flag=False)
    assert ticks.tick() == []
    ledger = read_ledger(Zones(tmp_path / "home"))
    assert ledger.select("status", "file").rows() == [("waiting", "JQ_20241102.csv")]
