"""Probabilistic pass: a Splink 5 Fellegi–Sunter model on DuckDB, trained on the records themselves.

Comparisons are written for Chinese records. Splink's built-in string
distances count UTF-8 bytes (a one-character edit of a Han name is distance
3), so names are compared by characters (``substr`` in DuckDB counts
characters) and by tone-less pinyin, which catches homophone typos
(张伟/张玮) after normalisation has unified middle dots and traditional forms.

Parameters, from one of two sources (``SplinkRun.model_source``):

* ``trained_here``: u by random sampling, m by expectation maximisation on two
  blocking passes (birth date; phone), λ from deterministic rules with an
  assumed recall — no truth at run time; a level EM never observed takes the
  priors' m. Used only when the district has enough evidence of its own
  (``enough_to_train``).
* ``shipped:<version>``: the priors shipped with the code (``priors``; m
  estimated on generated deliveries of these very feeds against their truth).
  m is how the feeds garble a person's record, the same in every district, so
  it is taken as shipped; u (how often two different people agree by chance:
  the number of grids, the local names) and λ (how many records a person has
  here, and the district's size) belong to the district and are re-estimated
  on its own records — u by random sampling, λ by the same deterministic rules
  — which work on a few hundred records, where EM does not.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field

import polars as pl

__all__ = [
    "BLOCKING_RULES",
    "MIN_OPEN_UNITS",
    "SplinkRun",
    "enough_to_train",
    "score_pairs",
    "settings",
    "splink_quiet",
]

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
_CHAR_EDIT1 = (
    "length(name_l) = length(name_r) and length(name_l) >= 2 and ("
    + " + ".join(f"cast(substr(name_l, {i}, 1) <> substr(name_r, {i}, 1) as integer)" for i in range(1, 13))
    + ") = 1"
)


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
                "(birth_date_l is null or birth_date_r is null) and (id_head_l is null or id_head_r is null)",
                "no birth date",
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
                "(address_code_l is null or address_code_r is null) and (grid_code_l is null or grid_code_r is null)",
                "no place",
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
        blocking_rules_to_generate_predictions=[
            CustomRule(rule, arrays_to_explode=_EXPLODE.get(key)) for key, rule in BLOCKING_RULES.items()
        ],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
    )


#: EM may train m here only on at least this many units without a valid ID (the records whose links the
#: model decides). Measured with benchmarks/bench_linkage.py --model trained|priors on generated districts
#: (seed 7): at 5,000 residents (~340 such units) EM leaves 4 of 19 comparison levels unobserved and scores
#: worse than the priors (F1 0.9984 against 0.9988; without a valid ID 0.9672 against 0.9770); at 30,000
#: (~2,000) the two score the same (0.9993); at 100,000 (~6,300) too (0.9991). Training here is for a district
#: whose records differ from the generator's, which only enough of its own evidence can show.
MIN_OPEN_UNITS = 5_000
#: EM's own iteration cap (Splink's default): a pass that used all of them did not converge.
_EM_MAX_ITERATIONS = 25
_EM_RULES = ("birth_date", "phone")
#: λ from these deterministic rules, assumed to find this share of the true pairs.
_LAMBDA_RULES = ["l.name = r.name and l.birth_date = r.birth_date", "l.name = r.name and l.phone = r.phone"]
_LAMBDA_RECALL = 0.8


@dataclass
class SplinkRun:
    pairs: pl.DataFrame  # unique_id_l, unique_id_r, match_weight, match_probability, rule, gamma_*
    probability_two_random_records_match: float
    m_u: pl.DataFrame  # comparison, level, m, u
    model_source: str = "trained_here"  # or "shipped:<priors version>"
    lambda_method: str = "deterministic_rules"  # or "scaled_prior" (no rule pair in the district's records)
    not_trained_here: str | None = None  # why the district's own records were not enough to train on
    splink_warnings: int = 0  # Splink's training warnings, logged at DEBUG (``splink_quiet``)
    notes: dict = field(default_factory=dict)
    model: dict | None = None  # the model that scored, as Splink's JSON dict (``linker.misc.save_model_to_json``)
    tf_name: pl.DataFrame | None = None  # name, tf_name: the name term frequencies it scored with, to keep with it


class _Relay(logging.Handler):
    """Splink's own log records, counted and passed on to this module's logger at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.warnings = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.warnings += 1
        log.debug("splink: %s", record.getMessage().strip())


