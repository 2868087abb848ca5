import os
import stat

import polars as pl
import pytest

from ingestion.pseudonym import load_or_create_key, person_key


def test_key_is_created_once_with_owner_only_mode(tmp_path):
    path = tmp_path / "state" / "secret.key"
    first = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == first
    assert len(first) == 32


def test_a_key_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "secret.key"
    load_or_create_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="mode 0600"):
        load_or_create_key(path)


def test_person_key_is_keyed_stable_and_null_safe():
    ids = pl.DataFrame({"id": ["11010519491231002X", None, "11010519491231002X"]})
    a = ids.select(person_key(pl.col("id"), b"k" * 32))["id"].to_list()
    b = ids.select(person_key(pl.col("id"), b"j" * 32))["id"].to_list()
    assert a[0] == a[2] and a[1] is None
    assert a[0] != b[0]  # another key, another pseudonym: not a plain hash
    assert len(a[0]) == 26 and "11010519491231002X" not in a[0]


def test_keys_in_bulk_equal_one_hmac_and_base32_per_value():
    # person_key copies HMAC's keyed state and encodes every digest at once (numpy): the same 26 characters
    # as hmac.digest + base64.b32encode value by value, for any text (empty, non-ASCII, repeated) and nulls
    import hmac

    from ingestion.pseudonym import _encode

    key = b"0123456789abcdef0123"
    values = [f"52260119900314{i:04d}" for i in range(300)] + ["", "户编号:H5226011", "x" * 200, None, "", None]
    got = pl.DataFrame({"v": values}, schema={"v": pl.String}).select(person_key(pl.col("v"), key))["v"].to_list()
    want = [None if v is None else _encode(hmac.digest(key, v.encode(), "sha256")) for v in values]
    assert got == want
