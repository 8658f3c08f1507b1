"""The cluster stages: connected components at the threshold with stable person ids (a full run,
or an increment re-clustering only what its batch touches), and components at the extra thresholds."""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from padan.cluster.components import DRIVER_MAX_EDGES, connected_components, union_find_labels
from padan.cluster.ids import assign_person_ids, assign_person_ids_on_driver
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
# An increment whose batch records, pairs at the threshold and touched persons' records each fit
# this many rows is re-clustered on the driver (components, ids, rows; `_recluster_on_driver`):
# each collected once, where the Spark path costs a persisted query per step (docs/BENCHMARKS.md,
# "Increments"). Larger ones take the Spark path. 0: always Spark.
DRIVER_MAX_ROWS = DRIVER_MAX_EDGES


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
        clusters_before = _clusters_at(ctx, previous_version)
        prev = clusters_before.select("unique_id", "person_id")
        persons = ctx.lake.read(PERSONS.name)
        is_new = batch_filter(source, batch_id)
        edges = (ctx.lake.read(PAIRS.name).where((F.col("run_id") == run_id) & (F.col("match_probability") >= threshold))
                 .select(F.col("unique_id_l").alias("src"), F.col("unique_id_r").alias("dst")))
        if DRIVER_MAX_ROWS > 0:
            done = _recluster_on_driver(ctx, rec, run_id, threshold, clusters_before, persons.where(is_new), edges,
                                        previous_version)
            if done is not None:
                return done
        new = persons.where(is_new).select("unique_id", "source_dataset").persist(StorageLevel.MEMORY_AND_DISK)
        n_new = new.count()
        # The base state must cover every other record, or this run would leave some unclustered.
        # Whole-table counts come from the Delta log's file statistics (no scan).
        n_prev, n_other = prev.count(), persons.count() - n_new
        if n_prev != n_other:
            raise StateError(f"gold.clusters (version {previous_version}) holds {n_prev} records but silver.persons "
                             f"holds {n_other} besides this batch: run a full `padan link` before adding batches")
        edges = edges.persist(StorageLevel.MEMORY_AND_DISK)
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
                              persons_reclustered=ids.persons(), clustered_on_driver=0, **counts)
        ids.release()
        for df in (new, edges, touched, members, clusters, comps):
            df.unpersist()
        return rec.row_counts

    return run_stage(ctx, CLUSTER_INCREMENT, run_id, body, done=row_counts, batch_id=batch_id)


def _recluster_on_driver(ctx: Ctx, rec: StageRecord, run_id: str, threshold: float, clusters_before: DataFrame,
                         new_records: DataFrame, edges: DataFrame, previous_version: int) -> dict[str, int] | None:
    """The increment's re-clustering with the graph on the driver: the batch's records, its pairs at
    the threshold and the records of the persons they touch are collected (each up to
    DRIVER_MAX_ROWS, else None: the caller takes the Spark path), joined by a union-find, given ids
    by the rules of `assign_person_ids` (`assign_person_ids_on_driver`), and the rows go back as two
    small tables: the MERGE into gold.clusters and the run's gold.id_changes slice. Same rows,
    changes and counts as the Spark path."""
    limit = DRIVER_MAX_ROWS
    new_rows = new_records.select("unique_id", "source_dataset", "record_key").limit(limit + 1).collect()
    if len(new_rows) > limit:
        return None
    # The base state must cover every other record, or this run would leave some unclustered.
    # Whole-table counts come from the Delta log's file statistics (no scan).
    n_new = len(new_rows)
    n_prev, n_other = clusters_before.count(), ctx.lake.read(PERSONS.name).count() - n_new
    if n_prev != n_other:
        raise StateError(f"gold.clusters (version {previous_version}) holds {n_prev} records but silver.persons "
                         f"holds {n_other} besides this batch: run a full `padan link` before adding batches")
    pairs = [(r[0], r[1]) for r in edges.limit(limit + 1).collect()]
    if len(pairs) > limit:
        return None
    spark = ctx.spark
    ends = sorted({x for pair in pairs for x in pair if x is not None})
    members: list = []
    if ends:
        # The records of every person one of the pairs' records belongs to: the lake's clusters are
        # read through their narrow columns and probed with the (broadcast) ends, never shuffled.
        ends_df = F.broadcast(spark.createDataFrame([(x,) for x in ends], "unique_id string"))
        touched = clusters_before.join(ends_df, "unique_id", "left_semi").select("person_id").distinct()
        # A lake written before gold.clusters had record_key reads it as NULL: <source>:<key> gives it.
        key = F.coalesce(F.col("record_key"), F.expr("substring(unique_id, length(source_dataset) + 2)"))
        members = (clusters_before.join(F.broadcast(touched), "person_id")
                   .select("unique_id", "person_id", "source_dataset", key.alias("record_key"))
                   .limit(limit + 1).collect())
        if len(members) > limit:
            return None
    previous = {r[0]: r[1] for r in members}
    attrs = {r[0]: (r[1], r[2]) for r in new_rows}
    attrs.update({r[0]: (r[2], r[3]) for r in members})
    # Each touched person is one node-set (a star of edges to its smallest record), the batch's
    # pairs join them; nodes without an edge are their own component.
    anchor: dict[str, str] = {}
    for rid, pid in previous.items():
        anchor[pid] = min(anchor.get(pid, rid), rid)
    labels = union_find_labels(pairs + [(rid, anchor[pid]) for rid, pid in previous.items()])
    components = {rid: labels.get(rid, rid) for rid in attrs}
    ids = assign_person_ids_on_driver(components, previous, run_id)
    size: dict[str, int] = {}
    sources: dict[str, set] = {}
    for rid, pid in ids.assign.items():
        size[pid] = size.get(pid, 0) + 1
        sources.setdefault(pid, set()).add(attrs[rid][0])
    rows = [(rid, pid, attrs[rid][0], attrs[rid][1], size[pid], "p3ke" in sources[pid], "prakerja" in sources[pid],
             float(threshold), run_id) for rid, pid in ids.assign.items()]
    clusters = spark.createDataFrame(rows, "unique_id string, person_id string, source_dataset string, "
                                           "record_key string, cluster_size int, in_p3ke boolean, "
                                           "in_prakerja boolean, threshold double, run_id string")
    m = ctx.lake.merge(clusters, CLUSTERS, ["unique_id"])
    fault_point("increment:after-clusters")
    changes = spark.createDataFrame(ids.changes, "kind string, old_id string, new_id string, records int")
    ctx.lake.overwrite(changes.withColumn("run_id", F.lit(run_id)), ID_CHANGES, replace_where=slice_of(run_id=run_id))
    by_kind: dict[str, int] = {}
    for change in ids.changes:
        by_kind[f"ids_{change[0]}"] = by_kind.get(f"ids_{change[0]}", 0) + 1
    inserted, updated = m.get("numTargetRowsInserted", 0), m.get("numTargetRowsUpdated", 0)
    rec.row_counts.update(new_records=n_new, touched_persons=len(anchor), records_reclustered=inserted + updated,
                          inserted=inserted, updated=updated, persons_reclustered=ids.persons, clustered_on_driver=1,
                          **by_kind)
    return rec.row_counts
