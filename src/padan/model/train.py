"""Training: prior from deterministic rules, u by random sampling, m from NIK-anchored labels
(default) or by EM. Deliberately sampled and timed; returns the trained settings dict."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan.config import ModelConfig
from padan.errors import ModelError
from padan.model.counts import raise_no_labels, train_em, train_nik_anchored
from padan.model.settings import model_columns, untrained_settings
from padan.model.splink_io import make_linker

logger = logging.getLogger(__name__)

M_FLOOR = 1e-5
# Part of a training run's identity: bump it when the training procedure changes what it estimates,
# so `padan train` on unchanged data trains anew instead of reusing the last version.
TRAINING_REVISION = 3   # 2: the label sets are part of the config (date_sex_m_from_name_labels); 3: EM on pattern counts, without term frequencies


@dataclass
class TrainingResult:
    settings: dict[str, Any]
    m_method: str
    seconds: dict[str, float] = field(default_factory=dict)
    label_pairs: dict[str, int] = field(default_factory=dict)


def _nik_anchors(persons: DataFrame) -> tuple[DataFrame, list[str]]:
    anchors = persons.where(F.col("nik_valid") & ~F.col("nik_dob_mismatch") & ~F.col("nik_sex_mismatch")
                            & F.col("birth_date").isNotNull() & F.col("sex").isNotNull()).select(
        "nik", "source_dataset", "unique_id")
    return anchors, ["nik"]


def _nik_name_anchors(persons: DataFrame) -> tuple[DataFrame, list[str]]:
    anchors = persons.where(F.col("nik_valid") & F.col("name_clean").isNotNull()).select(
        "nik", "name_clean", "source_dataset", "unique_id")
    return anchors, ["nik", "name_clean"]


def _agreement_anchors(persons: DataFrame) -> tuple[DataFrame, list[str]]:
    anchors = persons.where(F.col("nik_cmp").isNotNull() & F.col("name_clean").isNotNull()
                            & F.col("birth_date").isNotNull() & ~F.col("dob_placeholder")
                            & F.col("kabupaten").isNotNull() & F.col("sex").isNotNull()
                            & (F.col("name_tokens") >= 2)).select(
        "name_clean", "birth_date", "kabupaten", "sex", "source_dataset", "unique_id")
    return anchors, ["name_clean", "birth_date", "kabupaten", "sex"]


def nik_anchored_labels(persons: DataFrame, max_pairs: int, seed: int) -> DataFrame:
    """Pairs of records sharing a valid NIK whose recorded birth date and sex agree with it:
    near-certain matches, used as labels. Capped at about `max_pairs` by a deterministic hash."""
    return label_pairs(persons, [nik_anchored_labels], max_pairs, seed)[0]


def nik_name_anchored_labels(persons: DataFrame, max_pairs: int, seed: int) -> DataFrame:
    """Pairs sharing a valid NIK and the same cleaned name, whatever their birth dates and sex say:
    labels for the birth-date and sex comparisons' m. The NIK-anchored labels require a birth date
    and sex consistent with the NIK, so among them every birth date agrees exactly and the levels for
    a swapped day/month or a year off by one would never be seen (m at the floor: a true match with
    a mistyped date would be pushed far down)."""
    return label_pairs(persons, [nik_name_anchored_labels], max_pairs, seed)[0]


def agreement_anchored_labels(persons: DataFrame, max_pairs: int, seed: int) -> DataFrame:
    """Pairs agreeing on cleaned name, a non-placeholder birth date, sex and kabupaten, both with a
    16-digit NIK: labels for the NIK comparison's own m (which NIK-anchored labels cannot give)."""
    return label_pairs(persons, [agreement_anchored_labels], max_pairs, seed)[0]


# Each label set: the records it pairs and the columns a pair shares (pairs of two records agreeing on every key).
_ANCHORS = {nik_anchored_labels: _nik_anchors, nik_name_anchored_labels: _nik_name_anchors,
            agreement_anchored_labels: _agreement_anchors}


