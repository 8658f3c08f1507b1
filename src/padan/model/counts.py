"""Training on counts: the prior, u and the NIK-anchored m of `padan.model.train` without Splink's
per-comparison passes, each from one Spark job that ends in a small table of counts.

- prior: the number of distinct pairs the deterministic `prior_rules` find (padan's engine joins,
  one count) over the number of possible pairs for the link type, divided by the assumed recall:
  Splink's `estimate_probability_two_random_records_match`.
- u: a seeded hash sample of records, sized so that its pairs number about `u_max_pairs` (Splink's
  sample size for that many pairs), all its pairs -> gamma vectors -> counts of each distinct gamma
  pattern (one collect); u of a level = its share among the pairs outside the comparison's null
  level. Splink's `estimate_u_using_random_sampling` computes the same shares over its own random
  sample, one comparison at a time (a pass per comparison and chunk).
- household u (`training.household_u`, optional): the pairs sharing a household key that are two
  people -> gamma vectors -> pattern counts (in the same query as u); the named comparisons' u =
  their levels' shares among those pairs (a comparison null outside the key: P(level | non-match,
  same household)).
- m: label pairs (`train.nik_anchored_labels` and the others) -> gamma vectors -> pattern counts;
  m of a level = its share among the labelled pairs outside the null level: exactly Splink's
  `estimate_m_from_pairwise_labels` (every label has clerical_match_score 1).

tests/test_train_counts.py checks m against Splink's on the same labels (to 1e-12), the prior
against Splink's on the same rules, and u against Splink's sampling within sampling error.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import statistics
import time
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan.errors import ModelError
from padan.link import engine
from padan.model.patterns import (PatternCounts, TaggedSets, blocked_gammas, comparison_names, em_session,
                                  pattern_counts, pattern_counts_by_set)
from padan.model.settings import with_rule_columns


def _placeholders(settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of the settings whose untrained levels have a placeholder m and u (0.5): enough to
    parse them for gamma vectors, which depend on the levels' conditions only."""
    s = copy.deepcopy(settings)
    for comp in s["comparisons"]:
        for lvl in comp["comparison_levels"]:
            if not lvl.get("is_null_level"):
                lvl.setdefault("m_probability", 0.5)
                lvl.setdefault("u_probability", 0.5)
                lvl["m_probability"] = lvl["m_probability"] or 0.5
                lvl["u_probability"] = lvl["u_probability"] or 0.5
    return s


def _gamma_model(settings: dict[str, Any]):
    """The engine's parsed model for computing gamma vectors: every level's condition, no weights
    needed (untrained levels get a placeholder m and u) and no term frequencies."""
    return dataclasses.replace(engine.parse_model(_placeholders(settings)), tf_columns=())


def _records(spark, persons: DataFrame, settings: dict[str, Any]):
    engine.register_similarity_functions(spark)
    model = _gamma_model(settings)
    df, cols = engine._inputs(persons, model, settings, None)
    return model, df, cols


def _gammas(pairs: DataFrame, model) -> DataFrame:
    return pairs.select(*[engine._gamma(c).alias(f"gamma_{c.name}") for c in model.comparisons])


def _pair_filter(model):
    where = engine._composite_id("l") < engine._composite_id("r")
    if model.link_type == "link_only":
        where = where & (F.col("l.source_dataset") != F.col("r.source_dataset"))
    return where


def level_shares(pc: PatternCounts, settings: dict[str, Any]) -> dict[str, dict[int, float | None]]:
    """Each comparison's non-null levels (gamma -> share of the pairs outside the null level; None
    for a level no pair reached), from pattern counts."""
    out: dict[str, dict[int, float | None]] = {}
    model = _gamma_model(settings)
    for j, comp in enumerate(model.comparisons):
        gammas = [lvl.gamma for lvl in comp.levels if lvl.gamma != -1]
        col = pc.gammas[:, pc.names.index(comp.name)] if len(pc.counts) else None
        counts = {g: float(pc.counts[col == g].sum()) if col is not None else 0.0 for g in gammas}
        total = sum(counts.values())
        out[comp.name] = {g: (counts[g] / total if total and counts[g] else None) for g in gammas}
    return out


def _apply(settings: dict[str, Any], shares: dict[str, dict[int, float | None]], key: str,
           only: tuple[str, ...] | None = None) -> None:
    """Write `shares` as each level's m or u (`key`) into a settings dict, in place. A level with no
    observation keeps no value (None), as Splink's trained values leave it."""
    for comp in settings["comparisons"]:
        name = comp["output_column_name"].replace(" ", "_")
        if name not in shares or (only is not None and name not in only):
            continue
        non_null = [lvl for lvl in comp["comparison_levels"] if not lvl.get("is_null_level")]
        for i, lvl in enumerate(non_null):
            gamma = len(non_null) - 1 - i
            lvl[key] = shares[name].get(gamma)


