"""Deterministic pass: valid IDs, one-edit repair of check-character failures, foreign document numbers.

Repair rule: an 18-character ID that fails its check character is replaced by
a valid ID of a *known* person (one with a valid ID on another record) only
when exactly one such ID lies one edit away — one mistyped character or one
swapped adjacent pair — and that person also agrees with the record on name
(characters or pinyin) and birth date. Two candidates, or one that disagrees,
leave the record to the probabilistic pass: an ID is never guessed.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

__all__ = ["check_char_ok", "repair_candidates", "repair_ids"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_DIGITS = "0123456789"


def check_char_ok(value: str) -> bool:
    if len(value) != 18 or not value[:17].isdigit():
        return False
    return _CHECK[sum(int(c) * w for c, w in zip(value[:17], _WEIGHTS)) % 11] == value[17]


def repair_candidates(value: str) -> set[str]:
    """Every check-valid 18-character ID one substitution or one adjacent swap away from ``value``."""
    out: set[str] = set()
    if len(value) != 18:
        return out
    for i in range(18):
        alphabet = _DIGITS + "X" if i == 17 else _DIGITS
        for c in alphabet:
            if c != value[i]:
                cand = value[:i] + c + value[i + 1 :]
                if check_char_ok(cand):
                    out.add(cand)
    for i in range(17):
        if value[i] != value[i + 1]:
            cand = value[:i] + value[i + 1] + value[i] + value[i + 2 :]
            if check_char_ok(cand):
                out.add(cand)
    out.discard(value)
    return out


def _birth_of(id_number: str) -> dt.date | None:
    try:
        return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def repair_ids(prepared: pl.DataFrame) -> pl.DataFrame:
    """``rid, id_key, candidates`` for the ``bad_check`` records that are repaired (exactly one agreeing candidate).

    ``prepared`` is ``features.prepare`` output. Known people are the valid
    IDs already present, each with every normalised name and pinyin it was
    recorded under.
    """
    bad = prepared.filter((pl.col("id_status") == "bad_check") & pl.col("id_clean").str.contains(r"^\d{17}[\dX]$"))
    empty = pl.DataFrame(schema={"rid": pl.UInt32, "id_key": pl.String, "candidates": pl.Int64})
    if bad.is_empty():
        return empty
    rows = []
    for rid, raw in bad.select("rid", "id_clean").iter_rows():
        for cand in repair_candidates(raw):
            rows.append((rid, cand))
    if not rows:
        return empty
    cands = pl.DataFrame(rows, schema={"rid": pl.UInt32, "cand": pl.String}, orient="row")
    known = (
        prepared.filter(pl.col("id_key").is_not_null())
        .select(pl.col("id_key").alias("cand"), "name_n", "name_py")
        .unique()
    )
    joined = cands.join(known, on="cand", how="inner").join(
        bad.select("rid", pl.col("name_n").alias("r_name"), pl.col("name_py").alias("r_py"), "birth_date", "id_clean"),
        on="rid",
    )
    cand_birth = pl.col("cand").str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    # birth agreement: the stated birth date when there is one, else the date the raw ID itself carries
    own_birth = pl.coalesce(
        pl.col("birth_date"), pl.col("id_clean").str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    )
    agreeing = joined.filter(
        ((pl.col("name_n") == pl.col("r_name")) | (pl.col("name_py") == pl.col("r_py"))).fill_null(False)
        & (cand_birth == own_birth).fill_null(False)
    )
    per_record = agreeing.group_by("rid").agg(pl.col("cand").unique().alias("ids"))
    return (
        per_record.filter(pl.col("ids").list.len() == 1)
        .select(
            "rid",
            pl.col("ids").list.first().alias("id_key"),
            pl.col("ids").list.len().cast(pl.Int64).alias("candidates"),
        )
        .sort("rid")
    )