@contextmanager
def splink_quiet():
    """Route Splink's log (training warnings on every run: "level not observed", "m values not fully trained")
    through our logging at DEBUG instead of printing it to stderr; restore Splink's logger afterwards."""
    splink = logging.getLogger("splink")
    saved = splink.level, splink.propagate, list(splink.handlers)
    relay = _Relay()
    splink.handlers = [relay]
    splink.propagate = False
    splink.setLevel(logging.WARNING)
    try:
        yield relay
    finally:
        splink.setLevel(saved[0])
        splink.propagate = saved[1]
        splink.handlers = saved[2]


def enough_to_train(open_units: int, em_passes: dict[str, int | None]) -> str | None:
    """Why the district's own records are not enough to train m on, or None when they are.

    ``open_units``: units without a valid ID; ``em_passes``: iterations each EM pass took (None: it had no
    pairs). Enough means both: ``MIN_OPEN_UNITS`` or more open units, and every EM pass ran and converged
    (within ``_EM_MAX_ITERATIONS``). A comparison level no pass observed (a district's matches may never
    differ by a year of birth) takes the shipped priors' m, not Splink's default.
    """
    if open_units < MIN_OPEN_UNITS:
        return f"{open_units} units without a valid ID, fewer than {MIN_OPEN_UNITS}"
    for rule, iterations in em_passes.items():
        if iterations is None:
            return f"the EM pass blocked on {rule} had no record pairs"
        if iterations >= _EM_MAX_ITERATIONS:
            return f"the EM pass blocked on {rule} did not converge in {_EM_MAX_ITERATIONS} iterations"
    return None


def _m_from_priors(linker, priors) -> list[str]:
    """Give every level EM did not observe the priors' m; return those levels."""
    shipped = {
        (c["output_column_name"], level.get("label_for_charts")): level.get("m_probability")
        for c in priors.settings["comparisons"]
        for level in c["comparison_levels"]
        if not level.get("is_null_level")
    }
    filled = []
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level or level._m_is_trained:
                continue
            level.m_probability = shipped[(comparison.output_column_name, level.label_for_charts)]
            filled.append(f"{comparison.output_column_name}/{level.label_for_charts}")
    return filled


def _m_u(linker) -> pl.DataFrame:
    params = []
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            params.append(
                (comparison.output_column_name, level.label_for_charts, level.m_probability, level.u_probability)
            )
    return pl.DataFrame(
        params, schema={"comparison": pl.String, "level": pl.String, "m": pl.Float64, "u": pl.Float64}, orient="row"
    )


def _train_here(linker, *, seed: int) -> tuple[str | None, dict]:
    """Estimate λ, u and m on the district's records; return (why not enough, or None; what EM did)."""
    from splink import block_on
    from splink.internals.exceptions import EMTrainingException

    try:
        linker.training.estimate_probability_two_random_records_match(_LAMBDA_RULES, recall=_LAMBDA_RECALL)
    except ValueError as err:  # more rule pairs than the assumed recall allows: a handful of records
        return f"lambda not estimable here ({err})", {}
    if not 0 < linker._settings_obj._probability_two_random_records_match < 1:  # no rule pair: EM cannot start
        return "lambda not estimable here (the deterministic rules found no pair)", {}
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    passes: dict[str, int | None] = {}
    for rule in _EM_RULES:
        try:
            session = linker.training.estimate_parameters_using_expectation_maximisation(block_on(rule), max_pairs=5e6)
            passes[rule] = len(session._core_model_settings_history)
        except EMTrainingException:  # too few records share a value
            passes[rule] = None
    return None, {"em_iterations": passes}


def _lambda_here(linker, units: int, priors) -> tuple[float, str]:
    """λ from the deterministic rules on the district's records; the priors' λ scaled to its size when the
    rules find no pair (or more than the assumed recall allows)."""
    try:
        linker.training.estimate_probability_two_random_records_match(_LAMBDA_RULES, recall=_LAMBDA_RECALL)
        lam = linker._settings_obj._probability_two_random_records_match
        if 0 < lam < 1:
            return lam, "deterministic_rules"
    except ValueError:
        pass
    lam = priors.scaled_lambda(units)
    linker._settings_obj._probability_two_random_records_match = lam
    return lam, "scaled_prior"