def source_counts(persons: DataFrame) -> list[int]:
    """Records per source (one job)."""
    return [r["n"] for r in persons.groupBy("source_dataset").agg(F.count(F.lit(1)).alias("n")).collect()]


def total_comparisons(counts: list[int], link_type: str) -> float:
    """Possible pairs for the link type from the records per source (Splink's `calculate_cartesian`)."""
    n = sum(counts)
    if link_type == "link_only":
        return (n * n - sum(c * c for c in counts)) / 2
    return n * (n - 1) / 2


def prior_pairs(spark, persons: DataFrame, settings: dict[str, Any], rules: list[str]) -> DataFrame:
    """The distinct pairs the deterministic `rules` find (padan's engine joins), no job yet."""
    model, df, cols = _records(spark, persons, with_rule_columns(settings, rules))
    model = dataclasses.replace(model, rules=tuple(engine._transpile(r) for r in rules))
    return engine._blocked(df, df, model, _pair_filter(model), ["unique_id"], ordered=True)


def prior_from_found(found: float, counts: list[int], link_type: str, recall: float) -> float:
    """Splink's prior from the pairs found: found / recall / (possible pairs)."""
    total = total_comparisons(counts, link_type)
    return min(1.0, found / recall / total) if total else 0.0


def estimate_prior(spark, persons: DataFrame, settings: dict[str, Any], rules: list[str], recall: float,
                   counts: list[int] | None = None) -> float:
    """Splink's prior: (distinct pairs the deterministic rules find) / recall / (possible pairs)."""
    found = prior_pairs(spark, persons, settings, rules).count()
    return prior_from_found(found, counts if counts is not None else source_counts(persons),
                            _gamma_model(settings).link_type, recall)


def u_sample_share(n: int, max_pairs: float) -> float:
    """Share of `n` records to sample so the sample's pairs number about `max_pairs`: Splink's
    `_rows_needed_for_n_pairs`."""
    rows = 0.5 * ((8 * max_pairs + 1) ** 0.5 + 1)
    return min(1.0, rows / n) if n else 1.0


def u_sample_gammas(spark, persons: DataFrame, settings: dict[str, Any], max_pairs: float, seed: int,
                    counts: list[int]) -> DataFrame:
    """The gamma vectors of all pairs of a seeded hash sample of records (no job yet)."""
    model, df, cols = _records(spark, persons, settings)
    share = u_sample_share(sum(counts), max_pairs)
    buckets = 1_000_000
    sample = df.where(F.pmod(F.xxhash64("source_dataset", "unique_id", F.lit(seed)), F.lit(buckets))
                      < F.lit(int(math.ceil(share * buckets))))
    pairs = sample.alias("l").crossJoin(sample.alias("r")).where(_pair_filter(model))
    pairs = pairs.select(*[F.col(f"l.{c}").alias(f"{c}_l") for c in cols],
                         *[F.col(f"r.{c}").alias(f"{c}_r") for c in cols])
    return _gammas(pairs, model)


def _names(settings: dict[str, Any]) -> list[str]:
    return [c.name for c in _gamma_model(settings).comparisons]


def estimate_u(spark, persons: DataFrame, settings: dict[str, Any], max_pairs: float, seed: int,
               counts: list[int] | None = None) -> tuple[dict[str, dict[int, float | None]], int]:
    """u of every level from all pairs of a seeded hash sample of records; returns (u, pairs)."""
    counts = counts if counts is not None else source_counts(persons)
    pc = pattern_counts(u_sample_gammas(spark, persons, settings, max_pairs, seed, counts), _names(settings))
    return level_shares(pc, settings), int(pc.counts.sum())


def label_gammas(spark, persons: DataFrame, settings: dict[str, Any], labels: DataFrame) -> DataFrame:
    """The gamma vectors of label pairs (source_dataset_l, unique_id_l, source_dataset_r,
    unique_id_r): the records joined on both sides (no job yet)."""
    model, df, cols = _records(spark, persons, settings)
    left = df.select(*[F.col(c).alias(f"{c}_l") for c in cols])
    right = df.select(*[F.col(c).alias(f"{c}_r") for c in cols])
    pairs = (labels.select("source_dataset_l", "unique_id_l", "source_dataset_r", "unique_id_r")
             .join(left, ["source_dataset_l", "unique_id_l"]).join(right, ["source_dataset_r", "unique_id_r"]))
    return _gammas(pairs, model)