def label_pairs(persons: DataFrame, makers: list, max_pairs: int, seed: int) -> list[DataFrame]:
    """The label pairs of each label set in `makers` (the functions above), each capped at about
    `max_pairs` by a deterministic hash of the pair when it has more. The sizes that decide the caps
    come from ONE query for all sets: the records grouped by (set, key), each key of c records giving
    c(c-1)/2 pairs (unique_id is unique in silver.persons, so the self-join `unique_id_l <
    unique_id_r` makes exactly those), instead of a self-join and count per set. Keys with a null
    part pair nothing, as in the join. The pairs themselves: no job yet."""
    if not all(make in _ANCHORS for make in makers):      # a label set defined elsewhere makes its own pairs
        return [make(persons, max_pairs, seed) for make in makers]
    anchored = [_ANCHORS[make](persons) for make in makers]
    parts = []
    for k, (anchors, keys) in enumerate(anchored):
        complete = functools.reduce(lambda a, b: a & b, [F.col(c).isNotNull() for c in keys])
        # The key as strings (the keys are strings and dates, whose string forms are distinct).
        parts.append(anchors.where(complete).select(F.lit(k).alias("__set"),
                                                    F.array(*[F.col(c).cast("string") for c in keys]).alias("__key")))
    per_key = functools.reduce(lambda a, b: a.unionByName(b), parts).groupBy("__set", "__key").agg(
        F.count(F.lit(1)).cast("long").alias("__n"))
    sizes = {r["__set"]: int(r["pairs"] or 0) for r in per_key.groupBy("__set").agg(
        F.sum(F.col("__n") * (F.col("__n") - 1) / 2).cast("long").alias("pairs")).collect()}
    return [_pairs_on(anchors, keys, sizes.get(k, 0), max_pairs, seed) for k, (anchors, keys) in enumerate(anchored)]


