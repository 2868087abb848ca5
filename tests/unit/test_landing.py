from datetime import date

import pytest

from ingestion.errors import FeedError, FeedLandingError
from ingestion.landing import (
    LandedFile,
    check_name,
    file_md5,
    read_flag,
    scan_landing,
    verify_md5,
    verify_rows,
)


@pytest.mark.parametrize(
    "name",
    ["a/b.csv", "a\\b.csv", "..", "x..y.csv", ".hidden.csv", "-rf.csv", "JQ\x00.csv", "JQ\n.csv", "名" * 67 + ".csv"],
)
def test_check_name_refuses_unsafe_names(name):
    with pytest.raises(FeedLandingError) as info:
        check_name(name)
    assert info.value.reason == "unsafe_name"
    assert isinstance(info.value, FeedError)


def test_check_name_accepts_chinese_names():
    check_name("碧江区救助保障花名册_202411.xlsx")
    check_name("名" * 66)  # 198 bytes


def test_read_flag_accepts_crlf_and_missing_md5(tmp_path):
    flag = tmp_path / "f.ok"
    flag.write_bytes(b"rows=120\r\nmd5=0123456789ABCDEF0123456789abcdef\r\n")
    assert read_flag(flag) == (120, "0123456789abcdef0123456789abcdef")
    flag.write_bytes(b"rows=0\n")
    assert read_flag(flag) == (0, None)


@pytest.mark.parametrize("content", [b"md5=0123456789abcdef0123456789abcdef\n", b"rows=abc\n", b"rows\n", b"rows=1\nmd5=xyz\n", b"\xff\xfe"])
def test_read_flag_rejects_malformed_flags(tmp_path, content):
    flag = tmp_path / "f.ok"
    flag.write_bytes(content)
    with pytest.raises(FeedLandingError, match="flag file") as info:
        read_flag(flag)
    assert info.value.reason == "flag_unreadable"


def _deliver(root, feed, folder, name, data=b"x", flag=None):
    d = root / feed / folder
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    if flag is not None:
        (d / (name + ".ok")).write_bytes(flag)
    return d / name


def test_scan_landing_sorts_complete_waiting_refused(tmp_path):
    done = _deliver(tmp_path, "police_incidents", "2024-11-03", "JQ_20241102.csv", flag=b"rows=1\r\n")
    waiting = _deliver(tmp_path, "police_incidents", "2024-11-03", "JQ_20241103.csv")
    _deliver(tmp_path, "police_incidents", "2024-11-03", "other.csv", flag=b"rows=1\n")
    (tmp_path / "police_incidents" / "2024-11-03" / "JQ_20241104.csv.ok").write_bytes(b"rows=1\n")
    _deliver(tmp_path, "police_incidents", "2024-11-04", "JQ_20241103.csv", flag=b"nonsense\n")
    _deliver(tmp_path, "civil_affairs", "2024-11-05", "碧江区救助保障花名册_202411.xlsx", flag=b"rows=3\n")
    _deliver(tmp_path, "civil_affairs", ".hidden", "碧江区救助保障花名册_202410.xlsx", flag=b"rows=3\n")
    _deliver(tmp_path, "nobody", "2024-11-05", "x.csv", flag=b"rows=3\n")

    scan = scan_landing(tmp_path)

    assert [f.rel for f in scan.complete] == [
        "civil_affairs/2024-11-05/碧江区救助保障花名册_202411.xlsx",
        "police_incidents/2024-11-03/JQ_20241102.csv",
    ]
    landed = scan.complete[1]
    assert landed.path == done and landed.delivery_date == date(2024, 11, 3) and landed.flag_rows == 1
    assert landed.flag_md5 is None
    assert scan.waiting == [waiting]
    reasons = sorted((r.path.name, r.reason) for r in scan.refused)
    assert reasons == [
        (".hidden", "unsafe_name"),
        ("JQ_20241103.csv", "flag_unreadable"),
        ("JQ_20241104.csv.ok", "unknown_file"),
        ("nobody", "unknown_file"),
        ("other.csv", "unknown_file"),
    ]


def _landed(tmp_path, rows=120, md5="0" * 32):
    path = _deliver(tmp_path, "police_incidents", "2024-11-03", "JQ_20241102.csv", b"abc")
    return LandedFile("police_incidents", date(2024, 11, 3), "2024-11-03", path.name, path, path.with_name(path.name + ".ok"), rows, md5)


def test_verify_rows_names_file_and_counts(tmp_path):
    landed = _landed(tmp_path)
    verify_rows(landed, 120)
    with pytest.raises(
        FeedLandingError,
        match=r"^police_incidents/2024-11-03/JQ_20241102\.csv: flag says rows=120 but the file holds 119 data records; "
        r"the file was cut off or altered in transfer — ask the department to resend it$",
    ) as info:
        verify_rows(landed, 119)
    assert info.value.reason == "flag_rows_mismatch" and info.value.feed == "police_incidents"


def test_verify_md5_names_file_and_digests(tmp_path):
    landed = _landed(tmp_path, md5="900150983cd24fb0d6963f7d28e17f72")
    verify_md5(landed, file_md5(landed.path))  # md5("abc")
    with pytest.raises(FeedLandingError, match=r"JQ_20241102\.csv: flag says md5=900150983cd24fb0d6963f7d28e17f72 but the file's md5 is 0{32}") as info:
        verify_md5(landed, "0" * 32)
    assert info.value.reason == "flag_md5_mismatch"
    verify_md5(_landed(tmp_path, md5=None), "1" * 32)  # no md5 in the flag: nothing to check
