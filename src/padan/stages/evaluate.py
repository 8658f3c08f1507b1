"""The evaluate stage: a run's accuracy against a truth table (generated data)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from padan import ledger
from padan.evaluate.metrics import cluster_metrics, pair_metrics_by_threshold, truth_as_unique_ids
from padan.lake import slice_of
from padan.stages.plan import run_chain
from padan.stages.runner import Ctx, Stage, run_stage
from padan.tables import CLUSTERS, EVALUATIONS, PAIRS

EVALUATE = Stage("evaluate", ("files:<truth>", PAIRS.name, CLUSTERS.name), (EVALUATIONS.name,),
                 "precision, recall and F1 against a truth table (generated data)", ledger=False)


def run_evaluate(ctx: Ctx, run_id: str, truth_path: str, thresholds: list[float] | None = None) -> list[dict]:
    """Accuracy of a run against a truth table (source, record_id, person_id; Parquet):
    pairwise at many thresholds with the best-F1 one marked, and cluster (pairwise and B-cubed).
    Not in the ledger: its rows in ops.evaluations are its record, replaced by the next evaluation."""
    return run_stage(ctx, EVALUATE, run_id, lambda _rec: _evaluate(ctx, run_id, truth_path, thresholds))


def _evaluate(ctx: Ctx, run_id: str, truth_path: str, thresholds: list[float] | None) -> list[dict]:
    configured = ctx.cfg.link.threshold_match_probability
    thresholds = sorted({*(thresholds or [0.01, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999]), configured})
    truth = truth_as_unique_ids(ctx.spark.read.parquet(truth_path)).cache()
    # An increment's state is its base run's pairs plus every increment's since, and the clusters
    # as that run left them (time travel to the version its cluster stage wrote).
    pairs = ctx.lake.read(PAIRS.name).where(F.col("run_id").isin(run_chain(ctx, run_id)))
    curve = pair_metrics_by_threshold(pairs, truth, thresholds)
    best = max(curve, key=lambda r: r["f1"])
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [dict(run_id=run_id, evaluated_at=now, truth_path=truth_path, kind="pairwise", threshold=r["threshold"],
                 precision=r["precision"], recall=r["recall"], f1=r["f1"], predicted_pairs=r["predicted_pairs"],
                 true_pairs=r["true_pairs"], true_positive_pairs=r["true_positive_pairs"],
                 is_configured_threshold=r["threshold"] == configured, is_best_f1=r is best) for r in curve]
    done = ledger.succeeded(ctx.lake, run_id, "cluster")
    version = (done or {}).get("output_versions", {}).get(CLUSTERS.name)
    clusters = (ctx.lake.read(CLUSTERS.name, version=int(version)) if version is not None
                else ctx.lake.read(CLUSTERS.name).where(F.col("run_id") == run_id))
    cm = cluster_metrics(clusters, truth)
    rows.append(dict(run_id=run_id, evaluated_at=now, truth_path=truth_path, kind="cluster_pairwise", threshold=configured,
                     precision=cm.pairwise_precision, recall=cm.pairwise_recall, f1=cm.pairwise_f1,
                     predicted_pairs=cm.predicted_pairs, true_pairs=cm.true_pairs,
                     true_positive_pairs=cm.true_positive_pairs, is_configured_threshold=True, is_best_f1=False))
    rows.append(dict(run_id=run_id, evaluated_at=now, truth_path=truth_path, kind="cluster_bcubed", threshold=configured,
                     precision=cm.bcubed_precision, recall=cm.bcubed_recall, f1=cm.bcubed_f1, predicted_pairs=None,
                     true_pairs=None, true_positive_pairs=None, is_configured_threshold=True, is_best_f1=False))
    truth.unpersist()
    ctx.lake.overwrite(ctx.spark.createDataFrame(rows, EVALUATIONS.ddl), EVALUATIONS,
                       replace_where=slice_of(run_id=run_id))
    return rows
