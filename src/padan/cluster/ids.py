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

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def _stamp(run_id: str) -> str:
    return "".join(ch for ch in run_id.split("-")[0] if ch.isalnum())[:15]


def mint_id(component, run_id: str):
    """A new person id 'P<run timestamp>-<hash>' for a component column."""
    return F.concat(F.lit(f"P{_stamp(run_id)}-"),
                    F.substring(F.sha2(F.concat(F.lit(run_id + "|"), component), 256), 1, 16))


def mint_id_on_driver(component: str, run_id: str) -> str:
    """`mint_id` of one component id, computed in Python (the same SHA-256 of the same UTF-8 text)."""
    return f"P{_stamp(run_id)}-" + hashlib.sha256(f"{run_id}|{component}".encode("utf-8")).hexdigest()[:16]


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


@dataclass
class DriverIds:
    """The outcome of `assign_person_ids_on_driver`: `assign` {record id: person id}, `changes`
    [(kind, old_id, new_id, records)] and `persons` (components, i.e. persons of the result)."""

    assign: dict[str, str]
    changes: list[tuple]
    persons: int


def assign_person_ids_on_driver(components: dict[str, str], previous: dict[str, str], run_id: str) -> DriverIds:
    """`assign_person_ids` for a graph small enough for the driver (an increment's touched persons
    and new records): the same rules, the same decisions, the same minted ids, in plain Python.
    components {record id: component}, previous {record id: person id} (records that held an id).
    tests/test_cluster.py holds both implementations to the same results."""
    held: Counter = Counter()                       # (component or None, old id or None) -> records
    for rid in components.keys() | previous.keys():
        held[(components.get(rid), previous.get(rid))] += 1
    # Each old id goes to the component holding most of its records (ties: smallest component); a
    # component of None (every record of the id gone) only when it has no other.
    best: dict[str, tuple] = {}
    for (comp, old), n in held.items():
        if old is None:
            continue
        key = (comp is None, -n, comp or "")
        if old not in best or key < best[old][0]:
            best[old] = (key, comp)
    won: dict[str, list[str]] = {}
    held_ids: dict[str, list[str]] = {}
    records: Counter = Counter()
    for (comp, old), n in held.items():
        if comp is None:
            continue
        records[comp] += n
        held_ids.setdefault(comp, [])
        won.setdefault(comp, [])
        if old is not None:
            held_ids[comp].append(old)
            if best[old][1] == comp:
                won[comp].append(old)
    person: dict[str, str] = {}
    changes: list[tuple] = []
    for comp in records:
        wins, olds, n = sorted(won[comp]), sorted(held_ids[comp]), records[comp]
        if wins:                                    # a component that won several ids: the oldest survives
            person[comp] = wins[0]
            changes += [("merged", old, wins[0], n) for old in wins[1:]]
        else:
            person[comp] = mint_id_on_driver(comp, run_id)
            changes += [("split", old, person[comp], n) for old in olds] or [("new", None, person[comp], n)]
    changes += [("retired", old, None, 0) for old, (_, comp) in best.items() if comp is None]
    return DriverIds({rid: person[comp] for rid, comp in components.items()}, changes, len(records))
