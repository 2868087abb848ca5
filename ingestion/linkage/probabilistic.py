"""Probabilistic pass: a Splink 5 Fellegi–Sunter model on DuckDB, trained on the records themselves.

Comparisons are written for Chinese records. Splink's built-in string
distances count UTF-8 bytes (a one-character edit of a Han name is distance
3), so names are compared by characters (``substr`` in DuckDB counts
characters) and by tone-less pinyin, which catches homophone typos
(张伟/张玮) after normalisation has unified middle dots and traditional forms.

Parameters: u by random sampling, m by expectation maximisation on two
blocking passes (birth date; phone), λ from a deterministic rule with an
assumed recall — no truth at run time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

__all__ = ["BLOCKING_RULES", "SplinkRun", "score_pairs", "settings"]

log = logging.getLogger(__name__)

_OPEN = "(l.id_key is null or r.id_key is null)"
#: Candidate pairs: at least one side has no valid ID (two different valid IDs are never the same person).
#: ``phones`` is exploded: two records sharing any one of their numbers are compared.
BLOCKING_RULES = {
    "birth_date": f"l.birth_date = r.birth_date and {_OPEN}",
    "id_head": f"l.id_head = r.id_head and {_OPEN}",
    "phone": f"l.phones = r.phones and {_OPEN}",
    "name_py+community": f"l.name_py = r.name_py and l.community_code = r.community_code and {_OPEN}",
    "name_py+building": f"l.name_py = r.name_py and l.address_code = r.address_code and {_OPEN}",
}
_EXPLODE = {"phone": ["phones"]}

# Character-wise Hamming distance 1 for names of equal length (positions past the end compare '' = '').
_CHAR_EDIT1 = "length(name_l) = length(name_r) and length(name_l) >= 2 and (" + " + ".join(
    f"cast(substr(name_l, {i}, 1) <> substr(name_r, {i}, 1) as integer)" for i in range(1, 13)
) + ") = 1"


def settings():
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name", term_frequency_adjustments=True),
            cll.CustomLevel("name_py_l = name_py_r", "same pinyin (homophone)"),
            cll.CustomLevel(_CHAR_EDIT1, "one character differs"),
            cll.CustomLevel("substr(name_l, 1, 1) = substr(name_r, 1, 1)", "same surname"),
            cll.ElseLevel(),
        ],
    )
    # The first 15 characters of an ID are region, birth date and a sequence digit: one comparison with the
    # birth date, not a second one, or the same date would be counted twice as independent evidence.
    birth = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.CustomLevel(
                "(birth_date_l is null or birth_date_r is null) and (id_head_l is null or id_head_r is null)", "no birth date"
            ).configure(is_null_level=True),
            cll.CustomLevel("id_head_l = id_head_r", "same ID head (region, birth date, sequence)"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel("year(birth_date_l) = year(birth_date_r)", "same year"),
            cll.ElseLevel(),
        ],
    )
    # any of several numbers: a caller's one landline agrees with the register's "mobile/landline"
    phones = cl.CustomComparison(
        output_column_name="phones",
        comparison_levels=[
            cll.CustomLevel("phones_l is null or phones_r is null", "no phone").configure(is_null_level=True),
            cll.ArrayIntersectLevel("phones", min_intersection=1).configure(label_for_charts="a number in common"),
            # one gave only a mobile, the other only a landline: people have both, so this is no disagreement
            cll.CustomLevel(
                "not ((has_mobile_l and has_mobile_r) or (has_landline_l and has_landline_r))", "mobile beside landline"
            ),
            cll.ElseLevel(),
        ],
    )
    # household context: the same address to the room is the household; then building, grid, community
    place = cl.CustomComparison(
        output_column_name="place",
        comparison_levels=[
            cll.CustomLevel(
                "(address_code_l is null or address_code_r is null) and (grid_code_l is null or grid_code_r is null)", "no place"
            ).configure(is_null_level=True),
            cll.CustomLevel("home_address_l = home_address_r", "same household address"),
            cll.ExactMatchLevel("address_code"),
            cll.ExactMatchLevel("grid_code"),
            cll.ExactMatchLevel("community_code"),
            cll.ElseLevel(),
        ],
    )
    from splink.blocking_rule_library import CustomRule

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[name, birth, phones, place, cl.ExactMatch("sex")],
        blocking_rules_to_generate_predictions=[CustomRule(rule, arrays_to_explode=_EXPLODE.get(key)) for key, rule in BLOCKING_RULES.items()],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
    )


@dataclass
class SplinkRun:
    pairs: pl.DataFrame  # unique_id_l, unique_id_r, match_weight, match_probability, rule, gamma_*
    probability_two_random_records_match: float
    m_u: pl.DataFrame  # comparison, level, m, u


def score_pairs(units: pl.DataFrame, *, min_probability: float, seed: int = 42) -> SplinkRun:
    """Train on ``units`` and score every blocked pair with ``match_probability >= min_probability``.

    ``units``: unique_id (int), id_key, id_head, name, name_py, birth_date,
    phone (the first number), phones (every number), home_address,
    address_code, grid_code, community_code, sex.
    """
    import duckdb
    from splink import DuckDBAPI, Linker, block_on

    con = duckdb.connect()
    con.execute("set threads to 2")
    con.register("units_arrow", units.to_arrow())
    con.execute("create table units as select * from units_arrow")
    db = DuckDBAPI(connection=con)
    linker = Linker(db.register("units"), settings(), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        ["l.name = r.name and l.birth_date = r.birth_date", "l.name = r.name and l.phone = r.phone"], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    from splink.internals.exceptions import EMTrainingException

    for rule in (block_on("birth_date"), block_on("phone")):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=5e6)
        except EMTrainingException:  # too few records share a value: m stays at its default for this pass
            log.info("splink: an EM pass had no record pairs to train on; skipped")
    predictions = linker.inference.predict(threshold_match_probability=min_probability)
    rule_names = list(BLOCKING_RULES)
    pairs = pl.from_arrow(con.sql(f"select * from {predictions.physical_name}").to_arrow_table())
    pairs = pairs.with_columns(
        pl.col("match_key").cast(pl.Int64).map_elements(lambda k: rule_names[k], return_dtype=pl.String).alias("rule")
    )
    params = []
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            params.append((comparison.output_column_name, level.label_for_charts, level.m_probability, level.u_probability))
    m_u = pl.DataFrame(params, schema={"comparison": pl.String, "level": pl.String, "m": pl.Float64, "u": pl.Float64}, orient="row")
    lam = linker._settings_obj._probability_two_random_records_match
    log.info("splink: %d units, %d scored pairs >= %.2f, lambda %.3g", units.height, pairs.height, min_probability, lam)
    con.close()
    return SplinkRun(pairs=pairs, probability_two_random_records_match=lam, m_u=m_u)