def label_gammas_by_set(spark, persons: DataFrame, settings: dict[str, Any], label_sets: list[DataFrame]) -> TaggedSets:
    """The gamma vectors of several label sets as one `TaggedSets`: the sets tagged and unioned,
    then joined to the records once per side (not once per set and side; no job yet)."""
    model, df, cols = _records(spark, persons, settings)
    ids = ["source_dataset_l", "unique_id_l", "source_dataset_r", "unique_id_r"]
    tagged = functools.reduce(lambda a, b: a.unionByName(b), [labels.select(F.lit(k).alias("__label_set"), *ids)
                                                              for k, labels in enumerate(label_sets)])
    left = df.select(*[F.col(c).alias(f"{c}_l") for c in cols])
    right = df.select(*[F.col(c).alias(f"{c}_r") for c in cols])
    pairs = tagged.join(left, ["source_dataset_l", "unique_id_l"]).join(right, ["source_dataset_r", "unique_id_r"])
    gammas = pairs.select("__label_set", *[engine._gamma(c).alias(f"gamma_{c.name}") for c in model.comparisons])
    return TaggedSets(gammas, "__label_set", len(label_sets))


def estimate_m_from_labels(spark, persons: DataFrame, settings: dict[str, Any], labels: DataFrame) -> tuple[
        dict[str, dict[int, float | None]], int]:
    """m of every level from label pairs: their gamma vectors -> pattern counts. Returns (m,
    labelled pairs)."""
    pc = pattern_counts(label_gammas(spark, persons, settings, labels), _names(settings))
    return level_shares(pc, settings), int(pc.counts.sum())


def _prior_and_u(spark, persons: DataFrame, settings: dict[str, Any], tr, seconds: dict[str, float],
                 sizes: dict[str, int], more: list[DataFrame | TaggedSets | None] = ()) -> tuple[
        dict[str, Any], list[PatternCounts]]:
    """The settings with the prior from `tr.prior_rules` and u from the seeded sample, and the
    pattern counts of the further gamma frames `more` (a `TaggedSets` gives one per set): the
    records per source (one job), then the prior's pairs, the u sample's and `more`'s pattern
    counts in one query (one collect; the prior's pairs enter without gammas, so their count is
    their one pattern's; with `tr.household_u`, the household's pairs of two people as well, whose
    level shares replace the u of its comparisons). Returns (settings, the pattern counts of
    `more`, one per set). seconds:
    'prior' (the records per source), 'u' (the one query)."""
    out = copy.deepcopy(settings)
    t = time.monotonic()
    counts = source_counts(persons)
    seconds["prior"] = time.monotonic() - t
    t = time.monotonic()
    prior = prior_pairs(spark, persons, out, list(tr.prior_rules)).select(F.lit(1).alias("__pair"))
    u_gammas = u_sample_gammas(spark, persons, out, tr.u_max_pairs, tr.u_seed, counts)
    hu = getattr(tr, "household_u", None)
    household = [] if hu is None else [household_gammas(spark, persons, out, hu.key, hu.not_same_person)]
    found, u_pc, *rest = pattern_counts_by_set([prior, u_gammas, *household, *more], _names(out))
    out["probability_two_random_records_match"] = prior_from_found(int(found.counts.sum()), counts,
                                                                   _gamma_model(out).link_type, tr.prior_recall)
    _apply(out, level_shares(u_pc, out), "u_probability")
    sizes["u_sample_pairs"] = int(u_pc.counts.sum())
    if hu is not None:
        hh_pc, rest = rest[0], rest[1:]
        n = int(hh_pc.counts.sum())
        # A level none of the household's pairs reached: u = 3/n, the rule of three for these n pairs
        # (not for the random sample's, which would price it as ever so rare). No such pairs at all
        # (e.g. a register without family cards): the random sample's u stays.
        if n:
            shares = {c: {g: (v if v is not None else 3.0 / n) for g, v in levels.items()}
                      for c, levels in level_shares(hh_pc, out).items()}
            _apply(out, shares, "u_probability", tuple(hu.comparisons))
        sizes["household_u_pairs"] = n
    seconds["u"] = time.monotonic() - t
    return out, rest


def household_gammas(spark, persons: DataFrame, settings: dict[str, Any], key: str, not_same_person: str) -> DataFrame:
    """The gamma vectors of the pairs that share a household key (`key`, a blocking rule) and are
    two people (`not_same_person`, a condition on l./r.): the pairs whose level shares are the u of
    the household-conditioned comparisons (`TrainingConfig.household_u`). No job yet."""
    return blocked_gammas(spark, persons, _placeholders(settings), f"({key}) AND ({not_same_person})")


def em_sessions(spark, persons: DataFrame, settings: dict[str, Any], rules: list[str]) -> tuple[
        dict[str, Any], dict[str, int]]:
    """EM on pattern counts, one session per blocking rule, as Splink's
    `estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)`
    called once per rule: each session starts from the model as the sessions before left it,
    estimates the m of the comparisons its rule leaves free (u fixed), and afterwards a level's m
    is the median of every session's estimate that observed it (Splink's
    `_populate_m_u_from_trained_values`). The prior is not saved back, as in Splink. The pattern
    counts of every session come from one query (a rule's gammas do not depend on m or u); the
    iterations run on the driver. Returns (settings, iterations per session)."""
    names = comparison_names(settings)
    pcs = pattern_counts_by_set([blocked_gammas(spark, persons, settings, rule) for rule in rules], names)
    return _em_sessions_on(spark, persons, settings, rules, pcs)


