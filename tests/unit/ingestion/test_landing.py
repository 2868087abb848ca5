import hashlib
from datetime import date

import pytest

from ingestion.errors import FeedError, FeedLandingError
from ingestion.landing import (
    LandedFile,
    check_name,
    file_md5,
    read_flag,
    scan_landing,
    unknown_name_error,
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


@pytest.mark.parametrize(
    "content", [b"md5=0123456789abcdef0123456789abcdef\n", b"rows=abc\n", b"rows\n", b"rows=1\nmd5=xyz\n", b"\xff\xfe"]
)
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
    _deliver(tmp_path, "police_incidents", "2024-11-03", "other.csv", b"never delivered before", flag=b"rows=1\n")
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
    return LandedFile(
        "police_incidents",
        date(2024, 11, 3),
        "2024-11-03",
        path.name,
        path,
        path.with_name(path.name + ".ok"),
        rows,
        md5,
    )


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
    with pytest.raises(
        FeedLandingError,
        match=r"JQ_20241102\.csv: flag says md5=900150983cd24fb0d6963f7d28e17f72 but the file's md5 is 0{32}",
    ) as info:
        verify_md5(landed, "0" * 32)
    assert info.value.reason == "flag_md5_mismatch"
    verify_md5(_landed(tmp_path, md5=None), "1" * 32)  # no md5 in the flag: nothing to check


def test_renamed_resend_of_bytes_in_the_landing_is_complete_and_comes_last(tmp_path):
    data = "接警编号\n1\n".encode("gb18030")
    _deliver(tmp_path, "police_incidents", "2024-11-03", "JQ_20241102.csv", data, flag=b"rows=1\n")
    # same folder: "(1)" sorts before ".csv", yet the original must be met first
    _deliver(tmp_path, "police_incidents", "2024-11-03", "JQ_20241102(1).csv", data, flag=b"rows=1\n")
    _deliver(tmp_path, "police_incidents", "2024-11-06", "JQ_20241102 - 副本.csv", data, flag=b"rows=1\n")
    _deliver(tmp_path, "police_incidents", "2024-11-04", "JQ_20241103.csv", b"other", flag=b"rows=1\n")

    scan = scan_landing(tmp_path)

    assert [f.rel for f in scan.complete] == [
        "police_incidents/2024-11-03/JQ_20241102.csv",
        "police_incidents/2024-11-04/JQ_20241103.csv",
        "police_incidents/2024-11-03/JQ_20241102(1).csv",
        "police_incidents/2024-11-06/JQ_20241102 - 副本.csv",
    ]
    assert scan.refused == [] and scan.waiting == []


def test_renamed_resend_of_bytes_loaded_before_is_complete(tmp_path):
    data = b"bytes loaded last month, the original since removed from the landing"
    _deliver(tmp_path, "civil_affairs", "2024-12-05", "碧江区救助保障花名册_202411(1).xlsx", data, flag=b"rows=3\n")

    assert [r.reason for r in scan_landing(tmp_path).refused] == ["unknown_file"]
    scan = scan_landing(
        tmp_path, loaded={hashlib.md5(data).hexdigest(): "civil_affairs/2024-11-05/碧江区救助保障花名册_202411.xlsx"}
    )
    assert [f.name for f in scan.complete] == ["碧江区救助保障花名册_202411(1).xlsx"] and scan.refused == []


def test_unknown_name_with_new_bytes_is_refused_with_a_clear_reason(tmp_path):
    _deliver(tmp_path, "police_incidents", "2024-11-03", "JQ_20241102.csv", b"a,b\n1,2\n", flag=b"rows=1\n")
    # same size as the loaded file, different bytes: compared by md5, not by size
    path = _deliver(tmp_path, "police_incidents", "2024-11-03", "JQ_20241102(1).csv", b"a,b\n1,3\n", flag=b"rows=1\n")

    scan = scan_landing(tmp_path, loaded={"0" * 32: "police_incidents/2024-11-01/JQ_20241031.csv"})

    assert [f.name for f in scan.complete] == ["JQ_20241102.csv"]
    [refusal] = scan.refused
    assert refusal.path == path and refusal.feed == "police_incidents" and refusal.reason == "unknown_file"
    assert refusal.message == (
        "police_incidents/2024-11-03/JQ_20241102(1).csv: the file name fits no table of feed 'police_incidents' and "
        "its bytes are not those of any file delivered under a proper name; expected a name matching "
        r"^JQ_(?P<data_date>\d{8})\.csv$ — ask the department to rename and resend it; nothing in it was loaded"
    )


def test_unknown_name_without_flag_waits_and_unsafe_name_stays_refused(tmp_path):
    waiting = _deliver(tmp_path, "police_incidents", "2024-11-03", "JQ_20241102(1).csv", b"x")
    _deliver(tmp_path, "police_incidents", "2024-11-03", ".JQ_20241102.csv", b"x", flag=b"rows=1\n")

    scan = scan_landing(tmp_path, loaded={hashlib.md5(b"x").hexdigest(): "police_incidents/2024-11-03/JQ_20241102.csv"})

    assert scan.waiting == [waiting] and scan.complete == []
    assert sorted((r.path.name, r.reason) for r in scan.refused) == [
        (".JQ_20241102.csv", "unsafe_name"),
        (".JQ_20241102.csv.ok", "unsafe_name"),
    ]


def test_unknown_name_error_names_file_feed_and_fix(tmp_path):
    path = _deliver(tmp_path, "petitions", "2024-11-03", "XF_20241102 (2).jsonl", b"{}")
    landed = LandedFile(
        "petitions", date(2024, 11, 3), "2024-11-03", path.name, path, path.with_name(path.name + ".ok"), 1, None
    )
    err = unknown_name_error(landed, "the file with the same bytes was not loaded")
    assert isinstance(err, FeedLandingError) and err.reason == "unknown_file" and err.feed == "petitions"
    assert str(err).startswith(
        "petitions/2024-11-03/XF_20241102 (2).jsonl: the file name fits no table of feed 'petitions' "
        "and the file with the same bytes was not loaded; expected a name matching "
    )
