"""The cluster stages: connected components at the threshold with stable person ids (a full run,
or an increment re-clustering only what its batch touches), and components at the extra thresholds."""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from padan.cluster.components import connected_components
from padan.cluster.ids import assign_person_ids
from padan.errors import StateError
from padan.lake import slice_of
from padan.stages.ingest import batch_filter
from padan.ledger import StageRecord
from padan.stages.runner import NO_TABLE, Ctx, Stage, fault_point, row_counts, run_stage
from padan.tables import CLUSTERS, CLUSTERS_AT_THRESHOLDS, ID_CHANGES, PAIRS, PERSONS

CLUSTER = Stage("cluster", (PERSONS.name, PAIRS.name, CLUSTERS.name), (CLUSTERS.name, ID_CHANGES.name),
                "connected components at the threshold; stable person ids carried over from the previous state",
                resumes=(CLUSTERS.name,))
CLUSTER_INCREMENT = Stage("cluster", (PERSONS.name, PAIRS.name, CLUSTERS.name), (CLUSTERS.name, ID_CHANGES.name),
                          "re-cluster only the persons the batch touches; MERGE into gold.clusters",
                          resumes=(CLUSTERS.name,))
CLUSTER_THRESHOLDS = Stage("cluster_thresholds", (PAIRS.name,), (CLUSTERS_AT_THRESHOLDS.name,),
                           "components at link.extra_thresholds (if any)")

BROADCAST_ROWS = 500_000   # an increment's join side up to this many rows is broadcast


def run_cluster(ctx: Ctx, run_id: str) -> dict[str, int]:
    """gold.clusters from the run's pairs: connected components at the threshold, person ids carried
    over from the previous gold.clusters (on a retry of the same run, the version its first attempt
    started from), and the run's slice of gold.id_changes."""
    threshold = ctx.cfg.link.threshold_match_probability

    def body(rec: StageRecord) -> dict[str, int]:
        previous_version = rec.input_versions[CLUSTERS.name]
        persons = ctx.lake.read(PERSONS.name).select("unique_id", "source_dataset", "record_key")
        edges = (ctx.lake.read(PAIRS.name).where((F.col("run_id") == run_id) & (F.col("match_probability") >= threshold))
                 .select(F.col("unique_id_l").alias("src"), F.col("unique_id_r").alias("dst")))
        comps = connected_components(persons.select(F.col("unique_id").alias("id")), edges)
        previous = None
        if previous_version != NO_TABLE:
            previous = _clusters_at(ctx, previous_version).select("unique_id", "person_id")
        ids = assign_person_ids(comps, previous, run_id)
        # Written once and not read again: not persisted.
        clusters = _cluster_rows(ids.assign.join(persons, "unique_id"), threshold, run_id, persist=False)
        m = ctx.lake.overwrite(clusters, CLUSTERS)
        if previous is None:
            # No earlier state: every person is new, one `new` change each, so the write's own row
            # count gives both figures (no count query).
            counts = _write_id_changes(ctx, ids.changes, run_id, all_new=True)
            persons = counts.get("ids_new", 0)
        else:
            counts = _write_id_changes(ctx, ids.changes, run_id)
            persons = ids.persons()
        rec.row_counts.update(records=m.get("numOutputRows", 0), persons=persons, **counts)
        ids.release()
        comps.unpersist()
        return rec.row_counts

    return run_stage(ctx, CLUSTER, run_id, body, done=row_counts)