def _em_sessions_on(spark, persons: DataFrame, settings: dict[str, Any], rules: list[str],
                    pcs: list[PatternCounts]) -> tuple[dict[str, Any], dict[str, int]]:
    """`em_sessions` given each rule's pattern counts."""
    out = copy.deepcopy(settings)
    trained: dict[str, dict[int, list[float]]] = {}
    iterations: dict[str, int] = {}
    for k, (rule, pc) in enumerate(zip(rules, pcs)):
        _, result = em_session(spark, persons, out, rule, pc=pc)
        iterations[f"em_session_{k}_iterations"] = result.iterations
        for comp, levels in result.m.items():
            for gamma, value in levels.items():
                if value is not None:
                    trained.setdefault(comp, {}).setdefault(gamma, []).append(value)
        for comp in out["comparisons"]:
            name = comp["output_column_name"]
            non_null = [lvl for lvl in comp["comparison_levels"] if not lvl.get("is_null_level")]
            for i, lvl in enumerate(non_null):
                values = trained.get(name, {}).get(len(non_null) - 1 - i)
                if values:
                    lvl["m_probability"] = statistics.median(values)
    return out, iterations


def train_em(spark, persons: DataFrame, settings: dict[str, Any], tr) -> tuple[
        dict[str, Any], dict[str, float], dict[str, int]]:
    """The whole `em` training on counts: prior, u, then EM sessions over `tr.em_blocking_rules`
    (`em_sessions`); every pattern count (prior, u, sessions) from one query. Returns (trained
    settings, seconds per step, sizes)."""
    seconds: dict[str, float] = {}
    sizes: dict[str, int] = {}
    rules = list(tr.em_blocking_rules)
    out, pcs = _prior_and_u(spark, persons, settings, tr, seconds, sizes,
                            [blocked_gammas(spark, persons, _placeholders(settings), rule) for rule in rules])
    t = time.monotonic()
    out, iterations = _em_sessions_on(spark, persons, out, rules, pcs)
    sizes.update(iterations)
    seconds["m"] = time.monotonic() - t
    return out, seconds, sizes


def train_nik_anchored(spark, persons: DataFrame, settings: dict[str, Any], tr, label_sets) -> tuple[
        dict[str, Any], dict[str, float], dict[str, int]]:
    """The whole `nik_anchored` training on counts: prior, u, then m from each label set.

    `label_sets` is [(name, make_labels(persons, max_pairs, seed), comparisons)] (`train.label_pairs`
    makes them all, their sizes from one query); the first set
    (comparisons None) trains every comparison's m, each later set only its own comparisons. As in
    Splink, every set is a training session that estimates every comparison, and a level's m is the
    median of the sessions' estimates that observed it (so a later set's comparisons end with the
    median of all sessions so far, the others with the first session's). The label pairs of every
    set are made first (their pattern counts enter the prior's and u's one query). Returns (trained
    settings, seconds per step, pairs per set and of the u sample)."""
    seconds: dict[str, float] = {}
    sizes: dict[str, int] = {}
    t = time.monotonic()
    from padan.model.train import label_pairs   # train imports this module

    gammas = label_gammas_by_set(spark, persons, settings,
                                 label_pairs(persons, [make for _, make, _ in label_sets], tr.max_label_pairs, tr.u_seed))
    seconds["labels"] = time.monotonic() - t
    out, pcs = _prior_and_u(spark, persons, settings, tr, seconds, sizes, [gammas])
    t = time.monotonic()
    sessions: dict[str, dict[int, list[float]]] = {}
    for (name, _, only), pc in zip(label_sets, pcs):
        m, n = level_shares(pc, out), int(pc.counts.sum())
        sizes[name] = n
        if only is None and n == 0:
            raise_no_labels()
        if n == 0:
            continue
        for comp, levels in m.items():
            for gamma, value in levels.items():
                if value is not None:
                    sessions.setdefault(comp, {}).setdefault(gamma, []).append(value)
        medians = {comp: {g: (statistics.median(sessions[comp][g]) if sessions.get(comp, {}).get(g) else None)
                          for g in levels} for comp, levels in m.items()}
        _apply(out, medians, "m_probability", None if only is None else tuple(only))
    seconds["m"] = time.monotonic() - t
    return out, seconds, sizes


def raise_no_labels() -> None:
    raise ModelError("no NIK-anchored label pairs: no two records share a valid, consistent NIK. "
                     "Use training.m_method: em for data without repeated NIKs.")
