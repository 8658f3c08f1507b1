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

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def mint_ids(components: DataFrame, run_id: str) -> DataFrame:
    """component -> a new person id 'P<run timestamp>-<hash>'."""
    stamp = "".join(ch for ch in run_id.split("-")[0] if ch.isalnum())[:15]
    return components.withColumn(
        "new_id", F.concat(F.lit(f"P{stamp}-"), F.substring(F.sha2(F.concat(F.lit(run_id + "|"), F.col("component")), 256), 1, 16)))


def assign_person_ids(components: DataFrame, previous: DataFrame | None, run_id: str) -> tuple[DataFrame, DataFrame]:
    """components(id, component), previous(unique_id, person_id) ->
    (assignments(unique_id, person_id), changes(kind, old_id, new_id, records))."""
    sizes = components.groupBy("component").agg(F.count("*").alias("records"))
    comp_ids = components.select("component").distinct()
    if previous is None:
        minted = mint_ids(comp_ids, run_id)
        assign = components.join(minted, "component").select(F.col("id").alias("unique_id"), F.col("new_id").alias("person_id"))
        changes = (minted.join(sizes, "component")
                   .select(F.lit("new").alias("kind"), F.lit(None).cast("string").alias("old_id"),
                           F.col("new_id"), F.col("records").cast("int")))
        return assign, changes

    prev = previous.select(F.col("unique_id").alias("id"), F.col("person_id").alias("old_id"))
    held = (components.join(prev, "id").groupBy("component", "old_id").agg(F.count("*").alias("n")))
    # Each old id goes to the component holding most of its records (ties: smallest component).
    w_id = Window.partitionBy("old_id").orderBy(F.desc("n"), F.asc("component"))
    claims = held.withColumn("r", F.row_number().over(w_id)).where("r = 1").drop("r")
    # A component that won several ids is a merge: the oldest survives.
    w_c = Window.partitionBy("component").orderBy(F.asc("old_id"))
    ranked = claims.withColumn("r", F.row_number().over(w_c))
    kept = ranked.where("r = 1").select("component", F.col("old_id").alias("kept_id"))
    merged = (ranked.where("r > 1").join(kept, "component")
              .select(F.lit("merged").alias("kind"), "old_id", F.col("kept_id").alias("new_id"), "component"))

    needs_new = comp_ids.join(kept, "component", "left_anti")
    minted = mint_ids(needs_new, run_id)
    final = kept.select("component", F.col("kept_id").alias("person_id")).unionByName(
        minted.select("component", F.col("new_id").alias("person_id")))
    assign = components.join(final, "component").select(F.col("id").alias("unique_id"), "person_id")

    had_old = held.select("component", "old_id")
    split = (minted.join(had_old, "component")
             .select(F.lit("split").alias("kind"), "old_id", "new_id", "component"))
    new = (minted.join(had_old.select("component").distinct(), "component", "left_anti")
           .select(F.lit("new").alias("kind"), F.lit(None).cast("string").alias("old_id"), "new_id", "component"))
    gone = (prev.select("old_id").distinct().join(held.select("old_id").distinct(), "old_id", "left_anti")
            .select(F.lit("retired").alias("kind"), "old_id", F.lit(None).cast("string").alias("new_id"),
                    F.lit(None).cast("string").alias("component")))
    changes = (new.unionByName(split).unionByName(merged).unionByName(gone)
               .join(sizes, "component", "left")
               .select("kind", "old_id", "new_id", F.coalesce("records", F.lit(0)).cast("int").alias("records")))
    return assign, changes