def _estimate(db, units: pl.DataFrame, open_units: int, notes: dict, *, model: str, seed: int):
    """Estimate a model on ``units``: (linker, model source, λ method, why not trained here or None)."""
    from splink import Linker

    from .priors import load_priors

    why_not = "forced: model='priors'" if model == "priors" else None
    if model == "auto" and open_units < MIN_OPEN_UNITS:  # not worth an EM that cannot be used
        why_not = enough_to_train(open_units, {})
    linker = None
    if why_not is None:
        linker = Linker(db.register("units"), settings(), log_level=None)
        why_not, em = _train_here(linker, seed=seed)
        notes |= em
        if why_not is None:
            why_not = enough_to_train(open_units, em["em_iterations"])
        if why_not is not None and model == "trained":
            if not em:
                raise ValueError(f"model='trained': cannot train on these records: {why_not}")
            log.info("splink: forced to train here although: %s", why_not)
            why_not = None
    if why_not is None:
        notes["m_from_priors"] = _m_from_priors(linker, load_priors())
        return linker, "trained_here", "deterministic_rules", None
    priors = load_priors()
    linker = Linker(db.register("units"), priors.scoring_settings(), log_level=None)
    _, lambda_method = _lambda_here(linker, units.height, priors)
    # u from the district's own pairs; a level no sampled pair shows keeps the priors' u
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    log.info("splink: scoring with the shipped priors %s: %s", priors.version, why_not)
    return linker, f"shipped:{priors.version}", lambda_method, why_not


#: what Splink's DuckDB connection holds in memory before it spills to disk (``ZHILI_SPLINK_MEMORY``, a DuckDB
#: size such as ``1500MB``; empty: DuckDB's default, 80 % of the machine). On a home of 5.6M person records
#: (2.3M profiles) the cap took linkage's peak from 6,577 to 5,573 MB.
SPLINK_MEMORY = "1500MB"


def score_pairs(units: pl.DataFrame, **kwargs) -> SplinkRun:
    """``_score_pairs`` with Splink's DuckDB capped at ``SPLINK_MEMORY``, spilling to a temporary folder; a
    step DuckDB cannot spill that outgrows the cap is run again without it (logged), never failed."""
    import duckdb

    cap = os.environ.get("ZHILI_SPLINK_MEMORY", SPLINK_MEMORY).strip()
    if cap and not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", cap, flags=re.IGNORECASE):
        log.warning("ZHILI_SPLINK_MEMORY=%r is not a size such as 1500MB or 2GiB; Splink's DuckDB is not capped", cap)
        cap = ""
    if not cap:
        return _score_pairs(units, **kwargs)
    with tempfile.TemporaryDirectory(prefix="zhili-splink-") as spill:
        try:
            return _score_pairs(units, memory=(cap, spill), **kwargs)
        except Exception as err:  # Splink wraps DuckDB's error in its own
            if not _out_of_memory(err, duckdb.OutOfMemoryException):
                raise
            log.warning("splink: %d units outgrew DuckDB's %s cap; scoring again without it", units.height, cap)
    return _score_pairs(units, **kwargs)