def _pairs_on(anchors: DataFrame, keys: list[str], n: int, max_pairs: int, seed: int) -> DataFrame:
    """The `n` pairs of `anchors` agreeing on `keys`, capped at about `max_pairs`."""
    l = anchors.select(*keys, F.col("source_dataset").alias("source_dataset_l"), F.col("unique_id").alias("unique_id_l"))
    r = anchors.select(*keys, F.col("source_dataset").alias("source_dataset_r"), F.col("unique_id").alias("unique_id_r"))
    pairs = l.join(r, keys).where(F.col("unique_id_l") < F.col("unique_id_r")).select(
        "source_dataset_l", "unique_id_l", "source_dataset_r", "unique_id_r")
    if n > max_pairs:
        buckets = max(2, n // max_pairs + 1)
        pairs = pairs.where(F.pmod(F.xxhash64("unique_id_l", "unique_id_r", F.lit(seed)), F.lit(buckets)) == 0)
    return pairs.withColumn("clerical_match_score", F.lit(1.0))


def _smooth(settings: dict[str, Any], u_pairs: int) -> None:
    """Give every level an m and a u. A level never seen among labelled matches gets m = M_FLOOR
    (not 0, whose weight is -inf); a level never seen among the sampled random pairs gets u = 3/n,
    the rule-of-three upper bound for an event not seen in n trials."""
    for comp in settings["comparisons"]:
        for lvl in comp["comparison_levels"]:
            if lvl.get("is_null_level"):
                continue
            m = lvl.get("m_probability")
            if m is None or m < M_FLOOR:
                lvl["m_probability"] = M_FLOOR
            if lvl.get("u_probability") is None:
                lvl["u_probability"] = 3.0 / u_pairs


def train_model(spark, persons: DataFrame, model: ModelConfig, *, break_lineage_method: str = "parquet",
                m_method: str | None = None) -> TrainingResult:
    """Train on `persons` (silver.persons). Returns the trained Splink settings dict."""
    tr = model.training
    m_method = m_method or tr.m_method
    settings = untrained_settings(model)
    cols = model_columns(model)
    if tr.household_u is not None:   # the household pairs' rule and condition may read other columns
        cols = model_columns(model, [tr.household_u.key, tr.household_u.not_same_person])
    persons = persons.select(*{*cols, "source_dataset", "nik", "nik_valid", "nik_dob_mismatch",
                               "nik_sex_mismatch", "birth_date", "sex", "name_clean", "nik_cmp", "dob_placeholder",
                               "kabupaten", "name_tokens"})
    if tr.em_sample_rows and m_method == "em":
        n = persons.count()
        if n > tr.em_sample_rows:
            persons = persons.where(F.pmod(F.xxhash64("unique_id", F.lit(tr.u_seed)), F.lit(1000))
                                    < int(1000 * tr.em_sample_rows / n) + 1)
    persons = persons.cache()
    result = TrainingResult(settings={}, m_method=m_method)
    on_counts = tr.engine == "padan"
    if on_counts and m_method == "nik_anchored":

        trained, result.seconds, sizes = train_nik_anchored(spark, persons, settings, tr, _label_sets(tr))
        result.label_pairs = {k: v for k, v in sizes.items() if k not in ("u_sample_pairs", "household_u_pairs")}
    elif on_counts:

        trained, result.seconds, _ = train_em(spark, persons, settings, tr)
    else:
        if tr.household_u is not None:
            raise ModelError("training.household_u needs training.engine: padan")
        trained = _train_with_splink(spark, persons, settings, cols, tr, m_method, result, break_lineage_method)
    _smooth(trained, tr.u_max_pairs)
    persons.unpersist()
    result.settings = trained
    logger.info("trained model (m by %s, %s) in %s", m_method, "on counts" if on_counts else "by Splink",
                ", ".join(f"{k}={v:.1f}s" for k, v in result.seconds.items()))
    return result


def _label_sets(tr) -> list:
    """[(name, make_labels, comparisons it trains or None for all)]: the NIK-anchored labels for every
    comparison, then the label sets that do not condition on the comparisons they train."""
    sets = [("nik_anchored", nik_anchored_labels, None), ("agreement_anchored", agreement_anchored_labels, ("nik",))]
    if tr.date_sex_m_from_name_labels:
        household = tuple(tr.household_u.date_comparisons) if tr.household_u is not None else ()
        sets.append(("nik_name_anchored", nik_name_anchored_labels, ("birth_date", "sex", *household)))
    return sets


def _train_with_splink(spark, persons: DataFrame, settings: dict[str, Any], cols, tr, m_method: str,
                       result: TrainingResult, break_lineage_method: str) -> dict[str, Any]:
    """Splink's training calls on a linker over `persons`; fills result.seconds and label_pairs."""
    linker, db_api = make_linker(spark, persons, settings, cols, break_lineage_method=break_lineage_method,
                                 tag="train")

    t = time.monotonic()
    linker.training.estimate_probability_two_random_records_match(list(tr.prior_rules), recall=tr.prior_recall)
    result.seconds["prior"] = time.monotonic() - t

    t = time.monotonic()
    linker.training.estimate_u_using_random_sampling(max_pairs=tr.u_max_pairs, seed=tr.u_seed,
                                                     num_chunks=tr.u_chunks)
    result.seconds["u"] = time.monotonic() - t

    t = time.monotonic()
    if m_method == "nik_anchored":
        labels = nik_anchored_labels(persons, tr.max_label_pairs, tr.u_seed).cache()
        result.label_pairs["nik_anchored"] = labels.count()
        if result.label_pairs["nik_anchored"] == 0:
            raise_no_labels()
        linker.training.estimate_m_from_pairwise_labels(db_api.register(labels))
        trained = linker.misc.save_model_to_json()
        labels.unpersist()
        # The NIK's m (and optionally the birth date's and sex's) from labels that do not condition on it.
        for name, make, comparisons in _label_sets(tr)[1:]:
            extra = make(persons, tr.max_label_pairs, tr.u_seed).cache()
            result.label_pairs[name] = extra.count()
            if result.label_pairs[name] > 0:
                linker.training.estimate_m_from_pairwise_labels(db_api.register(extra))
                by_name = {c["output_column_name"]: c for c in linker.misc.save_model_to_json()["comparisons"]}
                for comp in trained["comparisons"]:
                    if comp["output_column_name"] in comparisons and comp["output_column_name"] in by_name:
                        comp["comparison_levels"] = by_name[comp["output_column_name"]]["comparison_levels"]
            extra.unpersist()
    else:
        for rule in tr.em_blocking_rules:
            # Without term frequencies in the iterations, as padan's EM on pattern counts: the same estimator.
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
        trained = linker.misc.save_model_to_json()
    result.seconds["m"] = time.monotonic() - t
    return trained
