"""Stable, opaque person ids across runs.

Rules (an id's string order is its age: it starts with the timestamp of the run that minted it):
- each previous id goes to the component now holding most of its previous members (ties: the
  component with the smallest record id): a cluster that only grew or shrank keeps its id, and when
  a cluster splits, the part holding most of it keeps the id while the other parts get new ids;
- a component that wins several ids is a merge: the oldest id survives, the others are retired
  into it (kind `merged`), whichever held more records;
- a component that wins no id gets a new one (kind `new`, or `split` if its records held an id);
- ids none of whose records remain are retired;
- every change is a row of `gold.id_changes`: new / merged / split / retired.
Ids are minted from the run id and the component's smallest record id through a hash, never from
NIK or names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def mint_id(component, run_id: str):
    """A new person id 'P<run timestamp>-<hash>' for a component column."""
    stamp = "".join(ch for ch in run_id.split("-")[0] if ch.isalnum())[:15]
    return F.concat(F.lit(f"P{stamp}-"), F.substring(F.sha2(F.concat(F.lit(run_id + "|"), component), 256), 1, 16))


@dataclass
class PersonIds:
    """The outcome of `assign_person_ids`: `assign`(unique_id, person_id), `changes`(kind, old_id,
    new_id, records) and `decisions` (one row per component, i.e. per person). The frames they are
    read from are persisted once; call `release()` when done with them."""

    assign: DataFrame
    changes: DataFrame
    decisions: DataFrame
    _held: list[DataFrame] = field(default_factory=list)

    def persons(self) -> int:
        return self.decisions.count()

    def release(self) -> None:
        for df in self._held:
            df.unpersist()


def assign_person_ids(components: DataFrame, previous: DataFrame | None, run_id: str) -> PersonIds:
    """components(id, component), previous(unique_id, person_id) -> PersonIds.

    Every decision is taken once, in a table with one row per component (its size, the previous
    ids its records held, the ids it won, the id it keeps); the assignments are the records joined
    to that table and the changes are read off it, so neither recomputes the other. Pass
    persisted or checkpointed components (connected_components' output is)."""
    if previous is None:
        decisions = (components.groupBy("component").agg(F.count(F.lit(1)).cast("int").alias("records"))
                     .withColumn("person_id", mint_id(F.col("component"), run_id))
                     .persist(StorageLevel.MEMORY_AND_DISK))
        assign = components.select(F.col("id").alias("unique_id"), mint_id(F.col("component"), run_id).alias("person_id"))
        changes = decisions.select(F.lit("new").alias("kind"), F.lit(None).cast("string").alias("old_id"),
                                   F.col("person_id").alias("new_id"), "records")
        return PersonIds(assign, changes, decisions, [decisions])

    prev = previous.select(F.col("unique_id").alias("id"), F.col("person_id").alias("old_id"))
    # One row per record present now or before: (id, component or NULL if gone, old id or NULL if new).
    records = components.select("id", "component").join(prev, "id", "full").persist(StorageLevel.MEMORY_AND_DISK)
    # How many records of each old id each component holds (component NULL: records that are gone,
    # old id NULL: records that held no id).
    held = records.groupBy("component", "old_id").agg(F.count(F.lit(1)).alias("n"))
    # Each old id goes to the component holding most of its records (ties: smallest component);
    # an old id whose only "component" is NULL lost all its records: retired.
    # (Rows without an old id are partitioned by their component, so they do not pile up in one task.)
    by_old = (Window.partitionBy("old_id", F.when(F.col("old_id").isNull(), F.col("component")))
              .orderBy(F.col("component").isNull(), F.desc("n"), F.asc("component")))
    held = held.withColumn("won", F.col("old_id").isNotNull() & (F.row_number().over(by_old) == 1))
    held = held.persist(StorageLevel.MEMORY_AND_DISK)
    decisions = (held.where(F.col("component").isNotNull()).groupBy("component").agg(
        F.sum("n").cast("int").alias("records"),
        F.sort_array(F.collect_list(F.when(F.col("won"), F.col("old_id")))).alias("won_ids"),
        F.sort_array(F.collect_list("old_id")).alias("held_ids"))
        # A component that won several ids is a merge: the oldest (smallest) survives.
        .withColumn("kept_id", F.try_element_at("won_ids", F.lit(1)))
        .withColumn("person_id", F.coalesce("kept_id", mint_id(F.col("component"), run_id)))
        .persist(StorageLevel.MEMORY_AND_DISK))

    assign = (records.where(F.col("component").isNotNull())
              .join(decisions.select("component", "person_id"), "component")
              .select(F.col("id").alias("unique_id"), "person_id"))

    string = F.lit(None).cast("string")
    fresh = decisions.where(F.col("kept_id").isNull())
    new = fresh.where(F.size("held_ids") == 0).select(F.lit("new").alias("kind"), string.alias("old_id"),
                                                      F.col("person_id").alias("new_id"), "records")
    split = fresh.select(F.lit("split").alias("kind"), F.explode("held_ids").alias("old_id"),
                         F.col("person_id").alias("new_id"), "records")
    merged = (decisions.where(F.size("won_ids") > 1)
              .select(F.explode(F.slice("won_ids", 2, 1 << 30)).alias("old_id"), F.col("kept_id").alias("new_id"),
                      "records")
              .select(F.lit("merged").alias("kind"), "old_id", "new_id", "records"))
    retired = (held.where(F.col("component").isNull() & F.col("won"))
               .select(F.lit("retired").alias("kind"), "old_id", string.alias("new_id"), F.lit(0).alias("records")))
    changes = new.unionByName(split).unionByName(merged).unionByName(retired)
    return PersonIds(assign, changes, decisions, [records, held, decisions])
