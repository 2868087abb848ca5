"""Person linkage: check-character repair, Chinese name equivalence, the chaining guard."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion import fields as fr
from ingestion.linkage import link_persons, name_pinyin, repair_candidates
from ingestion.linkage.cluster import NONE, REASONS, Clusters
from ingestion.linkage.deterministic import check_char_ok
from ingestion.schemas import PERSON_RECORDS

KEY = b"k" * 32
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id(first17: str) -> str:
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, _W)) % 11]


def record(no: int, *, id_raw: str, name: str, birth: dt.date | None, feed: str = "petitions", **extra) -> dict:
    valid = check_char_ok(id_raw)
    return {
        "feed": feed,
        "file": f"{feed}.csv",
        "file_md5": "0" * 32,
        "sheet": "",
        "record_no": no,
        "member_no": 1,
        "role": "petitioner",
        "source_key": f"S{no}",
        "id_raw": id_raw,
        "id_number": id_raw if valid else None,
        "id_status": "valid" if valid else "bad_check",
        "name_raw": name,
        "name": name,
        "name_status": "ok",
        "birth_date": birth,
        **extra,
    }


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PERSON_RECORDS)


def typo(value: str, position: int) -> str:
    digit = str((int(value[position]) + 1) % 10)
    out = value[:position] + digit + value[position + 1 :]
    assert not check_char_ok(out)
    return out


ZHANG = make_id("52060219800101123")
BIRTH = dt.date(1980, 1, 1)


def test_repair_candidates_include_the_id_behind_one_mistyped_digit():
    assert ZHANG in repair_candidates(typo(ZHANG, 15))


def test_repair_candidates_include_the_id_behind_one_swapped_adjacent_pair():
    swapped = ZHANG[:14] + ZHANG[15] + ZHANG[14] + ZHANG[16:]
    assert ZHANG[14] != ZHANG[15] and not check_char_ok(swapped)
    assert ZHANG in repair_candidates(swapped)


def test_repair_candidates_never_return_an_id_failing_its_check():
    assert all(check_char_ok(c) for c in repair_candidates(typo(ZHANG, 3)))


def test_bad_check_id_is_repaired_to_the_one_known_person_agreeing_on_name_and_birth():
    rows = [
        record(1, id_raw=ZHANG, name="张伟", birth=BIRTH),
        record(2, id_raw=typo(ZHANG, 15), name="张伟", birth=BIRTH),
    ]
    links = link_persons(frame(rows), key=KEY).links.sort("record_no")
    assert links["link_method"].to_list() == ["id_number", "id_repaired"]
    assert links["person_key"].n_unique() == 1


def test_repair_is_refused_when_the_known_person_has_another_name():
    rows = [
        record(1, id_raw=ZHANG, name="李娜", birth=BIRTH),
        record(2, id_raw=typo(ZHANG, 15), name="张伟", birth=BIRTH),
    ]
    links = link_persons(frame(rows), key=KEY).links.sort("record_no")
    assert links["link_method"].to_list() == ["id_number", "singleton"]
    assert links["person_key"].n_unique() == 2


def _two_candidate_case() -> tuple[str, list[str]]:
    # a mistyped sequence digit whose one-edit neighbourhood holds two valid IDs with the same birth date
    for seq in range(100, 999):
        base = make_id(f"52060219800101{seq:03d}")
        for pos in (14, 15, 16):
            bad = typo(base, pos) if not check_char_ok(typo(base, pos)) else None
            if bad is None:
                continue
            same_birth = sorted(c for c in repair_candidates(bad) if c[6:14] == base[6:14])
            if len(same_birth) >= 2:
                return bad, same_birth[:2]
    raise AssertionError("no two-candidate case found")


def test_repair_is_refused_when_two_known_people_fit():
    bad, (first, second) = _two_candidate_case()
    rows = [
        record(1, id_raw=first, name="张伟", birth=BIRTH),
        record(2, id_raw=second, name="张伟", birth=BIRTH),
        record(3, id_raw=bad, name="张伟", birth=BIRTH),
    ]
    links = link_persons(frame(rows), key=KEY).links.sort("record_no")
    assert links["link_method"].to_list()[2] != "id_repaired"
    assert links["person_key"][2] not in links["person_key"][:2].to_list()


def test_people_with_a_valid_id_keep_the_hmac_of_their_id():
    from ingestion.pseudonym import person_key

    links = link_persons(frame([record(1, id_raw=ZHANG, name="张伟", birth=BIRTH)]), key=KEY).links
    expected = pl.select(person_key(pl.lit(ZHANG), KEY)).item()
    assert links["person_key"].item() == expected


def _normalised(raw: list[str]) -> list[str]:
    names = pl.DataFrame({"raw": raw}).select(fr.normalise_name(pl.col("raw")).struct.field("name"))
    return names.select(name_pinyin(pl.col("name"))).to_series().to_list()


@pytest.mark.parametrize(
    "variants",
    [
        ["张伟", "张玮"],  # homophone typo
        ["陈建国", "陳建國"],  # traditional
        ["买买提·艾力", "买买提•艾力", "买买提・艾力", "买买提.艾力", "买买提．艾力"],  # middle-dot variants
        ["张三", "张 三", "张\u3000三"],  # spaces inside
    ],
)
def test_name_variants_share_one_pinyin(variants):
    assert len(set(_normalised(variants))) == 1


def test_different_names_have_different_pinyin():
    assert len(set(_normalised(["张伟", "李伟"]))) == 2


def test_guard_refuses_chaining_two_valid_ids_through_one_weak_record():
    # nodes 0 and 1 hold valid IDs A and B (codes 0 and 1), node 2 a weak record
    c = Clusters([0, 1, NONE], [NONE, NONE, NONE])
    assert c.union(0, 2) == 0
    assert REASONS[c.union(2, 1)] == "two_valid_ids"
    assert c.find(0) == c.find(2) != c.find(1)


def test_guard_refuses_joining_two_known_birth_dates():
    born = [dt.date(1980, 1, 1), None, dt.date(1960, 1, 1)]  # before 1970: a negative day number
    c = Clusters([NONE] * 3, [NONE if d is None else (d - dt.date(1970, 1, 1)).days for d in born])
    assert c.merge_all([(0, 1), (1, 2)]) == [(1, 2, "two_birth_dates")]


def test_guard_allows_records_without_conflicting_evidence():
    c = Clusters([0, NONE, NONE], [NONE] * 3)
    assert c.merge_all([(1, 2), (2, 0)]) == []
    assert len({c.find(n) for n in range(3)}) == 1
    assert c.find(2) == 0  # the first node in order is the root


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=12).flatmap(
        lambda codes: st.tuples(
            st.just(codes),
            st.lists(st.tuples(st.integers(0, len(codes) - 1), st.integers(0, len(codes) - 1)), max_size=30),
        )
    )
)
def test_no_cluster_holds_two_ids_or_two_birth_dates_and_every_merge_holds(case):
    codes, edges = case
    ids = [NONE if i == 0 else i for i, _ in codes]
    births = [NONE if b == 0 else b for _, b in codes]
    c = Clusters(ids, births)
    merged = c.merge_codes([a for a, _ in edges], [b for _, b in edges])
    roots = c.roots()
    for (a, b), code in zip(edges, merged):
        assert (roots[a] == roots[b]) if code == 0 else (roots[a] != roots[b])
    for root in set(roots.tolist()):
        members = [n for n in range(len(codes)) if roots[n] == root]
        assert root == min(members)
        assert len({ids[n] for n in members} - {NONE}) <= 1
        assert len({births[n] for n in members} - {NONE}) <= 1
        assert c.id_codes()[root] == next((ids[n] for n in members if ids[n] != NONE), NONE)


def test_accept_threshold_keeps_the_expected_false_share_small():
    from ingestion.linkage.core import ACCEPT_FLOOR, ACCEPT_PROBABILITY, accept_threshold

    assert accept_threshold(pl.Series([0.999] * 100 + [0.95] * 10)) == pytest.approx(0.95)
    # many weak pairs would raise the expected false share: they stay out
    assert accept_threshold(pl.Series([0.999] * 10 + [0.91] * 100)) == ACCEPT_PROBABILITY
    assert ACCEPT_FLOOR <= accept_threshold(pl.Series([0.5, 0.6])) <= ACCEPT_PROBABILITY


def test_a_name_only_record_joins_the_one_known_person_of_that_name_but_never_one_of_two():
    rows = [
        record(1, id_raw=ZHANG, name="张伟", birth=BIRTH, feed="police_population"),
        record(2, id_raw="", name="张伟", birth=None, feed="grid_events"),
        record(
            3, id_raw=make_id("52060219900101123"), name="李娜", birth=dt.date(1990, 1, 1), feed="police_population"
        ),
        record(
            4, id_raw=make_id("52060219910101123"), name="李娜", birth=dt.date(1991, 1, 1), feed="police_population"
        ),
        record(5, id_raw="", name="李娜", birth=None, feed="grid_events"),
    ]
    for r in rows[1::3] + rows[4:]:
        r["id_status"] = "empty"
    links = link_persons(frame(rows), key=KEY).links.sort("feed", "record_no")
    by_no = {
        (f, n): (k, m) for f, n, k, m in links.select("feed", "record_no", "person_key", "link_method").iter_rows()
    }
    assert by_no[("grid_events", 2)] == (by_no[("police_population", 1)][0], "unique_name")
    assert by_no[("grid_events", 5)][1] == "singleton"


def test_splink_duckdb_is_capped_and_scored_again_without_the_cap_when_it_outgrows_it(monkeypatch, caplog):
    import duckdb

    from ingestion.linkage import probabilistic

    calls = []

    def fake(units, *, memory=None, **kwargs):
        calls.append(memory)
        if memory is not None:
            # as Splink raises it: its own exception, from DuckDB's
            try:
                raise duckdb.OutOfMemoryException("could not allocate")
            except duckdb.OutOfMemoryException as err:
                raise RuntimeError("Error executing the following sql") from err
        return "scored"

    monkeypatch.setattr(probabilistic, "_score_pairs", fake)
    units = pl.DataFrame({"unique_id": [1, 2]})
    monkeypatch.setenv("ZHILI_SPLINK_MEMORY", "2GB")
    assert probabilistic.score_pairs(units, min_probability=0.5) == "scored"
    assert calls[0][0] == "2GB" and calls[1] is None
    assert "outgrew DuckDB's 2GB cap" in caplog.text
    calls.clear()
    # not a size: no cap (and no SQL made of it)
    monkeypatch.setenv("ZHILI_SPLINK_MEMORY", "2GB'; drop table units; --")
    assert probabilistic.score_pairs(units, min_probability=0.5) == "scored"
    assert calls == [None]
