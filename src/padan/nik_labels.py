"""Can m be learnt from NIK-anchored labels here? A check before training starts.

`training.m_method: nik_anchored` learns m from pairs of records that share a valid NIK consistent
with their birth date and sex (`padan.model.train.nik_anchored_labels`). A register without NIK
(or with almost none valid) gives no such pairs; found only after the prior and u sampling, that
cost minutes and ended in a bare error. `check` counts the labels first, in one Spark job over
three columns of silver.persons, and stops with a `ModelError` (exit 6) that names the setting to
use. padan does not switch to EM by itself: EM needs blocking rules and a prior that do not rest on
the NIK (the no-NIK profile, conf/examples/no_nik/model.yml, has them; the base model's do not), so
a silent switch would train a model whose sessions block on a NIK nobody has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan.errors import ModelError

logger = logging.getLogger(__name__)

MIN_LABEL_PAIRS = 10
"""Fewer NIK-anchored label pairs than this: too few to estimate m per comparison level. Kept low
on purpose: a small sample of a NIK register (600 records of the bench's smoke run) has only tens
of label pairs and trains usefully from them; a register without NIK has none."""
MIN_VALID_NIK_SHARE = 0.05
"""A smaller share of records with a valid NIK: the register is treated as one without NIK."""


@dataclass(frozen=True)
class NikLabelCounts:
    records: int
    valid_nik: int
    label_pairs: int
    """Pairs of records sharing a valid NIK consistent with their birth date and sex (before the
    training's `max_label_pairs` cap)."""

    @property
    def valid_share(self) -> float:
        return self.valid_nik / self.records if self.records else 0.0


def count_labels(persons: DataFrame) -> NikLabelCounts:
    """Records, records with a valid NIK and NIK-anchored label pairs of `persons`: one Spark job."""
    anchor = (F.col("nik_valid") & ~F.col("nik_dob_mismatch") & ~F.col("nik_sex_mismatch")
              & F.col("birth_date").isNotNull() & F.col("sex").isNotNull())
    per_nik = (persons.groupBy(F.when(anchor, F.col("nik")).alias("_k"))
               .agg(F.count(F.lit(1)).alias("_n"), F.sum(F.col("nik_valid").cast("long")).alias("_v")))
    row = per_nik.agg(F.sum("_n").alias("records"), F.sum("_v").alias("valid"),
                      F.sum(F.when(F.col("_k").isNotNull(), F.col("_n") * (F.col("_n") - 1) / 2)).alias("pairs")).first()
    return NikLabelCounts(int(row["records"] or 0), int(row["valid"] or 0), int(row["pairs"] or 0))


def check(persons: DataFrame, m_method: str) -> NikLabelCounts | None:
    """Raise `ModelError` when `m_method` needs NIK labels and `persons` has too few; None (no Spark
    job) for a method that does not need them."""
    if m_method != "nik_anchored":
        return None
    counts = count_labels(persons)
    logger.info("NIK-anchored labels available: %d pairs; %d of %d records (%.1f%%) have a valid NIK",
                counts.label_pairs, counts.valid_nik, counts.records, 100 * counts.valid_share)
    if counts.label_pairs < MIN_LABEL_PAIRS or counts.valid_share < MIN_VALID_NIK_SHARE:
        raise ModelError(
            f"training.m_method is nik_anchored, but silver.persons has {counts.valid_nik:,} of {counts.records:,} "
            f"records with a valid NIK ({100 * counts.valid_share:.1f}%) and {counts.label_pairs:,} NIK-anchored "
            f"label pairs (at least {MIN_LABEL_PAIRS} pairs and {100 * MIN_VALID_NIK_SHARE:.0f}% valid NIKs are "
            f"needed): m cannot be learnt from NIK labels. For a register without NIK use the no-NIK profile "
            f"(--conf-dir conf/examples/no_nik: m by EM with blocking rules that need no NIK), or set "
            f"model.training.m_method: em with em_blocking_rules and prior_rules that do not use the NIK "
            f"(`padan train --m-method em` only changes the method). Nothing was trained.")
    return counts