def _out_of_memory(err: BaseException | None, kind: type) -> bool:
    """Whether ``err`` is, or was raised from, DuckDB's out-of-memory error."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, kind):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def _score_pairs(
    units: pl.DataFrame,
    *,
    min_probability: float,
    seed: int = 42,
    model: str = "auto",
    kept: tuple[str, dict] | None = None,
    kept_tf: pl.DataFrame | None = None,
    only_new: bool = False,
    memory: tuple[str, str] | None = None,
) -> SplinkRun:
    """Estimate the model (``model``: ``auto`` — trained here when ``enough_to_train``, else the shipped
    priors; ``trained`` or ``priors`` to force one) and score every blocked pair with
    ``match_probability >= min_probability``. ``kept``: (name, Splink model dict) of the model kept in the home
    (``model_store``): it scores as it is, nothing is estimated, so the same profiles score the same every run.
    ``only_new``: score only the pairs with at least one side whose ``is_new`` (a boolean column of ``units``)
    is true: the pairs of two units seen before were scored by the same kept model already.
    ``kept_tf``: the kept model's name term-frequency table (``name``, ``tf_name``), used instead of one computed
    from ``units`` (``_register_tf``); None: Splink computes it from ``units`` (a new model, or one kept before
    tables were kept). ``SplinkRun.tf_name`` is the table that scored.

    ``units``: unique_id (int), id_key, id_head, name, name_py, birth_date,
    phone (the first number), phones (every number), home_address,
    address_code, grid_code, community_code, sex.
    """
    import duckdb
    from splink import DuckDBAPI, Linker

    if model not in ("auto", "trained", "priors"):
        raise ValueError(f"model={model!r} should be 'auto', 'trained' or 'priors'")
    con = duckdb.connect()
    con.execute("set threads to 2")
    if memory is not None:  # (cap, spill folder)
        con.execute(f"set memory_limit = '{memory[0]}'")
        con.execute(f"set temp_directory = '{memory[1]}'")
    con.register("units_arrow", units.to_arrow())
    con.execute("create table units as select * from units_arrow")
    db = DuckDBAPI(connection=con)
    open_units = units.filter(pl.col("id_key").is_null()).height
    notes: dict = {"open_units": open_units}
    with splink_quiet() as relay:
        if kept is not None:
            name, kept_settings = kept
            linker = Linker(db.register("units"), _with_code_blocking(kept_settings, only_new=only_new), log_level=None)
            source, lambda_method, why_not = name, "kept", None
            if kept_tf is not None:
                notes["tf_name_unseen"] = _register_tf(con, db, linker, kept_tf)
        else:
            linker, source, lambda_method, why_not = _estimate(db, units, open_units, notes, model=model, seed=seed)
        predictions = linker.inference.predict(threshold_match_probability=min_probability)
    rule_names = list(BLOCKING_RULES)
    # what linkage reads of a pair (``core.link_profiles``, the review queue): not the compared values themselves,
    # which are most of a prediction's width (millions of pairs at a county's size)
    wanted = [
        c
        for c in con.sql(f"select * from {predictions.physical_name} limit 0").columns
        if c in _PAIR_COLUMNS or c.startswith("gamma_")
    ]
    pairs = pl.from_arrow(con.sql(f"select {', '.join(wanted)} from {predictions.physical_name}").to_arrow_table())
    pairs = pairs.with_columns(
        pl.col("match_key").cast(pl.Int64).map_elements(lambda k: rule_names[k], return_dtype=pl.String).alias("rule")
    )
    m_u = _m_u(linker)
    # the table that scored: the kept one, else the one Splink computed from these units (cached by predict)
    tf_name = kept_tf
    if tf_name is None:
        tf_table = linker.table_management.compute_tf_table("name")
        tf_name = pl.from_arrow(con.sql(f"select name, tf_name from {tf_table.physical_name}").to_arrow_table())
    model_dict = linker.misc.save_model_to_json()  # Splink's own model JSON, for the home to keep
    lam = linker._settings_obj._probability_two_random_records_match
    log.info(
        "splink: %d units, %d scored pairs >= %.2f, model %s, lambda %.3g (%s); %d Splink warnings at DEBUG",
        units.height,
        pairs.height,
        min_probability,
        source,
        lam,
        lambda_method,
        relay.warnings,
    )
    con.close()
    return SplinkRun(
        pairs=pairs,
        probability_two_random_records_match=lam,
        m_u=m_u,
        model_source=source,
        lambda_method=lambda_method,
        not_trained_here=why_not,
        splink_warnings=relay.warnings,
        notes=notes,
        model=model_dict,
        tf_name=tf_name,
    )


#: a scored pair's columns linkage reads, besides its comparison levels (``gamma_*``)
_PAIR_COLUMNS = (
    "unique_id_l",
    "unique_id_r",
    "match_weight",
    "match_probability",
    "match_key",
    "id_head_l",
    "id_head_r",
)


def _register_tf(con, db, linker, kept_tf: pl.DataFrame) -> int:
    """Score names with the kept model's term frequencies (``kept_tf``) instead of the units' own; return how
    many of the units' names the table does not list.

    Splink 5.0 left-joins the table onto the records: a name it does not list gets a null frequency and, in
    ``ComparisonLevel._tf_adjustment_sql``, no adjustment at all (the exact-match level's average u), which would
    weigh a name never seen at keeping time as an average name. Such a name was seen less often than any name
    the table lists, so it takes the table's smallest frequency: each name's weight is still a function of the
    name and the kept model alone, whichever records a run scores.
    """
    con.register("kept_tf_arrow", kept_tf.select("name", "tf_name").to_arrow())
    con.execute(
        """
        create table kept_tf_name as
        select name, tf_name from kept_tf_arrow
        union all
        select distinct u.name, (select min(tf_name) from kept_tf_arrow)
        from units u anti join kept_tf_arrow k on u.name = k.name
        where u.name is not null
        """
    )
    con.unregister("kept_tf_arrow")
    linker.table_management.register_term_frequency_lookup(db.register("kept_tf_name"), "name")
    return con.execute("select count(*) from kept_tf_name").fetchall()[0][0] - kept_tf.height


def _with_code_blocking(model: dict, *, only_new: bool = False) -> dict:
    # which pairs are compared is the code's business: ``score_pairs`` names each pair's rule by its index
    rules = settings().get_settings("duckdb").as_dict()["blocking_rules_to_generate_predictions"]
    if only_new:
        # the same condition on every rule: a pair is still named by the first rule that finds it, as in a full run
        rules = [{**rule, "blocking_rule": f"({rule['blocking_rule']}) and (l.is_new or r.is_new)"} for rule in rules]
    return {**model, "blocking_rules_to_generate_predictions": rules}
