"""Blocking recall against a truth table: the share of true pairs each prediction blocking rule, and
their union, puts in front of the model.

A true pair is two records of the same true person (`link_and_dedupe`: within a source too). A
pair that no rule produces is never scored, so the union's recall is the ceiling of the run's
pairwise recall. Records in the truth that never reached `silver.persons` (rejected) count as
misses: their pairs can be produced by no rule.

One Spark job over the true pairs only (a few per person), not over the candidate pairs: each
rule's SQL condition is evaluated on the pair as `l.<column>` / `r.<column>` (struct columns), as
Splink and padan's engine do when they block. How many pairs each rule generates is counted
separately (`padan.model.blocking.count_comparisons`, padan's engine).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class RuleRecall:
    rule: str
    true_pairs_found: int
    """True pairs this rule produces on its own."""
    true_pairs_first_found: int
    """True pairs this rule produces and no earlier rule does (the rule's marginal share)."""
    recall: float
    cumulative_recall: float
    """Recall of this rule and every rule before it."""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BlockingRecall:
    true_pairs: int
    """Pairs of truth records with the same true person (rejected records included)."""
    true_pairs_in_silver: int
    """Of those, pairs whose two records are both in `silver.persons` (the most blocking can reach)."""
    union_found: int
    union_recall: float
    rules: tuple[RuleRecall, ...]

    def as_dict(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "rules"}, "rules": [r.as_dict() for r in self.rules]}


def true_pairs(truth: DataFrame) -> DataFrame:
    """truth(unique_id, true_id) -> (unique_id_l, unique_id_r): each unordered true pair once,
    unique_id_l < unique_id_r."""
    t = truth.select("unique_id", "true_id")
    return (t.withColumnRenamed("unique_id", "unique_id_l")
            .join(t.withColumnRenamed("unique_id", "unique_id_r"), "true_id")
            .where(F.col("unique_id_l") < F.col("unique_id_r"))
            .select("unique_id_l", "unique_id_r"))


def blocking_recall(persons: DataFrame, truth: DataFrame, rules: Sequence[str]) -> BlockingRecall:
    """Recall of each blocking rule (SQL on `l.` / `r.` columns of `persons`), in order, and of their
    union, over the true pairs of `truth(unique_id, true_id)`."""
    cols = [c for c in persons.columns]
    side = lambda s: persons.select(F.col("unique_id").alias(f"unique_id_{s}"),  # noqa: E731
                                    F.struct(*[F.col(f"`{c}`") for c in cols]).alias(s))
    pairs = true_pairs(truth)
    labelled = (pairs.join(side("l"), "unique_id_l", "left").join(side("r"), "unique_id_r", "left")
                .select((F.col("l").isNotNull() & F.col("r").isNotNull()).alias("_in_silver"),
                        *[F.coalesce(F.expr(rule), F.lit(False)).alias(f"_b{i}") for i, rule in enumerate(rules)]))
    found = [F.col(f"_b{i}") for i in range(len(rules))]
    earlier = F.lit(False)
    aggs = [F.count("*").alias("n"), F.sum(F.col("_in_silver").cast("long")).alias("in_silver")]
    for i, b in enumerate(found):
        aggs += [F.sum(b.cast("long")).alias(f"alone{i}"), F.sum((b & ~earlier).cast("long")).alias(f"first{i}")]
        earlier = earlier | b
    aggs.append(F.sum(earlier.cast("long")).alias("union"))
    row = labelled.agg(*aggs).first()
    n = int(row["n"] or 0)
    share = lambda k: k / n if n else 1.0  # noqa: E731
    out, cumulative = [], 0
    for i, rule in enumerate(rules):
        alone, first = int(row[f"alone{i}"] or 0), int(row[f"first{i}"] or 0)
        cumulative += first
        out.append(RuleRecall(rule, alone, first, share(alone), share(cumulative)))
    union = int(row["union"] or 0)
    return BlockingRecall(n, int(row["in_silver"] or 0), union, share(union), tuple(out))


def format_report(recall: BlockingRecall, comparisons: Sequence[int] | None = None) -> str:
    """A plain-text table: per rule, pairs it adds (when counted), true pairs first found, recall
    alone and cumulative; then the union."""
    lines = [f"true pairs {recall.true_pairs:,} (both records in silver: {recall.true_pairs_in_silver:,})",
             f"{'pairs added':>14} {'true first':>11} {'recall':>8} {'cumul.':>8}  rule"]
    total = 0
    for i, r in enumerate(recall.rules):
        added = comparisons[i] if comparisons is not None else None
        total += added or 0
        shown = f"{added:>14,}" if added is not None else f"{'-':>14}"
        lines.append(f"{shown} {r.true_pairs_first_found:>11,} {r.recall:>8.4f} {r.cumulative_recall:>8.4f}  {r.rule}")
    pairs = f"{total:,} candidate pairs" if comparisons is not None else "pairs not counted"
    lines.append(f"union: {recall.union_found:,} of {recall.true_pairs:,} true pairs, recall {recall.union_recall:.4f}, "
                 f"{pairs}")
    return "\n".join(lines)
