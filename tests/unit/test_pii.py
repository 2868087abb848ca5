"""The finders the no-leak tests rely on: they find what is there and nothing inside a digest."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from tests.pii import citizen_ids, mobiles, without_digests

MOBILE = "13812345678"
CITIZEN_ID = "11010519491231002X"


def test_a_mobile_shaped_run_inside_an_md5_is_not_a_mobile():
    # from the CI run the test was written for: an md5 table-version name in the serving file's view text
    digest = "a9f3c18264937297b0d4e6f1a2c3d4e5"
    text = f"read_parquet('/home/serving/tables/marts/dim_grid/{digest}.parquet')"
    assert digest not in without_digests(text)
    assert mobiles(text) == []
    assert mobiles(text.replace(digest, "18264937297")) == ["18264937297"]


@given(
    st.lists(st.binary(min_size=1, max_size=16), min_size=1, max_size=60),
    st.sampled_from(["联系电话", " ", "\x00", "'"]),
)
def test_values_beside_digests_are_still_found(seeds, before):
    digests = [hashlib.md5(s).hexdigest() for s in seeds]
    text = without_digests("/".join(digests) + before + MOBILE + "|" + CITIZEN_ID + "/" + digests[0])
    assert MOBILE in mobiles(text)
    assert CITIZEN_ID in citizen_ids(text)
    assert all(d not in text for d in digests)
