"""Address canonicalisation: the forms of the 地址 row of the feed README."""

from __future__ import annotations

import polars as pl
import pytest

from ingestion.addresses import (
    building_key,
    canonical_address,
    chinese_numeral,
    house_key,
    local_key,
    strip_to_local,
)

PREFIXES = ["贵州省", "铜仁市", "碧江区"]


def canon(values: list[str | None], prefixes: list[str] = PREFIXES) -> list[str | None]:
    return (
        pl.DataFrame({"a": values}, schema={"a": pl.String})
        .select(canonical_address("a", prefixes=prefixes))["a"]
        .to_list()
    )


@pytest.mark.parametrize(
    "raw",
    [
        "滨江路88号3栋2单元501室",
        "贵州省铜仁市碧江区滨江路88号3栋2单元501室",
        "铜仁市碧江区滨江路88号3栋2单元501室",
        "碧江区滨江路88号3栋2单元501室",
        "滨江路８８号３栋２单元５０１室",  # full-width digits
        "\u3000滨江路 88号 3栋\u200b2单元501室\ufeff ",  # U+3000, spaces, zero-width
        "滨江路88号3幢2单元501室",
        "滨江路88号3号楼2单元501室",
        "滨江路88号三栋2单元501室",
        "滨江路88号3座2单元501室",
        "滨江路88号3栋二单元501室",
        "滨江路88号3栋2单元501",
        "滨江路88号3栋2单元5-01",
        "滨江路88号3栋2单元5－01",  # full-width dash
        "贵州省铜仁市碧江区滨江路８８号三幢二单元5-01",
    ],
)
def test_canonical_address_folds_every_readme_variant_to_one_form(raw: str) -> None:
    assert canon([raw]) == ["滨江路88号3栋2单元501室"]


def test_canonical_address_does_not_merge_roads_by_prefix() -> None:
    assert canon(["滨江路88号3栋", "滨江大道88号3栋"]) == ["滨江路88号3栋", "滨江大道88号3栋"]


def test_canonical_address_converts_numerals_only_before_building_unit_floor_markers() -> None:
    assert canon(["三江路12号十二栋", "滨江路88号二十一栋", "二环路5号两单元", "滨江路1号第三栋"]) == [
        "三江路12号12栋",
        "滨江路88号21栋",
        "二环路5号2单元",
        "滨江路1号3栋",
    ]


def test_canonical_address_room_after_building_without_unit() -> None:
    assert canon(["滨江路88号3栋501", "滨江路88号3栋5-1"]) == ["滨江路88号3栋501室", "滨江路88号3栋501室"]


def test_canonical_address_removes_only_leading_prefixes_in_order() -> None:
    # a prefix that does not lead the string stays; a city without province still goes
    assert canon(["环北街道碧江区路1号", "铜仁市滨江路1号"]) == ["环北街道碧江区路1号", "滨江路1号"]


def test_canonical_address_blank_and_null_are_null() -> None:
    assert canon(["", "\u3000 \u200b", None]) == [None, None, None]


def test_chinese_numeral_values() -> None:
    assert [chinese_numeral(s) for s in ["三", "十", "十二", "二十", "九十九", "两", "十十", "百"]] == [
        3,
        10,
        12,
        20,
        99,
        2,
        None,
        None,
    ]


def test_building_key_drops_unit_and_room_and_ends_at_house_number_without_building() -> None:
    df = pl.DataFrame(
        {"c": ["滨江路88号3栋2单元501室", "滨江路88-2号2单元301室", "滨江路88号附1", "滨江路口附近", "滨江路88号A栋"]}
    )
    out = df.select(building_key("c").alias("b"), house_key("c").alias("h"))
    assert out["b"].to_list() == ["滨江路88号3栋", "滨江路88-2号", "滨江路88号附1", None, "滨江路88号A栋"]
    assert out["h"].to_list() == ["滨江路88号", "滨江路88-2号", "滨江路88号附1", None, "滨江路88号"]


def test_strip_to_local_meets_with_and_without_street_and_community() -> None:
    df = pl.DataFrame(
        {"a": ["贵州省铜仁市碧江区环北街道锦江社区滨江路88号3栋", "滨江路88号3栋", "滨江社区滨江大道9号"]}
    )
    out = df.select(
        building_key(strip_to_local(canonical_address("a", prefixes=PREFIXES), roads=["滨江路", "滨江大道"]))
    )["a"].to_list()
    assert out == ["滨江路88号3栋", "滨江路88号3栋", "滨江大道9号"]


def test_strip_to_local_is_null_without_a_known_road() -> None:
    df = pl.DataFrame({"a": ["锦江社区某某小区"]})
    assert df.select(strip_to_local("a", roads=["滨江路"]))["a"].to_list() == [None]


def test_local_key_from_address_point_columns() -> None:
    df = pl.DataFrame({"road": ["滨江路", "滨江路"], "no": ["88号", "88号附1"], "b": ["3幢", None]})
    assert df.select(local_key("road", "no", "b").alias("k"))["k"].to_list() == ["滨江路88号3栋", "滨江路88号附1"]
