"""Connected components in Spark DataFrames.

Small graphs (the edges fit a driver-side limit, `DRIVER_MAX_EDGES`) are solved on the driver: the
edges are collected once and joined by a union-find, and the labels of the linked nodes go back to
Spark as one small table. Larger graphs run min-label propagation with pointer jumping in Spark:
each round joins edges to labels (min over neighbours), then jumps every label to its label's
label, so long chains collapse in O(log diameter) rounds. Lineage is cut every round with a
local checkpoint, so memory stays flat over many rounds; whether a round changed any label is
an observed metric of that checkpoint's job. Both give the same labels: the smallest id of each
component.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

logger = logging.getLogger(__name__)

# Up to this many edges (pairs at the threshold, as given), components are found on the driver:
# one job collects the edges, where the Spark rounds cost about seven jobs each plus two
# checkpoints (bench/fixed_cost.py, the cluster step). Above it the collect stops at
# DRIVER_MAX_EDGES + 1 rows and the Spark rounds run. bench/components_threshold.py on a shared
# 2-core machine: at 300,000 edges the driver path took 6.5 JVM CPU-s + 2.6 s of Python (20.5 s)
# against 14.5 JVM CPU-s (31.8 s) for the rounds; its Python time and memory grow with the edges.
DRIVER_MAX_EDGES = 300_000


def connected_components(nodes: DataFrame, edges: DataFrame, *, max_rounds: int = 60,
                         driver_max_edges: int = DRIVER_MAX_EDGES) -> DataFrame:
    """nodes(id STRING, each id once), edges(src, dst) -> (id, component) where component is the
    smallest id in the node's component. Nodes without edges are their own component. The result is locally
    checkpointed (computed once, kept by the executors; `unpersist()` releases it).
    `driver_max_edges`: the largest edge list solved on the driver (0: always in Spark)."""
    labels = None
    if driver_max_edges > 0:
        rows = edges.select(F.col("src").cast("string"), F.col("dst").cast("string")).limit(driver_max_edges + 1).collect()
        if len(rows) <= driver_max_edges:
            labels = F.broadcast(_driver_labels(nodes.sparkSession, rows))
    if labels is None:
        labels = _spark_labels(edges, max_rounds)
    # Checkpointed: whoever reads the components (ids, rows, changes) reads them, not the rounds.
    return (nodes.select("id").join(labels, "id", "left")
            .select("id", F.coalesce("label", "id").alias("component")).localCheckpoint())


def union_find_labels(pairs) -> dict[str, str]:
    """{node: smallest node of its component} for every node of `pairs` ((a, b) tuples; pairs
    with a missing end or a == b are ignored, as the Spark rounds ignore them)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:           # path compression
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs:
        if a is None or b is None or a == b:
            continue
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:                       # the smaller root survives: roots are component minima
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    return {x: find(x) for x in parent}


def _driver_labels(spark, rows) -> DataFrame:
    labels = union_find_labels((r[0], r[1]) for r in rows)
    logger.info("connected components of %d edges found on the driver", len(rows))
    return spark.createDataFrame(list(labels.items()), "id string, label string")


def _spark_labels(edges: DataFrame, max_rounds: int) -> DataFrame:
    und = edges.select(F.col("src").alias("a"), F.col("dst").alias("b")).where(F.col("a") != F.col("b"))
    und = und.unionByName(und.select(F.col("b").alias("a"), F.col("a").alias("b"))).distinct()
    und = und.localCheckpoint()
    # Start: each linked node labelled with the smallest of itself and its neighbours.
    labels = und.groupBy("a").agg(F.least(F.min("b"), F.first("a")).alias("label")).withColumnRenamed("a", "id")
    labels = labels.localCheckpoint()
    for round_no in range(1, max_rounds + 1):
        nbr = (und.join(labels.withColumnRenamed("id", "b"), "b")
               .groupBy("a").agg(F.min("label").alias("nbr_label")).withColumnRenamed("a", "id"))
        step = (labels.join(nbr, "id", "left")
                .select("id", F.col("label").alias("old"),
                        F.least("label", F.coalesce("nbr_label", "label")).alias("label")))
        jumped = (step.alias("s").join(step.alias("p"), F.col("s.label") == F.col("p.id"), "left")
                  .select(F.col("s.id").alias("id"), F.col("s.old").alias("old"),
                          F.least(F.col("s.label"), F.coalesce(F.col("p.label"), F.col("s.label"))).alias("label")))
        # The convergence test is counted while the round is computed (an observed metric of the
        # checkpoint's own job), not by a second query over the checkpoint.
        seen = Observation()
        labels = (jumped.observe(seen, F.sum((F.col("label") != F.col("old")).cast("long")).alias("changed"))
                  .drop("old").localCheckpoint())
        changed = seen.get.get("changed") or 0
        if changed == 0:
            logger.info("connected components converged after %d rounds", round_no)
            return labels
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