def run_cluster_thresholds(ctx: Ctx, run_id: str) -> dict[str, int]:
    """Threshold sensitivity: connected components of the run's pairs at each of
    `link.extra_thresholds` into gold.clusters_at_thresholds (replaced by every full run; plain
    component ids, the smallest record id of each, not stable person ids). Nothing to do without
    extra thresholds."""
    thresholds = sorted(set(ctx.cfg.link.extra_thresholds))
    if not thresholds:
        return {}

    def body(rec: StageRecord) -> dict[str, int]:
        persons = ctx.lake.read(PERSONS.name).select("unique_id", "source_dataset")
        nodes = persons.select(F.col("unique_id").alias("id"))
        pairs = (ctx.lake.read(PAIRS.name).where(F.col("run_id") == run_id)
                 .select(F.col("unique_id_l").alias("src"), F.col("unique_id_r").alias("dst"), "match_probability")
                 .persist(StorageLevel.MEMORY_AND_DISK))
        parts = []
        for t in thresholds:
            comps = connected_components(nodes, pairs.where(F.col("match_probability") >= t).select("src", "dst"))
            parts.append(comps.select(F.col("id").alias("unique_id"), F.col("component").alias("cluster_id"),
                                      F.lit(t).alias("threshold")))
        rows = parts[0]
        for part in parts[1:]:
            rows = rows.unionByName(part)
        size = F.count(F.lit(1)).over(Window.partitionBy("threshold", "cluster_id")).cast("int")
        rows = rows.join(persons, "unique_id").withColumn("cluster_size", size).withColumn("run_id", F.lit(run_id))
        ctx.lake.overwrite(rows, CLUSTERS_AT_THRESHOLDS)
        counts = (ctx.lake.read(CLUSTERS_AT_THRESHOLDS.name).groupBy("threshold")
                  .agg(F.countDistinct("cluster_id").alias("n")).collect())
        rec.row_counts.update({f"persons_at_{r['threshold']:g}": r["n"] for r in counts})
        pairs.unpersist()
        return rec.row_counts

    return run_stage(ctx, CLUSTER_THRESHOLDS, run_id, body, done=row_counts)


def _cluster_rows(assign: DataFrame, threshold: float, run_id: str, *, persist: bool = True) -> DataFrame:
    """assign(unique_id, person_id, source_dataset, record_key) -> gold.clusters rows, persisted unless
    `persist=False` (the caller writes them and unpersists): the per-person aggregates are window
    functions over one partitioning by person, so the rows are computed once, with one shuffle."""
    person = Window.partitionBy("person_id")
    rows = (assign.select(
        "unique_id", "person_id", "source_dataset", "record_key",
        F.count(F.lit(1)).over(person).cast("int").alias("cluster_size"),
        F.max(F.col("source_dataset") == "p3ke").over(person).alias("in_p3ke"),
        F.max(F.col("source_dataset") == "prakerja").over(person).alias("in_prakerja"),
        F.lit(threshold).alias("threshold"), F.lit(run_id).alias("run_id")))
    return rows.persist(StorageLevel.MEMORY_AND_DISK) if persist else rows


def _write_id_changes(ctx: Ctx, changes: DataFrame, run_id: str, *, all_new: bool = False) -> dict:
    """Write the run's slice of gold.id_changes; returns its counts by kind (`changes` is computed
    once, for both). `all_new`: every change is of kind `new` (no earlier state), so the count is
    the write's row count."""
    if all_new:
        m = ctx.lake.overwrite(changes.withColumn("run_id", F.lit(run_id)), ID_CHANGES, replace_where=slice_of(run_id=run_id))
        n = int(m.get("numOutputRows", 0))
        return {"ids_new": n} if n else {}
    changes = changes.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        ctx.lake.overwrite(changes.withColumn("run_id", F.lit(run_id)), ID_CHANGES, replace_where=slice_of(run_id=run_id))
        by_kind = {r["kind"]: r["count"] for r in changes.groupBy("kind").count().collect()}
    finally:
        changes.unpersist()
    return {f"ids_{k}": v for k, v in by_kind.items()}


def _clusters_at(ctx: Ctx, version: int) -> DataFrame:
    """gold.clusters as of `version`; empty (declared schema) for NO_TABLE."""
    if version == NO_TABLE:
        return ctx.spark.createDataFrame([], CLUSTERS.ddl)
    return ctx.lake.read(CLUSTERS.name, version=version)


