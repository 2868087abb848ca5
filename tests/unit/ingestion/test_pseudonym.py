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
