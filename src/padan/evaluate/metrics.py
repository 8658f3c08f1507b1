"""Linkage accuracy against a truth table (unique_id -> true person), computed in Spark.

All counts are aggregates (no record is collected to the driver), so this runs at any size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class ClusterMetrics:
    records: int
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float

    def as_dict(self) -> dict:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(n: F.Column) -> F.Column:
    return (n * (n - 1) / 2).cast("long")


def cluster_metrics(assignments: DataFrame, truth: DataFrame) -> ClusterMetrics:
    """assignments(unique_id, person_id) vs truth(unique_id, true_id), over records in both."""
    j = assignments.select("unique_id", "person_id").join(truth.select("unique_id", "true_id"), "unique_id").cache()
    cell = j.groupBy("person_id", "true_id").agg(F.count("*").alias("n"))
    pred = j.groupBy("person_id").agg(F.count("*").alias("np"))
    true = j.groupBy("true_id").agg(F.count("*").alias("nt"))
    tp = cell.agg(F.sum(_pairs(F.col("n")))).first()[0] or 0
    pp = pred.agg(F.sum(_pairs(F.col("np")))).first()[0] or 0
    tt = true.agg(F.sum(_pairs(F.col("nt")))).first()[0] or 0
    # B-cubed: per record, overlap of its cluster and its true group over each one's size.
    b = (cell.join(pred, "person_id").join(true, "true_id")
         .agg(F.sum(F.col("n") * F.col("n") / F.col("np")).alias("p"),
              F.sum(F.col("n") * F.col("n") / F.col("nt")).alias("r"),
              F.sum("n").alias("records")).first())
    records = int(b["records"] or 0)
    j.unpersist()
    p = tp / pp if pp else 1.0
    r = tp / tt if tt else 1.0
    bp = (b["p"] or 0) / records if records else 1.0
    br = (b["r"] or 0) / records if records else 1.0
    return ClusterMetrics(records, int(tt), int(pp), int(tp), p, r, _f1(p, r), bp, br, _f1(bp, br))


def pair_metrics_by_threshold(pairs: DataFrame, truth: DataFrame, thresholds: list[float]) -> list[dict]:
    """Precision, recall and F1 of scored pairs (match_probability >= t) against all true pairs
    among the records in `truth` (recall counts pairs blocking never produced as misses)."""
    t = truth.select("unique_id", "true_id")
    labelled = (pairs.select("unique_id_l", "unique_id_r", "match_probability")
                .join(t.withColumnRenamed("unique_id", "unique_id_l").withColumnRenamed("true_id", "t_l"), "unique_id_l")
                .join(t.withColumnRenamed("unique_id", "unique_id_r").withColumnRenamed("true_id", "t_r"), "unique_id_r")
                .select("match_probability", (F.col("t_l") == F.col("t_r")).alias("is_match")))
    total_true = t.groupBy("true_id").agg(F.count("*").alias("n")).agg(F.sum(_pairs(F.col("n")))).first()[0] or 0
    aggs = []
    for i, th in enumerate(thresholds):
        above = F.col("match_probability") >= th
        aggs += [F.sum((above & F.col("is_match")).cast("long")).alias(f"tp{i}"),
                 F.sum(above.cast("long")).alias(f"n{i}")]
    row = labelled.agg(*aggs).first()
    out = []
    for i, th in enumerate(thresholds):
        tp, n = row[f"tp{i}"] or 0, row[f"n{i}"] or 0
        p = tp / n if n else 1.0
        r = tp / total_true if total_true else 1.0
        out.append({"threshold": th, "predicted_pairs": int(n), "true_positive_pairs": int(tp),
                    "true_pairs": int(total_true), "precision": p, "recall": r, "f1": _f1(p, r)})
    return out


def truth_as_unique_ids(truth_raw: DataFrame) -> DataFrame:
    """Generator truth (source, record_id, person_id) -> (unique_id, true_id)."""
    return truth_raw.select(F.concat_ws(":", "source", "record_id").alias("unique_id"),
                            F.col("person_id").alias("true_id"))