def run_cluster_increment(ctx: Ctx, run_id: str, source: str, batch_id: str) -> dict[str, int]:
    """Re-cluster only what the batch touches. Adding records and pairs can only join components,
    never split them, so each touched person is one node-set (its records, tied by a star of
    edges) and the batch's new records and pairs are added to those; everything else keeps its
    rows untouched. The result is MERGEd into gold.clusters on unique_id."""
    threshold = ctx.cfg.link.threshold_match_probability

    def body(rec: StageRecord) -> dict[str, int]:
        previous_version = rec.input_versions[CLUSTERS.name]
        prev = _clusters_at(ctx, previous_version).select("unique_id", "person_id")
        persons = ctx.lake.read(PERSONS.name)
        is_new = batch_filter(source, batch_id)
        new = persons.where(is_new).select("unique_id", "source_dataset").persist(StorageLevel.MEMORY_AND_DISK)
        n_new = new.count()
        # The base state must cover every other record, or this run would leave some unclustered.
        # Whole-table counts come from the Delta log's file statistics (no scan).
        n_prev, n_other = prev.count(), persons.count() - n_new
        if n_prev != n_other:
            raise StateError(f"gold.clusters (version {previous_version}) holds {n_prev} records but silver.persons "
                             f"holds {n_other} besides this batch: run a full `padan link` before adding batches")
        edges = (ctx.lake.read(PAIRS.name).where((F.col("run_id") == run_id) & (F.col("match_probability") >= threshold))
                 .select(F.col("unique_id_l").alias("src"), F.col("unique_id_r").alias("dst"))
                 .persist(StorageLevel.MEMORY_AND_DISK))
        ends = edges.select(F.col("src").alias("unique_id")).union(edges.select(F.col("dst").alias("unique_id")))
        # The batch's side of each join is small next to the lake's: broadcast it, so the lake's
        # clusters are read once through two columns and probed, never shuffled.
        small = edges.count() <= BROADCAST_ROWS
        touched = prev.join(F.broadcast(ends) if small else ends, "unique_id", "left_semi").select("person_id").distinct()
        touched = touched.persist(StorageLevel.MEMORY_AND_DISK)
        n_touched = touched.count()
        small = small and n_touched <= BROADCAST_ROWS
        members = prev.join(F.broadcast(touched) if small else touched, "person_id").persist(StorageLevel.MEMORY_AND_DISK)
        anchors = members.groupBy("person_id").agg(F.min("unique_id").alias("dst"))
        star = members.join(anchors, "person_id").select(F.col("unique_id").alias("src"), "dst")
        nodes = members.select(F.col("unique_id").alias("id")).union(new.select(F.col("unique_id").alias("id")))
        comps = connected_components(nodes, edges.unionByName(star))
        ids = assign_person_ids(comps, members, run_id)
        clusters = _cluster_rows(ids.assign.join(persons.select("unique_id", "source_dataset", "record_key"),
                                                 "unique_id"), threshold, run_id)
        m = ctx.lake.merge(clusters, CLUSTERS, ["unique_id"])
        fault_point("increment:after-clusters")
        counts = _write_id_changes(ctx, ids.changes, run_id)
        # Every row of `clusters` (one per unique_id) is either inserted or updated by the MERGE (no
        # update condition): its metrics count them, no count query.
        inserted, updated = m.get("numTargetRowsInserted", 0), m.get("numTargetRowsUpdated", 0)
        rec.row_counts.update(new_records=n_new, touched_persons=n_touched, records_reclustered=inserted + updated,
                              inserted=inserted, updated=updated,
                              persons_reclustered=ids.persons(), **counts)
        ids.release()
        for df in (new, edges, touched, members, clusters, comps):
            df.unpersist()
        return rec.row_counts

    return run_stage(ctx, CLUSTER_INCREMENT, run_id, body, done=row_counts, batch_id=batch_id)
