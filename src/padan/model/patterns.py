"""Training on comparison-vector pattern counts: pairs -> gamma vectors (padan's engine, one Spark
plan) -> counts of each distinct gamma pattern (one small collect) -> expectation maximisation on
the driver with numpy.

Millions of candidate pairs collapse to a few hundred patterns, so an EM iteration costs
microseconds instead of one Spark job. The update equations are Splink's
(`splink.internals.expectation_maximisation` with `estimate_without_term_frequencies=True`):
E-step: each pattern's match probability from the prior and the levels' log2(m/u) (null level 0);
M-step: m (u) of a level = the match (non-match) weight of the patterns at that level over the
comparison's total outside the null level; the prior = the mean match probability; stop when no
m, u or prior moves by `convergence` or more. A level no pattern reaches is 'not observed' (Splink
then reads it as 1e-6). tests/test_engine.py checks the result against Splink's EM session on
the same pairs.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from splink.internals.misc import bayes_factor_to_prob, prob_to_bayes_factor
from splink.internals.parse_sql import get_columns_used_from_sql
from splink.internals.settings import Settings
from splink.internals.settings_creator import SettingsCreator

from padan.link import engine
from padan.model.settings import with_rule_columns

NOT_OBSERVED = 1e-6     # Splink's reading of a level marked 'level not observed'
CLAMP = 1e-300          # Splink's floor on m and u before log2(m/u)


@dataclass
class PatternCounts:
    names: list[str]          # comparison names, in column order
    gammas: np.ndarray        # (patterns, comparisons) int
    counts: np.ndarray        # (patterns,) float


@dataclass
class EMResult:
    m: dict[str, dict[int, float | None]]     # None: level not observed
    u: dict[str, dict[int, float | None]]
    prior: float
    iterations: int
    history: list[float] = field(default_factory=list)   # largest change per iteration


def _as_counts(rows: list, names: list[str]) -> PatternCounts:
    """Collected (gamma_<name>..., n) rows as PatternCounts, patterns in ascending gamma order (a
    canonical order: the driver's sums then do not depend on the order Spark returns the groups)."""
    cols = [f"gamma_{n}" for n in names]
    keyed = sorted(([(-99 if r[c] is None else int(r[c])) for c in cols], float(r["n"])) for r in rows)
    gammas = np.array([g for g, _ in keyed], dtype=np.int64)
    counts = np.array([n for _, n in keyed], dtype=np.float64)
    return PatternCounts(list(names), gammas.reshape(len(keyed), len(cols)), counts)


def pattern_counts(pairs: DataFrame, names: list[str]) -> PatternCounts:
    """Counts of the distinct (gamma_<name>, ...) patterns of scored or blocked pairs (one job)."""
    cols = [f"gamma_{n}" for n in names]
    return _as_counts(pairs.groupBy(*cols).agg(F.count(F.lit(1)).alias("n")).collect(), names)


@dataclass(frozen=True)
class TaggedSets:
    """Several sets of pairs in one frame (for `pattern_counts_by_set`): `column` holds each row's
    set, 0 .. n - 1, so the sets share one plan (one join for all of them) instead of one each."""
    frame: DataFrame
    column: str
    n: int


def pattern_counts_by_set(frames: list[DataFrame | TaggedSets | None], names: list[str]) -> list[PatternCounts]:
    """`pattern_counts` of several sets of pairs (each a frame with every gamma_<name> column, or
    with none: its rows then count as one all-null pattern, i.e. a row count) in ONE query:
    the sets tagged and unioned, grouped by (tag, pattern), one collect. None stands for an empty set;
    a `TaggedSets` stands for its n sets, in the order of its tag."""
    cols = [f"gamma_{n}" for n in names]
    tagged = None
    k = 0
    for frame in frames:
        if frame is None:
            k += 1
            continue
        tag, sets = F.lit(k), 1
        if isinstance(frame, TaggedSets):
            tag, sets, frame = F.col(frame.column) + F.lit(k), frame.n, frame.frame
        have = set(frame.columns)
        if have & set(cols) and not have >= set(cols):
            raise ValueError(f"set {k}: gamma columns missing: {sorted(set(cols) - have)}")
        t = frame.select(tag.cast("int").alias("__set"), *[(F.col(c) if c in have else F.lit(None)).cast("int").alias(c)
                                                           for c in cols])
        tagged = t if tagged is None else tagged.unionByName(t)
        k += sets
    rows = [] if tagged is None else tagged.groupBy("__set", *cols).agg(F.count(F.lit(1)).alias("n")).collect()
    by_set: dict[int, list] = {}
    for r in rows:
        by_set.setdefault(r["__set"], []).append(r)
    return [_as_counts(by_set.get(i, []), names) for i in range(k)]


def _value(p: float | None) -> float:
    return NOT_OBSERVED if p is None else p


def em_on_pattern_counts(pc: PatternCounts, levels: dict[str, list[int]], m: dict[str, dict[int, float | None]],
                         u: dict[str, dict[int, float | None]], prior: float, *, max_iterations: int,
                         convergence: float, fix_m: bool = False, fix_u: bool = True,
                         fix_prior: bool = False) -> EMResult:
    """EM over the comparisons in `levels` (name -> its non-null gamma values), starting from m, u
    (name -> gamma -> probability) and the prior. Splink's equations; see the module docstring."""
    names = [n for n in pc.names if n in levels]
    idx = [pc.names.index(n) for n in names]
    g = pc.gammas[:, idx]
    n = pc.counts
    total = n.sum()
    m = {c: dict(v) for c, v in m.items()}
    u = {c: dict(v) for c, v in u.items()}
    history: list[float] = []
    it = 0
    for it in range(1, max_iterations + 1):
        # E-step: match weight of every pattern.
        mw = np.full(len(n), math.log2(prior / (1 - prior)))
        for j, c in enumerate(names):
            w = np.zeros(len(n))
            for v in levels[c]:
                w[g[:, j] == v] = math.log2(max(_value(m[c].get(v)), CLAMP) / max(_value(u[c].get(v)), CLAMP))
            mw = mw + w
        with np.errstate(over="ignore"):
            p = np.where(mw >= 0, 1.0 / (1.0 + np.power(2.0, -mw)), np.power(2.0, mw) / (1.0 + np.power(2.0, mw)))
        # M-step.
        new_m, new_u = {c: dict(m[c]) for c in names}, {c: dict(u[c]) for c in names}
        for j, c in enumerate(names):
            at = {v: g[:, j] == v for v in levels[c]}
            mc = {v: float((p * n)[mask].sum()) for v, mask in at.items() if mask.any()}
            uc = {v: float(((1 - p) * n)[mask].sum()) for v, mask in at.items() if mask.any()}
            ms, us = sum(mc.values()), sum(uc.values())
            for v in levels[c]:
                if not fix_m:
                    new_m[c][v] = mc[v] / ms if v in mc else None
                if not fix_u:
                    new_u[c][v] = uc[v] / us if v in uc else None
        new_prior = prior if fix_prior else float((p * n).sum() / total)
        change = abs(new_prior - prior)
        for c in names:
            for v in levels[c]:
                change = max(change, abs(_value(new_m[c].get(v)) - _value(m[c].get(v))),
                             abs(_value(new_u[c].get(v)) - _value(u[c].get(v))))
        m.update(new_m)
        u.update(new_u)
        prior = new_prior
        history.append(change)
        if change < convergence:
            break
    return EMResult(m=m, u=u, prior=prior, iterations=it, history=history)


def blocked_gammas(spark, persons: DataFrame, settings: dict[str, Any], rule: str) -> DataFrame:
    """The gamma vectors of the pairs one training blocking rule finds (the model's link type;
    no term frequencies: EM on patterns estimates without them)."""
    engine.register_similarity_functions(spark)
    model = engine.parse_model(settings)
    model = dataclasses.replace(model, rules=(engine._transpile(rule),), tf_columns=())
    df, cols = engine._inputs(persons, model, with_rule_columns(settings, [rule]), None)
    where = engine._composite_id("l") < engine._composite_id("r")
    if model.link_type == "link_only":
        where = where & (F.col("l.source_dataset") != F.col("r.source_dataset"))
    pairs = engine._blocked(df, df, model, where, cols, ordered=True)
    return pairs.select(*[engine._gamma(c).alias(f"gamma_{c.name}") for c in model.comparisons])


def comparison_names(settings: dict[str, Any]) -> list[str]:
    """The comparisons' output column names in model order (the names of `PatternCounts`)."""
    obj = SettingsCreator.from_path_or_dict(copy.deepcopy(settings)).get_settings("spark")
    return [cc.output_column_name for cc in obj.comparisons]


def em_session(spark, persons: DataFrame, settings: dict[str, Any], rule: str, *, fix_u: bool = True,
               fix_prior: bool = False, pc: PatternCounts | None = None) -> tuple[dict[str, Any], EMResult]:
    """One EM training session on pattern counts, as Splink's
    `estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)`
    on a model whose m has not been trained before: the comparisons that use a column of the rule
    are left out, the prior starts from the model's adjusted by the Bayes factors of the exact-match
    levels the rule implies, and the observed levels' m (and u unless fixed) of the other
    comparisons are replaced by the estimates. `pc`: the rule's pattern counts when the caller
    already has them (`blocked_gammas` of this rule; the gammas do not depend on m or u), else one
    Spark job counts them. Returns (updated settings, EM result)."""
    obj = SettingsCreator.from_path_or_dict(copy.deepcopy(settings)).get_settings("spark")
    rule_cols = set(get_columns_used_from_sql(rule, sqlglot_dialect="spark"))
    active = [cc for cc in obj.comparisons
              if not rule_cols & {c.input_name for c in cc._input_columns_used_by_case_statement}]
    bf = prob_to_bayes_factor(obj.core_model_settings.probability_two_random_records_match)
    for info in Settings._get_comparison_levels_corresponding_to_training_blocking_rule(
            blocking_rule_sql=rule, sqlglot_dialect="spark", comparisons=obj.comparisons):
        bf *= info["level"]._bayes_factor
    names = comparison_names(settings)
    levels = {cc.output_column_name: [cl.comparison_vector_value for cl in cc._comparison_levels_excluding_null]
              for cc in active}
    m = {cc.output_column_name: {cl.comparison_vector_value: cl.m_probability
                                 for cl in cc._comparison_levels_excluding_null} for cc in active}
    u = {cc.output_column_name: {cl.comparison_vector_value: cl.u_probability
                                 for cl in cc._comparison_levels_excluding_null} for cc in active}
    if pc is None:
        pc = pattern_counts(blocked_gammas(spark, persons, settings, rule), names)
    if not len(pc.counts):
        raise ValueError("the EM blocking rule finds no pairs")
    result = em_on_pattern_counts(pc, levels, m, u, bayes_factor_to_prob(bf),
                                  max_iterations=obj.training_settings.max_iterations,
                                  convergence=obj.training_settings.em_convergence, fix_u=fix_u,
                                  fix_prior=fix_prior)
    out = copy.deepcopy(settings)
    for comp in out["comparisons"]:
        name = comp["output_column_name"]
        if name not in levels:
            continue
        non_null = [lvl for lvl in comp["comparison_levels"] if not lvl.get("is_null_level")]
        for i, lvl in enumerate(non_null):
            gamma = len(non_null) - 1 - i
            if result.m[name].get(gamma) is not None:
                lvl["m_probability"] = result.m[name][gamma]
            if not fix_u and result.u[name].get(gamma) is not None:
                lvl["u_probability"] = result.u[name][gamma]
    return out, result
