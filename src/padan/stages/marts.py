"""The marts stage: gold.person_profile, then the overlap and targeting marts of a run."""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan.ledger import StageRecord
from padan.lake import conformed_columns, slice_of
from padan.report.marts import overlap_by_region, person_profile, targeting
from padan.stages.cluster import BROADCAST_ROWS
from padan.stages.plan import newest_succeeded, run_chain
from padan.stages.runner import Ctx, Stage, row_counts, run_stage
from padan.tables import CLUSTERS, ID_CHANGES, OVERLAP_BY_REGION, PERSON_PROFILE, PERSONS, TARGETING, TableSpec

MARTS = Stage("marts", (CLUSTERS.name, PERSONS.name, ID_CHANGES.name),
              (PERSON_PROFILE.name, OVERLAP_BY_REGION.name, TARGETING.name),
              "one row per person, then the overlap ('irisan') and targeting marts of the run")


def run_marts(ctx: Ctx, run_id: str, *, touched_only: bool = False) -> dict[str, int]:
    """gold.person_profile (one row per person), then this run's slice of the overlap and targeting
    marts aggregated from it. A full run rebuilds every profile; an increment (`touched_only`)
    rewrites only the profiles of persons whose records it re-clustered (the gold.clusters rows it
    wrote) and deletes those of ids it merged away, so its profile work follows the batch; the
    marts are then aggregates of the narrow profile table."""

    def body(rec: StageRecord) -> dict[str, int]:
        clusters = ctx.lake.read(CLUSTERS.name)
        persons = ctx.lake.read(PERSONS.name)
        incremental = touched_only and ctx.lake.exists(PERSON_PROFILE.name) and _profile_is_current(ctx, run_id)
        if incremental:
            # The run's gold.clusters rows (run ids are time-ordered strings, so the file statistics
            # on run_id skip every data file this run did not write): on the driver when few (a
            # local table: no persisted query, no count), else persisted; broadcast when few.
            recs = clusters.where(F.col("run_id") == run_id).select("unique_id", "person_id")
            few = recs.limit(BROADCAST_ROWS + 1).collect()
            if len(few) <= BROADCAST_ROWS:
                recs = ctx.spark.createDataFrame(few, "unique_id string, person_id string")
                # (Their records moved into one partition first, so that the profile's window,
                # grouping and join need no shuffle each, took 12 jobs instead of 10: not done.)
                records = persons.join(F.broadcast(recs.select("unique_id")), "unique_id", "left_semi")
            else:
                recs = recs.persist(StorageLevel.MEMORY_AND_DISK)
                records = persons.join(recs.select("unique_id"), "unique_id", "left_semi")
            rows = person_profile(recs, records).withColumn("run_id", F.lit(run_id))
            # Ids this run merged away or retired lose their profile: delete rows of the same MERGE
            # (one commit for upserts and deletes). An old id is merged or retired once per run and is
            # not one of the upserted ids, so each key comes once.
            gone = (ctx.lake.read(ID_CHANGES.name).where((F.col("run_id") == run_id) & F.col("kind").isin("merged", "retired"))
                    .select(F.col("old_id").alias("person_id")).join(recs.select("person_id"), "person_id", "left_anti"))
            source = rows.withColumn("_gone", F.lit(False)).unionByName(gone.withColumn("_gone", F.lit(True)),
                                                                         allowMissingColumns=True)
            m = ctx.lake.merge(source, PERSON_PROFILE, ["person_id"], delete_flag="_gone")
            rec.row_counts.update(profiles_upserted=m.get("numTargetRowsInserted", 0) + m.get("numTargetRowsUpdated", 0),
                                  profiles_deleted=m.get("numTargetRowsDeleted", 0))
            recs.unpersist()
            # Read by the two marts and the totals: cached by the first of them, not scanned three times.
            profile = ctx.lake.read(PERSON_PROFILE.name).drop("run_id").persist(StorageLevel.MEMORY_AND_DISK)
            written = profile
        else:
            # The whole table is replaced by these rows: cached as they are written (in the table's
            # types), the marts and totals read them from memory, not the new table version back
            # from the lake (its snapshot and file listings: 7 Spark jobs at 5k records).
            written = _in_table_types(person_profile(clusters, persons).withColumn("run_id", F.lit(run_id)),
                                      PERSON_PROFILE).persist(StorageLevel.MEMORY_AND_DISK)
            m = ctx.lake.overwrite(written, PERSON_PROFILE)
            rec.row_counts["profiles_written"] = m.get("numOutputRows", 0)
            profile = written.drop("run_id")
        ref = ctx.cfg.marts.reference_date or ctx.run_date
        m1 = ctx.lake.overwrite(overlap_by_region(profile, run_id, suppress_below=ctx.cfg.marts.suppress_below),
                                OVERLAP_BY_REGION, replace_where=slice_of(run_id=run_id))
        m2 = ctx.lake.overwrite(targeting(profile, run_id, desil=ctx.cfg.marts.targeting_desil,
                                          working_age=tuple(ctx.cfg.marts.working_age), reference_date=ref),
                                TARGETING, replace_where=slice_of(run_id=run_id))
        totals = profile.agg(F.count("*").alias("persons"), F.sum(F.col("in_p3ke").cast("long")).alias("p3ke"),
                             F.sum(F.col("in_prakerja").cast("long")).alias("prakerja"),
                             F.sum((F.col("in_p3ke") & F.col("in_prakerja")).cast("long")).alias("both")).first()
        rec.row_counts.update(overlap_rows=m1.get("numOutputRows", 0), targeting_rows=m2.get("numOutputRows", 0),
                              persons=totals["persons"], persons_p3ke=totals["p3ke"] or 0,
                              persons_prakerja=totals["prakerja"] or 0, persons_both=totals["both"] or 0)
        if written is not None:
            written.unpersist()
        return rec.row_counts

    return run_stage(ctx, MARTS, run_id, body, done=row_counts)


def _in_table_types(df: DataFrame, spec: TableSpec) -> DataFrame:
    """`df`'s columns as the table declares them (names, order, types), as the lake writes them."""
    return df.select(conformed_columns(spec))


def _profile_is_current(ctx: Ctx, run_id: str) -> bool:
    """Whether gold.person_profile holds the state this increment builds on: the last run whose
    marts succeeded is in this run's chain (its base full run or an earlier increment). A retry of
    this run redoes the same upserts and deletes, so it ends where a first attempt would."""
    newest = newest_succeeded(ctx, "marts")
    return newest is not None and newest in run_chain(ctx, run_id)
